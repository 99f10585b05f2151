"""What an upload is, from its bytes: the kinds, the allow-list per category, the image size limit."""

import io
import random
import struct
import tracemalloc
import zipfile
import zlib

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from PIL import Image, ImageFile
from pypdf import PdfReader, PdfWriter
from pypdf.actions import JavaScript

from demo import samples
from files import conf
from files.api import schema
from files.content import pdf
from files.content.detection import DOC, DOCX, JPEG, KINDS, PDF, PNG, Kind, detect_kind
from files.exceptions import FileRejected
from tests.files.pdfs import MiB, Zeros, large_pdf


def upload(content: bytes, name: str = "upload") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def rejection(content: bytes, category: str | None = None) -> FileRejected:
    with pytest.raises(FileRejected) as raised:
        detect_kind(upload(content), category)
    return raised.value


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (samples.png_bytes(), PNG),
        (samples.jpeg_bytes(), JPEG),
        (samples.pdf_bytes(), PDF),
        (samples.doc_bytes(), DOC),
        (samples.docx_bytes(), DOCX),
    ],
)
def test_every_kind_is_detected_from_its_bytes(content, kind):
    assert detect_kind(upload(content)) == kind


def test_a_category_the_setting_does_not_name_accepts_every_kind_of_the_registry(settings):
    settings.FILES_ALLOWED_KINDS = {}

    assert conf.allowed_kinds("report") == tuple(KINDS)


def test_the_kinds_are_listed_in_one_module_only():
    assert not hasattr(conf, "ALL_KINDS")
    assert tuple(kind.media_type for kind in KINDS.values()) == schema._FILE_MEDIA_TYPES


def test_unknown_type_names_every_kind_accepted():
    error = rejection(b"<html><script>alert(1)</script></html>")

    assert error.code == "unsupported_file_type"
    assert error.message == "File type is not supported; upload a PNG, JPEG, PDF, DOC or DOCX file"


@pytest.mark.parametrize(
    ("category", "content", "message"),
    [
        ("profile", samples.pdf_bytes(), "A profile file must be a PNG or JPEG image"),
        ("image", samples.docx_bytes(), "An image file must be a PNG or JPEG image"),
        ("image", samples.doc_bytes(), "An image file must be a PNG or JPEG image"),
        ("profile", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "A profile file must be a PNG or JPEG image"),
        ("document", b"plain text", "A document file must be a PNG, JPEG, PDF, DOC or DOCX file"),
    ],
)
def test_kind_not_allowed_for_the_category_is_refused_naming_what_it_accepts(category, content, message):
    error = rejection(content, category)

    assert (error.code, error.message) == ("unsupported_file_type", message)


@pytest.mark.parametrize(
    ("category", "content", "kind"),
    [
        ("profile", samples.png_bytes(), PNG),
        ("image", samples.jpeg_bytes(), JPEG),
        ("document", samples.pdf_bytes(), PDF),
        ("report", samples.docx_bytes(), DOCX),
        ("scan", samples.png_bytes(), PNG),
    ],
)
def test_kind_allowed_for_the_category_is_detected(category, content, kind):
    assert detect_kind(upload(content), category) == kind


def test_kind_not_allowed_is_refused_before_it_is_parsed():
    # A truncated PDF would be "invalid_file" if it were parsed.
    assert rejection(samples.pdf_bytes()[:-40], "profile").code == "unsupported_file_type"


def test_allowed_kinds_follow_the_setting(settings):
    settings.FILES_ALLOWED_KINDS = {"report": ["pdf"]}

    assert rejection(samples.png_bytes(), "report").message == "A report file must be a PDF file"
    assert detect_kind(upload(samples.pdf_bytes()), "profile") == PDF  # not named: every kind


