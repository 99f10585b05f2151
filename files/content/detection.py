"""What an upload really is, decided from its bytes, never from its name.

Only kinds a clinic files and a browser cannot execute are accepted: PNG,
JPEG, PDF, Word 97-2003 (.doc) and Word 2007+ (.docx), and of those only the
kinds the file's category allows (``FILES_ALLOWED_KINDS``). Each check reads
the structure, not just a magic number, so a truncated or disguised file fails,
and a file that is also something else (a polyglot) is refused.
"""

import zipfile

import olefile
from django.core.files.uploadedfile import UploadedFile
from PIL import ImageFile, JpegImagePlugin, PngImagePlugin

from files import conf
from files.content.kinds import DOC, DOCX, JPEG, KINDS, PDF, PNG, Kind
from files.content.office import NotAWordDocument, docx_check
from files.content.pdf import pdf_check_active_content
from files.content.png import png_chunks, png_metadata_texts
from files.exceptions import FileRejected


class _NotThisKind(Exception):
    """Bytes that start like a kind but are something else: a ZIP archive that is no Word document."""


def detect_kind(upload: UploadedFile, category: str | None = None) -> Kind:
    """Return the kind of ``upload``'s bytes, or raise :class:`FileRejected`.

    With a ``category``, only the kinds ``FILES_ALLOWED_KINDS`` gives it are
    accepted; any other is refused from its first bytes, before it is parsed.
    """
    allowed = tuple(KINDS) if category is None else conf.allowed_kinds(category)
    accepted = [kind for kind in KINDS.values() if kind.name in allowed]
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    if not head:
        raise FileRejected("File is empty", code="empty_file")
    kind = next((kind for kind in KINDS.values() if head.startswith(kind.signature)), None)
    if kind not in accepted:
        raise _unsupported(accepted, category)
    try:
        _check_structure(upload, kind)
        _check_not_polyglot(upload, kind)
        if kind is PDF:
            pdf_check_active_content(upload, invalid=_invalid(PDF))
    except _NotThisKind:
        raise _unsupported(accepted, category) from None
    finally:
        upload.seek(0)
    return kind


def extension_for(kind: Kind, client_name: str) -> str:
    """The stored extension: the client's when it names this kind, else the kind's own.

    A name whose extension names another kind (a PNG called ``scan.pdf``) is refused.
    """
    _, dot, suffix = client_name.rpartition(".")
    extension = f".{suffix.lower()}" if dot else ""
    if extension in kind.extensions:
        return extension
    if not extension or not any(extension in known.extensions for known in KINDS.values()):
        return kind.extensions[0]
    raise FileRejected(f"File content is a {kind.label} but its name ends in {extension}", code="extension_mismatch")


def _unsupported(accepted: list[Kind], category: str | None) -> FileRejected:
    """The refusal of a file that is none of the ``accepted`` kinds, naming them."""
    if category is None:
        message = f"File type is not supported; upload {_one_of(accepted)}"
    else:
        message = f"{_article(category).capitalize()} {category} file must be {_one_of(accepted)}"
    return FileRejected(message, code="unsupported_file_type")


def _one_of(kinds: list[Kind]) -> str:
    """``kinds`` in words: "a PNG or JPEG image", "a PDF, DOC or DOCX file"."""
    names = [kind.name.upper() for kind in kinds]
    listed = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
    noun = "image" if all(kind.media_type.startswith("image/") for kind in kinds) else "file"
    return f"a {listed} {noun}"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in {"a", "e", "i", "o", "u"} else "a"


def _invalid(kind: Kind) -> FileRejected:
    return FileRejected(f"File is not a valid {kind.label}", code="invalid_file")


def _check_structure(upload: UploadedFile, kind: Kind) -> None:
    """Refuse ``upload``, which starts like ``kind``, if it is a broken one; raise :class:`_NotThisKind` if not one."""
    if kind is PNG:
        # Its text chunks first, under this app's budget: Pillow inflates those before the image data
        # with a limit of its own, and would call a text bomb an invalid image (metadata_too_large is right).
        _png_texts(upload)
        upload.seek(0)
        _check_image(upload, PNG, PngImagePlugin.PngImageFile)
    elif kind is JPEG:
        _check_image(upload, JPEG, JpegImagePlugin.JpegImageFile)
    elif kind is PDF:
        _check_pdf(upload)
    elif kind is DOCX:
        _check_docx(upload)
    else:
        _check_doc(upload)


def _check_image(upload: UploadedFile, kind: Kind, image_file: type[ImageFile.ImageFile]) -> None:
    # The format's own class reads the header only, so the declared size is checked
    # against FILES_MAX_IMAGE_PIXELS before any pixel is decoded. (Image.open would
    # first apply Pillow's process-wide MAX_IMAGE_PIXELS, which is not this app's to set.)
    try:
        with image_file(upload) as image:
            _check_pixels(*image.size)
            image.verify()
    except (OSError, SyntaxError, ValueError):
        raise _invalid(kind) from None


