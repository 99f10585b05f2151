"""The benchmark's files: real PDFs (the project accepts only what reads as one) of exact sizes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .common import MIB

# Bytes the upload checks read as markup, a hidden archive or a PDF name: random data of 64 MiB would hold
# "PK\x03\x04" or "<script" by chance, so those three bytes are replaced by "x" (the data stays incompressible).
_SAFE = bytes.maketrans(b"<P/", b"xxx")


# pypdf (the upload check) refuses a stream declared longer than about 75 MB: the filler is cut in pieces.
_PIECE = 16 * MIB


def make_pdf(path: Path, size: int, *, sparse: bool = False) -> str:
    """Write a valid PDF of exactly ``size`` bytes (one page, streams of filler); return its SHA-256.

    The filler is random bytes, so no compression or deduplication helps
    anyone; ``sparse`` makes it zeros without disk blocks (the 1 GiB file,
    whose bytes only have to travel).
    """
    head = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    head += b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
    head += b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\n"
    lengths = [_PIECE] * (size // _PIECE) + [size % _PIECE]
    for _ in range(4):  # the digits of the lengths and offsets depend on the filler: settle them
        layout = _layout(head, lengths)
        lengths[-1] += size - layout[-1]
        if lengths[-1] < 0:
            lengths[-2] += lengths.pop()
    *parts, total = _layout(head, lengths)
    if total != size:
        raise RuntimeError(f"could not lay out a PDF of {size} bytes")
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for text, filler in parts:
            handle.write(text)
            digest.update(text)
            _fill(handle, digest, filler, sparse=sparse)
    return digest.hexdigest()


def _layout(head: bytes, lengths: list[int]) -> list:
    """[(text, filler bytes after it)...] and the file's total size, for streams of ``lengths``."""
    offsets = [head.index(b"%d 0 obj" % number) for number in (1, 2, 3)]
    parts, position, text = [], 0, head
    for number, length in enumerate(lengths, start=4):
        offsets.append(position + len(text))
        text += b"%d 0 obj\n<< /Length %d >>\nstream\n" % (number, length)
        parts.append((text, length))
        position += len(text) + length
        text = b"\nendstream\nendobj\n"
    xref_at, count = position + len(text), len(offsets) + 1
    rows = b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    text += b"xref\n0 %d\n0000000000 65535 f \n%strailer\n<< /Size %d /Root 1 0 R >>\n" % (count, rows, count)
    text += b"startxref\n%d\n%%%%EOF\n" % xref_at
    parts.append((text, 0))
    return [*parts, position + len(text)]


def _fill(handle, digest, size: int, *, sparse: bool) -> None:
    if sparse:
        handle.truncate(handle.tell() + size)
        handle.seek(0, os.SEEK_END)
        zeros = bytes(MIB)
        for _ in range(size // MIB):
            digest.update(zeros)
        digest.update(bytes(size % MIB))
        return
    while size:
        chunk = os.urandom(min(MIB, size)).translate(_SAFE)
        handle.write(chunk)
        digest.update(chunk)
        size -= len(chunk)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()