@pytest.mark.parametrize("kinds", [["gif"], [], "png"])
def test_allowed_kinds_misconfigured_raises_improperly_configured(settings, kinds):
    settings.FILES_ALLOWED_KINDS = {"profile": kinds}

    with pytest.raises(ImproperlyConfigured, match="FILES_ALLOWED_KINDS"):
        detect_kind(upload(samples.png_bytes()), "profile")


def test_image_bomb_is_refused_from_its_header_without_decoding(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    bomb = samples.png_bomb_bytes(100_000, 100_000)
    assert len(bomb) < 1024

    error = rejection(bomb, "image")

    assert error.code == "image_too_large"
    assert error.message == "Image is too large: 100000 x 100000 pixels is more than the limit of 50000000 pixels"


@pytest.mark.parametrize(("make", "kind"), [(samples.png_bytes, PNG), (samples.jpeg_bytes, JPEG)])
def test_image_pixel_limit_follows_the_setting(settings, make, kind):
    content = make(64, 48)

    settings.FILES_MAX_IMAGE_PIXELS = 64 * 48
    assert detect_kind(upload(content), "image") == kind
    settings.FILES_MAX_IMAGE_PIXELS = 64 * 48 - 1
    assert rejection(content, "image").code == "image_too_large"


def test_image_pixel_limit_is_the_setting_not_pillows_global(settings):
    pillows_limit = Image.MAX_IMAGE_PIXELS
    settings.FILES_MAX_IMAGE_PIXELS = 10**10  # above what Pillow's Image.open lets through

    assert detect_kind(upload(samples.png_bomb_bytes(100_000, 100_000)), "image") == PNG
    assert pillows_limit == Image.MAX_IMAGE_PIXELS  # read, never set


# Polyglots: valid as the kind they claim, and something else besides.

SEEDED = random.Random(0)  # noqa: S311 (test data, the same each run; nothing secret)
PAGE = b"<html><body><script>fetch('/api/patients/')</script></body></html>"


def _zip_archive() -> bytes:
    """A ZIP archive whose comment ends like a PDF, so that a PDF it is appended to still ends in %%EOF."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("payload.bin", SEEDED.randbytes(2000))
        zipped.comment = b"\n%%EOF\n"
    return archive.getvalue()


def _noisy(image_format: str) -> bytes:
    """An image of seeded noise: several kilobytes, so what is appended lies past its first kilobyte."""
    image = Image.frombytes("RGB", (48, 48), SEEDED.randbytes(48 * 48 * 3))
    out = io.BytesIO()
    image.save(out, image_format)
    return out.getvalue()


PNG_BYTES, JPEG_BYTES = _noisy("PNG"), _noisy("JPEG")
PDF_BYTES = samples.pdf_bytes("Discharge summary " * 80)


def _png_with_chunk(chunk_type: bytes, data: bytes, png: bytes | None = None) -> bytes:
    """``png`` (a small one by default) with a chunk inserted right before IEND, the image still valid."""
    png = png or samples.png_bytes()
    chunk = chunk_type + data
    return png[:-12] + struct.pack(">I", len(data)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[-12:]


def _png_with_text_chunk(text: bytes) -> bytes:
    """A PNG with a tEXt chunk right after IHDR: markup within its first kilobyte, the image still valid."""
    png = samples.png_bytes()
    chunk = b"tEXt" + b"Comment\x00" + text
    text_chunk = struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return png[:ihdr_end] + text_chunk + png[ihdr_end:]


def _ztxt(text: bytes) -> bytes:
    return b"Comment\x00\x00" + zlib.compress(text, 9)


def _itxt(text: bytes) -> bytes:
    """A compressed iTXt chunk's data: keyword, compression flag and method, language, translated keyword."""
    return b"Description\x00\x01\x00en\x00\x00" + zlib.compress(text, 9)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (PNG_BYTES + PAGE, "File is a PNG image with data after its end hidden in it"),
        (PNG_BYTES + b"\x00", "File is a PNG image with data after its end hidden in it"),
        (PNG_BYTES + _zip_archive(), "File is a PNG image with an archive hidden in it"),
        (_png_with_text_chunk(PAGE), "File is a PNG image with a web page or script hidden in it"),
        (JPEG_BYTES + PAGE, "File is a JPEG image with a web page or script hidden in it"),
        (JPEG_BYTES + _zip_archive(), "File is a JPEG image with an archive hidden in it"),
        (PDF_BYTES + _zip_archive(), "File is a PDF document with an archive hidden in it"),
        (
            b"%PDF-1.4\n" + PAGE + samples.pdf_bytes()[9:],
            "File is a PDF document with a web page or script hidden in it",
        ),
    ],
    ids=["png+html", "png+byte", "png+zip", "png-text-chunk-html", "jpeg+html", "jpeg+zip", "pdf+zip", "pdf-html-head"],
)
def test_polyglot_is_refused(content, message):
    error = rejection(content)

    assert (error.code, error.message) == ("polyglot_file", message)


