"""Large PDFs written to disk without taking its space: streams of zero bytes left as holes in a sparse file."""

import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

MiB = 1024 * 1024


class Zeros(NamedTuple):
    """A stream of ``length`` zero bytes whose dictionary says ``/Length declared`` (``length`` if not given)."""

    length: int
    declared: bytes | None = None


def large_pdf(
    path: Path,
    objects: dict[int, bytes | Zeros],
    *,
    compressed: dict[int, bytes] | None = None,
    padding: bytes = b"",
) -> Path:
    """Write at ``path`` a PDF of ``objects`` (text, or a stream of zeros) whose catalog is 1, and return ``path``.

    A cross-reference stream lists them. ``compressed`` objects are kept in
    one object stream, after the others: their names are invisible to a
    byte search. ``padding`` follows them in it, bytes no object is read
    from. Numbers left out are free.
    """
    compressed = compressed or {}
    offsets, places = {}, {}
    with open(path, "wb") as out:
        out.write(b"%PDF-1.5\n")
        for number, value in objects.items():
            offsets[number] = out.tell()
            if isinstance(value, Zeros):
                declared = value.declared or b"%d" % value.length
                out.write(b"%d 0 obj\n<< /Length %s >>\nstream\n" % (number, declared))
                out.seek(value.length, os.SEEK_CUR)  # a hole: zeros that take no disk blocks
                out.write(b"\nendstream\nendobj\n")
            else:
                out.write(b"%d 0 obj\n%s\nendobj\n" % (number, value))
        size = max([*objects, *compressed]) + 1
        if compressed:
            stream_number, size = size, size + 1
            header = b" ".join(b"%d %d" % (number, position) for number, position in _positions(compressed)) + b" "
            data = zlib.compress(header + b"".join(body + b"\n" for body in compressed.values()) + padding)
            offsets[stream_number] = out.tell()
            out.write(
                b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
                % (stream_number, len(compressed), len(header), len(data))
            )
            out.write(data + b"\nendstream\nendobj\n")
            places = {number: (stream_number, index) for index, number in enumerate(compressed)}
        xref_number, size = size, size + 1
        offsets[xref_number] = out.tell()
        rows = b"".join(_row(number, offsets, places) for number in range(size))
        out.write(
            b"%d 0 obj\n<< /Type /XRef /Size %d /Root 1 0 R /W [1 4 2] /Length %d >>\nstream\n"
            % (xref_number, size, len(rows))
        )
        out.write(rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[xref_number])
    return path


def _positions(compressed: dict[int, bytes]) -> list[tuple[int, int]]:
    """Each compressed object's number and where its text starts after the object stream's header."""
    positions, position = [], 0
    for number, body in compressed.items():
        positions.append((number, position))
        position += len(body) + 1
    return positions


def _row(number: int, offsets: dict[int, int], places: dict[int, tuple[int, int]]) -> bytes:
    if number in offsets:
        return b"\x01" + struct.pack(">IH", offsets[number], 0)
    if number in places:
        return b"\x02" + struct.pack(">IH", *places[number])
    return b"\x00" + struct.pack(">IH", 0, 0xFFFF)
