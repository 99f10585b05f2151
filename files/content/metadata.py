"""Identifying metadata removed from photos before they are stored, pixels untouched.

A phone's JPEG carries where it was taken (EXIF's GPS), the phone's serial
number, maker notes, XMP and IPTC; a PNG may carry eXIf and text. They are
dropped by rewriting the file's segments or chunks, never by decoding and
re-encoding its pixels (which would lose quality and change every byte).
Kept: what displays the image right (Orientation, rewritten as the only EXIF
tag, the ICC colour profile, JFIF and Adobe colour markers).
"""

import struct

from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from PIL import Image, JpegImagePlugin, PngImagePlugin

from files.content.kinds import JPEG, PNG, Kind
from files.content.png import png_without_metadata
from files.exceptions import FileRejected

_ORIENTATION = 0x0112
_SOI, _EOI, _SOS, _APP0, _APP1, _APP2, _APP14 = 0xD8, 0xD9, 0xDA, 0xE0, 0xE1, 0xE2, 0xEE
#: Application segments kept, by the identifier they start with: colour, not metadata.
_KEPT_APPS = {_APP0: (b"JFIF\x00", b"JFXX\x00"), _APP2: (b"ICC_PROFILE\x00",), _APP14: (b"Adobe",)}
#: Markers without a length: restart markers and TEM.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def upload_without_metadata(upload: UploadedFile, kind: Kind) -> UploadedFile:
    """``upload``, a checked ``kind`` file, without identifying metadata: a new upload for a photo, else itself."""
    if kind not in (JPEG, PNG):
        return upload
    orientation = _orientation(upload, kind)
    upload.seek(0)
    if kind is JPEG:
        content = jpeg_without_metadata(upload.read(), exif=orientation and b"Exif\x00\x00" + orientation)
    else:
        content = png_without_metadata(upload, orientation=orientation)
    upload.seek(0)
    return SimpleUploadedFile(upload.name, content, upload.content_type)


def _orientation(upload: UploadedFile, kind: Kind) -> bytes | None:
    """An EXIF body (TIFF, no ``Exif`` prefix) holding only the image's Orientation, if it has one but upright."""
    upload.seek(0)
    image_file = JpegImagePlugin.JpegImageFile if kind is JPEG else PngImagePlugin.PngImageFile
    try:
        with image_file(upload) as image:
            orientation = image.getexif().get(_ORIENTATION)
    except (OSError, SyntaxError, ValueError, struct.error):
        orientation = None  # unreadable EXIF: dropped with the rest, the photo shown as stored
    if orientation in (None, 1):
        return None
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    return exif.tobytes()[len(b"Exif\x00\x00") :]


def jpeg_without_metadata(data: bytes, *, exif: bytes | None) -> bytes:
    """The JPEG ``data`` with only its image and colour segments, and ``exif``; nothing after its end.

    Segments are walked by their lengths; the entropy-coded data after each
    start of scan is copied as it is up to the next marker. ``exif`` goes
    first, after the JFIF segment if there is one (where readers look for it).
    """
    segments, position = [], 2
    while position < len(data) - 1:
        if data[position] != 0xFF:
            raise _invalid()
        marker = data[position + 1]
        if marker == 0xFF:  # a fill byte before a marker
            position += 1
            continue
        if marker == _EOI:
            break  # what follows (phones' previews, each with its own EXIF) is dropped
        end = (
            position + 2 if marker in _STANDALONE else position + 2 + int.from_bytes(data[position + 2 : position + 4])
        )
        if marker == _SOS:
            end = _scan_end(data, end)
        if _kept(marker, data[position + 4 : position + 20]):
            segments.append(data[position:end])
        position = end
    if exif:
        segments.insert(1 if segments and segments[0][1] == _APP0 else 0, _app1(exif))
    return b"".join((data[:2], *segments, b"\xff\xd9"))


def _scan_end(data: bytes, position: int) -> int:
    """Where the entropy-coded data from ``position`` ends: the first marker but a stuffed 0xFF or a restart."""
    while (position := data.find(b"\xff", position)) != -1 and position + 1 < len(data):
        following = data[position + 1]
        if following != 0 and following not in _STANDALONE:
            return position
        position += 2
    raise _invalid()


def _kept(marker: int, start: bytes) -> bool:
    if 0xE0 <= marker <= 0xEF:
        return start.startswith(_KEPT_APPS.get(marker, ()))
    return marker != 0xFE  # a comment


def _app1(exif: bytes) -> bytes:
    return b"\xff\xe1" + (len(exif) + 2).to_bytes(2) + exif


def _invalid() -> FileRejected:
    return FileRejected("File is not a valid JPEG image", code="invalid_file")