def _check_pixels(width: int, height: int) -> None:
    limit = conf.max_image_pixels()
    if width * height > limit:
        raise FileRejected(
            f"Image is too large: {width} x {height} pixels is more than the limit of {limit} pixels",
            code="image_too_large",
        )


def _check_pdf(upload: UploadedFile) -> None:
    # A PDF ends with %%EOF (followed at most by line ends); a truncated upload does not.
    upload.seek(max(upload.size - 1024, 0))
    if b"%%EOF" not in upload.read():
        raise _invalid(PDF)


#: What browsers take for a web page when it starts a file (after white space), each followed by
#: a space or ">" (the WHATWG MIME Sniffing Standard's HTML patterns), and XML, which may hold a page.
_PAGE_TAGS = (b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1", b"<div", b"<font", b"<table")
_PAGE_TAGS += (b"<a", b"<style", b"<title", b"<b", b"<body", b"<br", b"<p", b"<!--")
_PAGE_STARTS = (*(tag + end for tag in _PAGE_TAGS for end in (b" ", b">")), b"<?xml")
#: Markup looked for anywhere in the first kilobyte (older browsers and viewers sniff past the
#: start) and in PNG text. Each is five bytes or more but <svg: shorter ones would turn up by
#: chance in compressed data, in one photo in thousands.
_MARKUP = (
    *(b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<svg", b"<object", b"<embed"),
    *(b"<title", b"<style", b"<meta", b"<table", b"<font", b"<form", b"<img ", b"<link", b"<base"),
    *(b"javascript:", b"http://www.w3.org/1999/xhtml", b"http://www.w3.org/2000/svg"),
)
_WHITE_SPACE = b"\t\n\x0c\r "


def _is_markup(data: bytes) -> bool:
    """Would a browser that sniffs take ``data``, a file's start or a text, for a page, an image or a script?"""
    data = data.lower()
    return data.lstrip(_WHITE_SPACE).startswith(_PAGE_STARTS) or any(marker in data for marker in _MARKUP)


def _check_not_polyglot(upload: UploadedFile, kind: Kind) -> None:
    """Refuse a file that is also something else: markup up front, an archive or page hidden at its end.

    A PNG that is also a ZIP archive or an HTML page is valid as an image
    and harmful as the other; nothing a clinic files needs to be both.
    """
    upload.seek(0)
    if _is_markup(upload.read(1024)):
        raise _polyglot(kind, "a web page or script")
    if kind in (PNG, JPEG, PDF) and zipfile.is_zipfile(upload):
        raise _polyglot(kind, "an archive")
    if kind is PNG and _png_trailer(upload):
        raise _polyglot(kind, "data after its end")
    if kind is PNG and any(_is_markup(text) for text in _png_texts(upload)):
        raise _polyglot(kind, "a web page or script")
    if kind is JPEG and _has_markup_at_the_end(upload):
        raise _polyglot(kind, "a web page or script")


def _png_texts(upload: UploadedFile) -> list[bytes]:
    """A PNG's text metadata, inflated no further than ``FILES_MAX_IMAGE_TEXT_SIZE`` (else ``metadata_too_large``)."""
    return list(png_metadata_texts(upload, budget=conf.max_image_text_size()))


def _polyglot(kind: Kind, what: str) -> FileRejected:
    return FileRejected(f"File is a {kind.label} with {what} hidden in it", code="polyglot_file")


def _png_trailer(upload: UploadedFile) -> bytes:
    """What follows a PNG's IEND chunk."""
    chunk_types = [chunk_type for chunk_type, _ in png_chunks(upload)]
    return upload.read(1) if chunk_types[-1:] == [b"IEND"] else b""


def _has_markup_at_the_end(upload: UploadedFile) -> bool:
    """Does markup lie in a JPEG's last 64 KiB?

    Bytes after a JPEG's end are common (phones append depth maps and
    previews), so their presence proves nothing; markup does. Only markers of
    five bytes and more are looked for in 64 KiB of compressed data.
    """
    upload.seek(max(upload.size - 65536, 0))
    tail = upload.read().lower()
    return any(marker in tail for marker in _MARKUP if len(marker) >= 5)


def _check_docx(upload: UploadedFile) -> None:
    try:
        docx_check(upload, invalid=_invalid(DOCX))
    except NotAWordDocument:
        raise _NotThisKind from None


def _check_doc(upload: UploadedFile) -> None:
    try:
        ole = olefile.OleFileIO(upload)
    except OSError:
        raise _invalid(DOC) from None
    with ole:
        if not ole.exists("WordDocument"):
            raise _NotThisKind
        if ole.exists("Macros"):
            raise FileRejected("Documents with macros are not accepted", code="macro_document")