def _jpeg_with_comment(comment: bytes) -> bytes:
    """A JPEG with a COM segment right after its start: markup in its first kilobyte, the image still valid."""
    jpeg = samples.jpeg_bytes()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + jpeg[2:]


def _docx_with_stored_part(name: str, content: bytes) -> bytes:
    """A Word document whose first member, stored uncompressed, is ``content``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(samples.docx_bytes())) as source, zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, content)
        for item in source.infolist():
            archive.writestr(item, source.read(item))
    return out.getvalue()


MARKUP_UP_FRONT = {
    "pdf-script-in-text": samples.pdf_bytes("<script>alert(1)</script>"),
    "pdf-svg-in-text": samples.pdf_bytes("<SVG onload=alert(1)>"),
    "pdf-iframe-in-text": samples.pdf_bytes("<iframe src=//evil>"),
    "jpeg-comment-script": _jpeg_with_comment(b"<ScRiPt>alert(1)</script>"),
    "jpeg-comment-xml-svg": _jpeg_with_comment(b'<?xml version="1.0"?><svg onload="alert(1)"/>'),
    "jpeg-comment-body": _jpeg_with_comment(b"<body onload=alert(1)>"),
    "png-text-head": _png_with_text_chunk(b"<head><meta http-equiv=refresh content=0;url=//evil>"),
    "png-text-xhtml": _png_with_text_chunk(b'<x:script xmlns:x="http://www.w3.org/1999/xhtml">'),
    "docx-stored-html": _docx_with_stored_part("page.html", b"<!DOCTYPE html><script>alert(1)</script>"),
}


@pytest.mark.parametrize("content", MARKUP_UP_FRONT.values(), ids=MARKUP_UP_FRONT.keys())
def test_markup_anywhere_in_the_first_kilobyte_of_any_kind_is_refused(content):
    assert rejection(content).code == "polyglot_file"


@pytest.mark.parametrize(
    "chunk",
    [
        (b"zTXt", _ztxt(PAGE)),
        (b"iTXt", _itxt(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>")),
        (b"tEXt", b"Comment\x00" + PAGE),
    ],
    ids=["ztxt-compressed-page", "itxt-compressed-svg", "text-past-the-first-kilobyte"],
)
def test_png_with_markup_in_a_text_chunk_anywhere_is_refused(chunk):
    content = _png_with_chunk(*chunk, png=PNG_BYTES)
    assert PAGE not in content[:1024] and b"<svg" not in content[:1024]

    error = rejection(content)

    assert (error.code, error.message) == (
        "polyglot_file",
        "File is a PNG image with a web page or script hidden in it",
    )


def _after_ihdr(chunk_type: bytes, data: bytes) -> bytes:
    """A small PNG with a chunk right after IHDR, before the image data (where Pillow reads it on opening)."""
    png, chunk = samples.png_bytes(), chunk_type + data
    return png[:33] + struct.pack(">I", len(data)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


@pytest.mark.parametrize("place", ["before IEND", "after IHDR"])
def test_png_text_chunk_bomb_is_refused_without_inflating_it(settings, place):
    chunk = (b"zTXt", _ztxt(b"a" * 50_000_000))
    bomb = _png_with_chunk(*chunk) if place == "before IEND" else _after_ihdr(*chunk)
    assert len(bomb) < 100_000

    error = rejection(bomb)

    assert (error.code, error.message) == ("metadata_too_large", "Image has more text metadata than the limit allows")


def test_png_text_limit_follows_the_setting(settings):
    content = _png_with_chunk(b"iTXt", _itxt(b"x" * 5000))

    settings.FILES_MAX_IMAGE_TEXT_SIZE = 6000
    assert detect_kind(upload(content)) is PNG
    settings.FILES_MAX_IMAGE_TEXT_SIZE = 4000
    assert rejection(content).code == "metadata_too_large"


def test_png_with_a_huge_text_chunk_is_refused():
    assert rejection(_png_with_chunk(b"tEXt", b"Comment\x00" + b"x" * 300_000)).code == "metadata_too_large"


def test_png_with_harmless_compressed_text_is_accepted():
    assert detect_kind(upload(_png_with_chunk(b"zTXt", _ztxt(b"Scanned at reception, 3 pages")))) is PNG


def test_jpeg_with_a_trailer_that_is_not_markup_is_accepted():
    # Phones append depth maps and previews after the image's end marker.
    assert detect_kind(upload(JPEG_BYTES + JPEG_BYTES)) is JPEG


def test_png_with_a_harmless_text_chunk_is_accepted():
    assert detect_kind(upload(_png_with_text_chunk(b"Scanned at reception"))) is PNG


# Word documents: judged by their package's content types and relationships, and unpacked under limits.

RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _docx(parts: dict[str, bytes | str]) -> bytes:
    """The sample Word document with ``parts`` (by name) added or replaced."""
    parts = dict(parts)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(samples.docx_bytes())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for item in source.infolist():
            archive.writestr(item.filename, parts.pop(item.filename, None) or source.read(item))
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def _zip(members: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _content_types(*overrides: tuple[str, str]) -> str:
    """The sample's [Content_Types].xml with (part name, content type) overrides added."""
    with zipfile.ZipFile(io.BytesIO(samples.docx_bytes())) as archive:
        types = archive.read("[Content_Types].xml").decode()
    added = "".join(f'<Override PartName="{part}" ContentType="{content_type}"/>' for part, content_type in overrides)
    return types.replace("</Types>", f"{added}</Types>")


