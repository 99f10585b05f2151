"""The kinds of file the service accepts: the one list of them; and the formats of what it writes itself.

Detection (``files/content/detection.py``), the settings (``FILES_ALLOWED_KINDS`` in
``files/conf.py``) and the API schema all read this registry, so a kind is
added or removed here alone.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str  # as FILES_ALLOWED_KINDS names it
    label: str
    media_type: str
    extensions: tuple[str, ...]  # the first is the one given to a name without one of these
    signature: bytes  # how every file of this kind starts


PNG = Kind("png", "PNG image", "image/png", (".png",), b"\x89PNG\r\n\x1a\n")
JPEG = Kind("jpeg", "JPEG image", "image/jpeg", (".jpg", ".jpeg"), b"\xff\xd8\xff")
PDF = Kind("pdf", "PDF document", "application/pdf", (".pdf",), b"%PDF-")
# Every OLE compound file starts like a .doc, and every ZIP archive like a .docx: their checks tell.
DOC = Kind("doc", "Word document", "application/msword", (".doc",), b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
DOCX = Kind(
    "docx",
    "Word document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    (".docx",),
    b"PK\x03\x04",
)

#: Every kind, by its name.
KINDS = {kind.name: kind for kind in (PNG, JPEG, PDF, DOC, DOCX)}

#: The formats derivatives are written in (``files/derivatives.py``), and the extension of each in their URL and name.
DERIVATIVE_EXTENSIONS = {"image/webp": ".webp", "image/jpeg": ".jpg"}

#: An export's archive (``files/export.py``): one ZIP of a record's files.
EXPORT_MEDIA_TYPE = "application/zip"
EXPORT_EXTENSION = ".zip"
