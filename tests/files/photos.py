"""Photos as phones take them: full of metadata that says where, when and on what."""

import io
import random
import struct
import zlib

from PIL import ExifTags, Image, ImageCms

SERIAL = "SN-4711-0815"
GPS_LATITUDE = (48.0, 51.0, 29.5)
ORIENTATION_ROTATE_90 = 6
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description exif:GPSLatitude="48,51.49N"/></x:xmpmeta>'
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Phone maker"
    exif[ExifTags.Base.Model] = "Phone 15"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.BodySerialNumber] = SERIAL
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", GPS_LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (2.0, 17.0, 40.2)
    return exif


def _pixels(size: int = 64) -> Image.Image:
    return Image.frombytes("RGB", (size, size), random.Random(7).randbytes(size * size * 3))  # noqa: S311


def phone_jpeg(orientation: int = ORIENTATION_ROTATE_90, *, progressive: bool = False) -> bytes:
    """A JPEG with EXIF (GPS, serial number, orientation), XMP, an ICC profile, a comment and a trailing preview.

    Phones append a smaller preview after the image's end, with its own EXIF: the GPS position again.
    """
    out = io.BytesIO()
    metadata = {"exif": _exif(orientation), "icc_profile": ICC, "comment": SERIAL.encode(), "xmp": XMP}
    _pixels().save(out, "JPEG", progressive=progressive, restart_marker_blocks=4, **metadata)
    preview = io.BytesIO()
    _pixels(16).save(preview, "JPEG", exif=_exif(orientation))
    return out.getvalue() + preview.getvalue()


def _chunk(chunk_type: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", zlib.crc32(chunk_type + data))


def phone_png(orientation: int = ORIENTATION_ROTATE_90) -> bytes:
    """A PNG with an eXIf chunk (GPS, serial number, orientation), a text chunk and a tIME chunk."""
    out = io.BytesIO()
    _pixels().save(out, "PNG", icc_profile=ICC)
    png = out.getvalue()
    ihdr_end = 8 + 4 + 4 + 13 + 4
    extra = _chunk(b"eXIf", _exif(orientation).tobytes()[6:]) + _chunk(b"tEXt", b"Author\x00" + SERIAL.encode())
    extra += _chunk(b"tIME", b"\x07\xea\x0b\x1e\x12\x00\x00")
    return png[:ihdr_end] + extra + png[ihdr_end:]


def pixels_of(content: bytes) -> bytes:
    with Image.open(io.BytesIO(content)) as image:
        return image.tobytes()