def _rels(*relationships: tuple[str, str, str]) -> str:
    """A .rels part with (type, target, target mode) relationships."""
    items = "".join(
        f'<Relationship Id="rId{number}" Type="{kind}" Target="{target}"{mode and f" TargetMode={mode!r}"}/>'
        for number, (kind, target, mode) in enumerate(relationships, start=1)
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELS}">{items}</Relationships>'


VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
DOCUMENT_RELS, SETTINGS_RELS = "word/_rels/document.xml.rels", "word/_rels/settings.xml.rels"
HOSTILE_DOCX = {
    "vba-content-type-under-another-name": (
        {
            "[Content_Types].xml": _content_types(("/word/notes.bin", "application/vnd.ms-office.vbaProject")),
            "word/notes.bin": b"\0" * 64,
        },
        "macro_document",
    ),
    "vba-relationship-under-another-name": (
        {DOCUMENT_RELS: _rels((VBA, "notes.bin", "")), "word/notes.bin": b"\0" * 64},
        "macro_document",
    ),
    "macro-enabled-main-part": (
        {
            "[Content_Types].xml": _content_types(
                ("/word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml")
            )
        },
        "macro_document",
    ),
    "attached-macro-template": (
        {SETTINGS_RELS: _rels((f"{OFFICE_RELS}/attachedTemplate", "template.dotm", ""))},
        "macro_document",
    ),
    "activex-content-type": (
        {
            "[Content_Types].xml": _content_types(
                ("/word/activeX/activeX1.xml", "application/vnd.ms-office.activeX+xml")
            )
        },
        "active_content",
    ),
    "ole-object-relationship": (
        {DOCUMENT_RELS: _rels((f"{OFFICE_RELS}/oleObject", "embeddings/oleObject1.bin", ""))},
        "active_content",
    ),
    "remote-template": (
        {SETTINGS_RELS: _rels((f"{OFFICE_RELS}/attachedTemplate", "https://evil.example/t.dotx", "External"))},
        "external_reference",
    ),
    "remote-image": (
        {DOCUMENT_RELS: _rels((f"{OFFICE_RELS}/image", "file://evil.example/share/x.png", "External"))},
        "external_reference",
    ),
    "remote-template-in-an-upper-case-rels-part": (
        {
            "word/_rels/settings.xml.RELS": _rels(
                (f"{OFFICE_RELS}/attachedTemplate", "https://evil.example/t.dotx", "External")
            )
        },
        "external_reference",
    ),
    "embedded-workbook-with-macros": (
        {
            DOCUMENT_RELS: _rels((f"{OFFICE_RELS}/package", "embeddings/Sheet1.xlsx", "")),
            "word/embeddings/Sheet1.xlsx": _zip({"xl/vbaProject.bin": b"\0" * 64, "xl/workbook.xml": "<workbook/>"}),
        },
        "macro_document",
    ),
    "workbook-embedded-three-deep": (
        {"word/embeddings/a.xlsx": _zip({"b.xlsx": _zip({"c.xlsx": _zip({"d.xml": "<d/>"})})})},
        "active_content",
    ),
    "entity-expansion": (
        {"[Content_Types].xml": '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaa">]><Types>&a;</Types>'},
        "invalid_file",
    ),
}


