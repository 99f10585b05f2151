"""PNG files chunk by chunk: their text read under a budget, their metadata removed.

A PNG is a signature and a list of chunks (length, type, data, CRC). Text
chunks (``tEXt``, ``zTXt``, ``iTXt``) and ``eXIf`` are metadata: a viewer
shows none of the pixels from them, but they can carry a web page, a
decompression bomb (``zTXt``) or where a photo was taken.
"""

import struct
import zlib
from collections.abc import Iterator
from typing import IO

from files.content.kinds import PNG
from files.exceptions import FileRejected

TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
METADATA_CHUNKS = TEXT_CHUNKS | {b"eXIf"}

#: Chunks a PNG keeps when stored: what its pixels, colours and animation need. Everything
#: else (text, eXIf, tIME, private chunks) is metadata and dropped.
_KEPT_CHUNKS = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV"}
    | {b"cLLI", b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT"}
)


def png_chunks(stream: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """Yield each chunk's type and data length, ``stream`` positioned at its data.

    Stops after ``IEND`` (``stream`` then positioned after it) or where the file is cut short.
    """
    stream.seek(len(PNG.signature))
    while len(header := stream.read(8)) == 8:
        length, chunk_type = int.from_bytes(header[:4], "big"), header[4:]
        start = stream.tell()
        yield chunk_type, length
        stream.seek(start + length + 4)  # the data and its CRC
        if chunk_type == b"IEND":
            return


def png_metadata_texts(stream: IO[bytes], *, budget: int) -> Iterator[bytes]:
    """Yield the text of every metadata chunk, decompressed, refusing more than ``budget`` bytes in all.

    A chunk's declared length is checked before it is read and compressed
    text is inflated no further than what is left of the budget, so a
    ``zTXt`` bomb costs at most ``budget`` bytes.
    """
    for chunk_type, length in png_chunks(stream):
        if chunk_type not in METADATA_CHUNKS:
            continue
        if length > budget:
            raise _too_much_metadata()
        text = _text_of(chunk_type, stream.read(length), budget)
        budget -= max(len(text), length)
        if budget < 0:
            raise _too_much_metadata()
        yield text


def _text_of(chunk_type: bytes, data: bytes, budget: int) -> bytes:
    """A metadata chunk's text: ``zTXt`` and compressed ``iTXt`` inflated, at most ``budget`` + 1 bytes of it."""
    keyword, _, rest = data.partition(b"\x00")
    if chunk_type == b"zTXt":
        return keyword + b"\x00" + _inflate(rest[1:], budget)
    if chunk_type == b"iTXt" and rest[:1] == b"\x01":
        language, _, rest = rest[2:].partition(b"\x00")
        translated, _, compressed = rest.partition(b"\x00")
        return b"\x00".join((keyword, language, translated, _inflate(compressed, budget)))
    return data


def _inflate(data: bytes, budget: int) -> bytes:
    try:
        text = zlib.decompressobj().decompress(data, budget + 1)
    except zlib.error:
        raise FileRejected("File is not a valid PNG image", code="invalid_file") from None
    if len(text) > budget:
        raise _too_much_metadata()
    return text


def _too_much_metadata() -> FileRejected:
    return FileRejected("Image has more text metadata than the limit allows", code="metadata_too_large")


def png_without_metadata(stream: IO[bytes], *, orientation: bytes | None) -> bytes:
    """The PNG in ``stream`` with only the chunks :data:`_KEPT_CHUNKS` names; pixel data copied as it is.

    ``orientation``, an ``eXIf`` body holding only the Orientation tag, is
    written back so that a photo still shows upright.
    """
    out = bytearray(PNG.signature)
    for chunk_type, length in png_chunks(stream):
        if chunk_type in _KEPT_CHUNKS:
            out += _chunk(chunk_type, stream.read(length))
        if chunk_type == b"IHDR" and orientation:
            out += _chunk(b"eXIf", orientation)
    return bytes(out)


def _chunk(chunk_type: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", zlib.crc32(chunk_type + data))
