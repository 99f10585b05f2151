"""What an upload really is, decided from its bytes, never from its name.

Only kinds a clinic files and a browser cannot execute are accepted: PNG,
JPEG, PDF, Word 97-2003 (.doc) and Word 2007+ (.docx). Each check reads the
structure, not just a magic number, so a truncated or disguised file fails.
"""

import zipfile
from dataclasses import dataclass

import olefile
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

from files.exceptions import FileRejected


@dataclass(frozen=True)
class Kind:
    label: str
    media_type: str
    extensions: tuple[str, ...]  # the first is the one given to a name without one


PNG = Kind("PNG image", "image/png", (".png",))
JPEG = Kind("JPEG image", "image/jpeg", (".jpg", ".jpeg"))
PDF = Kind("PDF document", "application/pdf", (".pdf",))
DOC = Kind("Word document", "application/msword", (".doc",))
DOCX = Kind(
    "Word document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    (".docx",),
)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def detect_kind(upload: UploadedFile) -> Kind:
    """Return the kind of ``upload``'s bytes, or raise :class:`FileRejected`."""
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    if not head:
        raise FileRejected("File is empty", code="empty_file")
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return _checked_image(upload, PNG, "PNG")
        if head.startswith(b"\xff\xd8\xff"):
            return _checked_image(upload, JPEG, "JPEG")
        if head.startswith(b"%PDF-"):
            return _checked_pdf(upload)
        if head.startswith(b"PK\x03\x04"):
            return _checked_docx(upload)
        if head.startswith(_OLE_MAGIC):
            return _checked_doc(upload)
    finally:
        upload.seek(0)
    raise _unsupported()


def extension_for(kind: Kind, client_name: str) -> str:
    """The stored extension: the client's when it names this kind, else the kind's own.

    A name whose extension names another kind (a PNG called ``scan.pdf``) is refused.
    """
    _, dot, suffix = client_name.rpartition(".")
    extension = f".{suffix.lower()}" if dot else ""
    if extension in kind.extensions:
        return extension
    if not extension or not any(extension in known.extensions for known in (PNG, JPEG, PDF, DOC, DOCX)):
        return kind.extensions[0]
    raise FileRejected(f"File content is a {kind.label} but its name ends in {extension}", code="extension_mismatch")


def _unsupported() -> FileRejected:
    return FileRejected(
        "File type is not supported; upload a PNG, JPEG, PDF, DOC or DOCX file", code="unsupported_file_type"
    )


def _invalid(kind: Kind) -> FileRejected:
    return FileRejected(f"File is not a valid {kind.label}", code="invalid_file")


def _checked_image(upload: UploadedFile, kind: Kind, pil_format: str) -> Kind:
    try:
        with Image.open(upload) as image:
            if image.format != pil_format:
                raise _invalid(kind)
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise _invalid(kind) from None
    return kind


def _checked_pdf(upload: UploadedFile) -> Kind:
    # A PDF ends with %%EOF (followed at most by line ends); a truncated upload does not.
    upload.seek(max(upload.size - 1024, 0))
    if b"%%EOF" not in upload.read():
        raise _invalid(PDF)
    return PDF


def _checked_docx(upload: UploadedFile) -> Kind:
    try:
        with zipfile.ZipFile(upload) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise _invalid(DOCX) from None
    if "[Content_Types].xml" not in names or "word/document.xml" not in names:
        raise _unsupported()
    if "word/vbaProject.bin" in names:
        raise FileRejected("Documents with macros are not accepted", code="macro_document")
    return DOCX


def _checked_doc(upload: UploadedFile) -> Kind:
    try:
        ole = olefile.OleFileIO(upload)
    except OSError:
        raise _invalid(DOC) from None
    with ole:
        if not ole.exists("WordDocument"):
            raise _unsupported()
        if ole.exists("Macros"):
            raise FileRejected("Documents with macros are not accepted", code="macro_document")
    return DOC