@pytest.mark.parametrize(("parts", "code"), HOSTILE_DOCX.values(), ids=HOSTILE_DOCX.keys())
def test_word_document_that_runs_code_or_reaches_out_is_refused(parts, code):
    assert rejection(_docx(parts)).code == code


def test_word_document_with_a_hyperlink_is_accepted():
    # A hyperlink is followed only when the reader clicks it, never when the document opens.
    hyperlink = (f"{OFFICE_RELS}/hyperlink", "https://clinic.example/", "External")

    assert detect_kind(upload(_docx({DOCUMENT_RELS: _rels(hyperlink)}))) is DOCX


def test_word_document_with_an_embedded_workbook_without_macros_is_accepted():
    # A chart's data is a workbook package inside the letter: checked as a package, and clean.
    chart_data = {
        DOCUMENT_RELS: _rels((f"{OFFICE_RELS}/package", "embeddings/Sheet1.xlsx", "")),
        "word/embeddings/Sheet1.xlsx": _zip({"xl/workbook.xml": "<workbook/>"}),
    }

    assert detect_kind(upload(_docx(chart_data))) is DOCX


def test_zip_bomb_part_is_refused_by_its_compression_ratio():
    bomb = _docx({"word/media/image1.png": bytes(20 * 1024 * 1024)})
    assert len(bomb) < 100_000

    error = rejection(bomb)

    assert (error.code, error.message) == (
        "archive_bomb",
        "Archive is too large once unpacked: a part compressed more than 100 times",
    )


def _understating(archive: bytes, name: bytes, declared: int) -> bytes:
    """``archive`` with ``name``'s uncompressed size written as ``declared`` in its local and central headers."""
    patched = bytearray(archive)
    for signature, name_at, size_at in ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)):
        start = patched.index(signature)
        while patched[start + name_at : start + name_at + len(name)] != name:
            start = patched.index(signature, start + 4)
        patched[start + size_at : start + size_at + 4] = declared.to_bytes(4, "little")
    return bytes(patched)


