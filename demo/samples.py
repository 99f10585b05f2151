"""Small, real documents of every accepted kind, made in memory.

Used by ``seed_demo`` and by the tests, so both exercise the same checks a
clinic's uploads go through.
"""

import io
import struct
import zipfile
import zlib

from PIL import Image, ImageDraw


def png_bytes(width: int = 64, height: int = 64, color: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    return _image_bytes("PNG", width, height, color)


def jpeg_bytes(width: int = 64, height: int = 64, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    return _image_bytes("JPEG", width, height, color)


def pdf_bytes(text: str = "Lab report", *, catalog: bytes = b"") -> bytes:
    """A one-page PDF showing ``text`` (ASCII), with a correct cross-reference table.

    ``catalog`` adds entries to its catalog (tests make hostile PDFs with it).
    """
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 18 Tf 72 720 Td ({safe}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R %s>>" % catalog,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def docx_bytes(text: str = "Referral letter", *, with_macros: bool = False) -> bytes:
    """A minimal Word 2007+ document; ``with_macros`` adds a VBA project part."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        )
        archive.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>",
        )
        if with_macros:
            archive.writestr("word/vbaProject.bin", b"\x00" * 16)
    return buffer.getvalue()


def doc_bytes(*, stream_name: str = "WordDocument") -> bytes:
    """A minimal Word 97-2003 file: an OLE compound file holding one 4 KiB stream.

    The layout is the smallest the format allows without a mini stream: a
    header, one FAT sector, one directory sector and eight data sectors.
    """
    sector, data_sectors = 512, 8
    free, end, fat_sector, no_stream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x00" * 16, 0x3E, 3, 0xFFFE, 9, 6, b"\x00" * 6,
        0, 1, 1, 0, 0x1000, end, 0, end, 0,
    )  # fmt: skip
    header += struct.pack("<109I", 0, *[free] * 108)
    fat = [fat_sector, end, *range(3, 2 + data_sectors), end]
    fat_bytes = struct.pack(f"<{sector // 4}I", *fat, *[free] * (sector // 4 - len(fat)))

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\x00").encode("utf-16-le") if name else b""
        return struct.pack(
            "<64sHBBIII16sIQQIQ",
            encoded, len(encoded), kind, 1, no_stream, no_stream, child, b"\x00" * 16, 0, 0, 0, start, size,
        )  # fmt: skip

    directory = (
        entry("Root Entry", 5, 1, end, 0)
        + entry(stream_name, 2, no_stream, 2, sector * data_sectors)
        + entry("", 0, no_stream, 0, 0) * 2
    )
    word_stream = struct.pack("<H", 0xA5EC).ljust(sector * data_sectors, b"\x00")
    return header + fat_bytes + directory + word_stream


def png_bomb_bytes(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG declaring ``width`` x ``height`` grey pixels in a body of a few hundred bytes: a decompression bomb.

    Written chunk by chunk (Pillow will not make an image that size): its
    chunks and checksums are valid, its pixel data holds a single row of zeros.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    row = b"\x00" * (1 + width)  # filter byte, then the row's pixels
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row, 9)) + chunk(b"IEND", b"")


def _image_bytes(image_format: str, width: int, height: int, color: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(image).rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill="white")
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()