def test_zip_part_whose_headers_understate_its_size_is_refused_after_reading_only_that_much():
    archive = _docx({"word/media/big.bin": bytes(5 * 1024 * 1024)})

    assert rejection(_understating(archive, b"word/media/big.bin", 100)).code == "invalid_file"


@pytest.mark.parametrize(
    ("setting", "value", "parts"),
    [
        ("FILES_MAX_ARCHIVE_SIZE", 50_000, {"word/media/image1.png": SEEDED.randbytes(60_000)}),
        ("FILES_MAX_ARCHIVE_MEMBERS", 5, {f"word/media/image{n}.png": b"x" for n in range(3)}),
        ("FILES_MAX_COMPRESSION_RATIO", 1, {"word/media/image1.png": SEEDED.randbytes(600_000).hex()}),
    ],
    ids=["total-size", "members", "ratio"],
)
def test_archive_limits_follow_the_settings(settings, setting, value, parts):
    content = _docx(parts)
    assert detect_kind(upload(content)) is DOCX
    setattr(settings, setting, value)

    assert rejection(content).code == "archive_bomb"


# PDFs: read object by object (object streams too) for content that runs or opens by itself.


def _pdf_with_object_stream(catalog: bytes) -> bytes:
    """A PDF whose catalog lies in a compressed object stream, listed by a cross-reference stream.

    A byte grep sees none of the catalog's names; a PDF reader does.
    """
    body = b"2 0 << /Type /Catalog /Pages 3 0 R " + catalog + b" >>"
    first = body.index(b"<<")
    stream = zlib.compress(body)
    out = bytearray(b"%PDF-1.5\n")
    offsets = {1: len(out)}
    out += b"1 0 obj\n<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
        first,
        len(stream),
    )
    out += stream + b"\nendstream\nendobj\n"
    offsets[3] = len(out)
    out += b"3 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    offsets[4] = len(out)
    rows = b"\x00\x00\x00\x00\x00\xff\xff"
    rows += b"\x01" + struct.pack(">IH", offsets[1], 0)
    rows += b"\x02" + struct.pack(">IH", 1, 0)
    rows += b"\x01" + struct.pack(">IH", offsets[3], 0)
    rows += b"\x01" + struct.pack(">IH", offsets[4], 0)
    out += b"4 0 obj\n<< /Type /XRef /Size 5 /Root 2 0 R /W [1 4 2] /Length %d >>\nstream\n" % len(rows)
    out += rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[4]
    return bytes(out)


def _written(build) -> bytes:
    """A PDF made by pypdf's writer from the sample, after ``build(writer)``."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(samples.pdf_bytes())))
    build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


JAVASCRIPT = b"<< /S /JavaScript /JS (app.alert(1)) >>"
ACTIVE_PDFS = {
    "open-action-javascript-in-object-stream": _pdf_with_object_stream(b"/OpenAction " + JAVASCRIPT),
    "names-javascript-in-object-stream": _pdf_with_object_stream(b"/Names << /JavaScript << /Names [(a) 9 0 R] >> >>"),
    "open-action-javascript": _written(lambda writer: writer.add_open_action(JavaScript("app.alert(1);"))),
    "embedded-file": _written(lambda writer: writer.add_attachment("invoice.exe", b"MZ\x90\x00")),
    "open-action-launch": samples.pdf_bytes(catalog=b"/OpenAction << /S /Launch /F (cmd.exe) >> "),
    "open-action-uri": samples.pdf_bytes(catalog=b"/OpenAction << /S /URI /URI (https://evil.example/) >> "),
    "additional-actions": samples.pdf_bytes(catalog=b"/AA << /WC " + JAVASCRIPT + b" >> "),
    "hex-escaped-javascript": samples.pdf_bytes(catalog=b"/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >> "),
    "xfa-form": samples.pdf_bytes(catalog=b"/AcroForm << /Fields [] /XFA [] >> "),
    "rich-media": samples.pdf_bytes(catalog=b"/Extra << /Type /RichMedia >> "),
}


@pytest.mark.parametrize("content", ACTIVE_PDFS.values(), ids=ACTIVE_PDFS.keys())
def test_pdf_with_active_content_is_refused(content):
    error = rejection(content)

    assert (error.code, error.message) == (
        "active_content",
        "PDF documents with scripts, actions run on opening or embedded files are not accepted",
    )


def test_pdf_javascript_in_an_object_stream_is_invisible_to_a_byte_grep():
    assert b"JavaScript" not in ACTIVE_PDFS["open-action-javascript-in-object-stream"]


@pytest.mark.parametrize(
    "content",
    [
        samples.pdf_bytes(catalog=b"/OpenAction [3 0 R /Fit] "),
        samples.pdf_bytes(catalog=b"/OpenAction << /S /GoTo /D [3 0 R /Fit] >> "),
        _pdf_with_object_stream(b"/PageMode /UseOutlines"),
        _written(lambda writer: writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")),
    ],
    ids=["open-at-a-page", "go-to-a-page", "object-stream", "encrypted-without-a-password"],
)
def test_pdf_without_active_content_is_accepted(content):
    assert detect_kind(upload(content)) is PDF


def test_pdf_that_needs_a_password_is_refused_as_unreadable():
    content = _written(lambda writer: writer.encrypt(user_password="secret", algorithm="AES-128"))

    assert rejection(content).code == "invalid_file"


def test_pdf_a_reader_cannot_parse_is_refused_as_invalid():
    assert rejection(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R\nstartxref\n9\n%%EOF\n").code == "invalid_file"


def test_pdf_over_the_object_limit_is_refused_as_too_complex(settings):
    settings.FILES_MAX_PDF_OBJECTS = 4

    error = rejection(samples.pdf_bytes())

    assert (error.code, error.message) == (
        "pdf_too_complex",
        "PDF document is too complex to check: more than 4 objects",
    )


# The raw bytes are searched a chunk at a time: a name cut by a chunk's end is found whole, and only whole.


RAW_NAME_SPELLINGS = {"plain": b"/JavaScript", "escaped": b"/J#61va#53cript"}


@pytest.mark.parametrize("spelling", RAW_NAME_SPELLINGS.values(), ids=RAW_NAME_SPELLINGS.keys())
def test_pdf_name_cut_by_a_chunk_boundary_anywhere_is_found(monkeypatch, spelling):
    # In a page's text, which a PDF reader does not parse: only the search of the raw bytes sees it.
    content = samples.pdf_bytes(f"Run {spelling.decode()} now")
    start = content.index(spelling)

    for chunk_size in [1, 2, 3, *(start + cut for cut in range(len(spelling) + 1))]:
        monkeypatch.setattr(pdf, "CHUNK_SIZE", chunk_size)

        assert rejection(content).code == "active_content", f"chunks of {chunk_size} bytes"


@pytest.mark.parametrize("spelling", [b"/JavaScriptPlayer", b"/JavaScript#50layer"], ids=["plain", "escaped"])
def test_pdf_longer_name_cut_by_a_chunk_boundary_is_not_taken_for_a_raw_one(monkeypatch, spelling):
    content = samples.pdf_bytes(f"Open {spelling.decode()} now")
    start = content.index(spelling)

    for chunk_size in [1, 2, 3, *(start + cut for cut in range(len(spelling) + 1))]:
        monkeypatch.setattr(pdf, "CHUNK_SIZE", chunk_size)

        assert detect_kind(upload(content)) is PDF, f"chunks of {chunk_size} bytes"


# A large PDF is checked holding little of it in memory: its raw bytes a chunk at a time, its long streams'
# data passed over (object streams read whole: they hold objects).

CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"
LONG = Zeros(24 * MiB)
LONG_BY_REFERENCE = Zeros(24 * MiB, declared=b"7 0 R")
WRONG_LENGTH = b"<< /Length 500000 >>\nstream\n" + b"x" * 512 * 1024 + b"\nendstream"
#: Makes an object stream too long to be passed over, were it not read whole: random hexadecimal digits compress
#: to half (random bytes would not compress, and zlib would store the objects before them as they are).
PADDING = random.Random(5).randbytes(100_000).hex().encode()  # noqa: S311
LARGE_PDFS = {
    "long-streams": ({1: CATALOG, 2: PAGES, 3: PAGE, 4: LONG, 5: LONG, 6: LONG}, {}, PDF),
    "lengths-by-reference": (
        {1: CATALOG, 2: PAGES, 3: PAGE, 4: LONG_BY_REFERENCE, 5: LONG_BY_REFERENCE, 6: LONG_BY_REFERENCE}
        | {7: b"%d" % LONG.length},
        {},
        PDF,
    ),
    "catalog-and-lengths-in-an-object-stream": (
        {3: PAGE, 4: LONG_BY_REFERENCE, 5: LONG_BY_REFERENCE, 6: LONG_BY_REFERENCE},
        {1: CATALOG, 2: PAGES, 7: b"%d" % LONG.length},
        PDF,
        PADDING,
    ),
    # Each read whole, for pypdf to find where it ends, then dropped. (Their data is no white space: pypdf would skip
    # zeros one by one.)
    "wrong-lengths": (
        {1: CATALOG, 2: PAGES, 3: PAGE, 4: LONG, 5: LONG, 6: LONG} | dict.fromkeys(range(7, 15), WRONG_LENGTH),
        {},
        PDF,
    ),
    "javascript-after-long-streams": (
        {1: CATALOG, 2: PAGES, 3: PAGE, 4: LONG, 5: LONG, 6: LONG, 7: JAVASCRIPT},
        {},
        "active_content",
    ),
    "javascript-in-an-object-stream": (
        {3: PAGE, 4: LONG, 5: LONG, 6: LONG},
        {1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 8 0 R >>", 2: PAGES, 8: JAVASCRIPT},
        "active_content",
    ),
    "javascript-in-a-long-object-stream": (
        {3: PAGE, 4: LONG, 5: LONG, 6: LONG},
        {1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 8 0 R >>", 2: PAGES, 8: JAVASCRIPT},
        "active_content",
        PADDING,
    ),
    "open-action-to-an-object-stream": (
        {3: PAGE, 4: LONG, 5: LONG, 6: LONG, 1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 8 0 R >>"},
        {2: PAGES, 8: b"<< /S /URI /URI (https://evil.example/) >>"},
        "active_content",
    ),
}


@pytest.mark.parametrize("layout", LARGE_PDFS.values(), ids=LARGE_PDFS.keys())
def test_large_pdf_is_checked_holding_little_of_it_in_memory(tmp_path, layout):
    objects, compressed, outcome, *padding = layout
    path = large_pdf(tmp_path / "large.pdf", objects, compressed=compressed, padding=b"".join(padding))

    with open(path, "rb") as handle:
        tracemalloc.start()
        try:
            result = _kind_or_refusal(UploadedFile(handle, "large.pdf", size=path.stat().st_size))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert result == outcome
    assert path.stat().st_size > 72 * MiB
    assert peak < 4 * MiB


def test_large_pdf_object_stream_hides_its_javascript_from_a_byte_grep(tmp_path):
    objects, compressed, _, padding = LARGE_PDFS["javascript-in-a-long-object-stream"]

    content = large_pdf(tmp_path / "large.pdf", objects, compressed=compressed, padding=padding).read_bytes()

    assert b"JavaScript" not in content
    assert len(content.split(b"/Type /ObjStm")[1].split(b"endstream")[0]) > 64 * 1024  # not passed over if not read


def _kind_or_refusal(content: UploadedFile) -> Kind | str:
    try:
        return detect_kind(content)
    except FileRejected as error:
        return error.code
