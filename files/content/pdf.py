"""PDFs read object by object for content a viewer runs or opens by itself.

JavaScript, launch actions, embedded files, rich media, XFA forms and
actions run on opening (``/OpenAction`` other than going to a page, ``/AA``)
are refused. Object streams hide these names from a byte grep, so the file is
decoded with pypdf, under a budget of objects and seconds; the raw bytes are
searched as well, for objects the cross-reference table does not list.
"""

import re
import time
from collections.abc import Iterator
from typing import IO

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

from files import conf
from files.exceptions import FileRejected

#: Keys whose presence means content that runs or is opened: scripts, embedded files, media, XFA forms.
_ACTIVE_KEYS = frozenset({"/JS", "/JavaScript", "/AA", "/Launch", "/EmbeddedFiles", "/EF", "/RichMedia", "/XFA"})
#: Action types (``/S``) that run a script or a program, or import or send data.
_ACTIVE_ACTIONS = frozenset({"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/RichMediaExecute", "/GoToE"})
_ACTIVE_TYPES = frozenset({"/EmbeddedFile", "/RichMedia", "/RichMediaInstance"})
#: Names looked for in the raw bytes: long enough not to turn up by chance in compressed data.
_RAW_NAMES = frozenset({b"/JavaScript", b"/Launch", b"/EmbeddedFile", b"/EmbeddedFiles", b"/RichMedia"})
_NAME = re.compile(rb"/(?:[A-Za-z0-9]|#[0-9A-Fa-f]{2})+")
_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_MAX_DEPTH = 64


class _Active(Exception):
    """Active content found."""


def pdf_check_active_content(upload: IO[bytes], *, invalid: FileRejected) -> None:
    """Refuse a PDF with active content (``active_content``), or one pypdf cannot read (``invalid``)."""
    upload.seek(0)
    if _raw_names(upload.read()) & _RAW_NAMES:
        raise _active()
    try:
        for value in _objects(upload):
            _check(value, 0)
    except _Active:
        raise _active() from None
    except FileRejected:
        raise
    except Exception:
        # pypdf raises many kinds of error on a malformed file; whichever it is, the file is not a readable PDF.
        raise invalid from None


def _raw_names(data: bytes) -> set[bytes]:
    """Every name in ``data``, ``#xx`` escapes decoded (``/J#61vaScript`` is ``/JavaScript``)."""
    return {_ESCAPE.sub(lambda match: bytes.fromhex(match[1].decode()), name) for name in _NAME.findall(data)}


def _objects(upload: IO[bytes]) -> Iterator[PdfObject]:
    """Every object the cross-reference tables list, those in object streams too, under the budget."""
    upload.seek(0)
    reader = PdfReader(upload, strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        raise FileRejected("PDF documents that need a password to open are not accepted", code="invalid_file")
    numbers = [(number, generation) for generation, table in reader.xref.items() for number in table]
    numbers += [(number, 0) for number in reader.xref_objStm]
    limit, deadline = conf.max_pdf_objects(), time.monotonic() + conf.pdf_check_seconds()
    if len(numbers) > limit:
        raise _too_complex(f"more than {limit} objects")
    for number, generation in numbers:
        if time.monotonic() > deadline:
            raise _too_complex(f"not read within {conf.pdf_check_seconds()} seconds")
        yield reader.get_object(IndirectObject(number, generation, reader))
    yield reader.trailer


def _check(value: PdfObject | None, depth: int) -> None:
    """Raise :class:`_Active` if ``value`` or a direct object in it is active (references are checked apart)."""
    if depth > _MAX_DEPTH:
        raise _too_complex("objects nested too deep")
    if isinstance(value, DictionaryObject):
        if _ACTIVE_KEYS & value.keys() or value.get("/S") in _ACTIVE_ACTIONS or value.get("/Type") in _ACTIVE_TYPES:
            raise _Active
        if _runs_on_opening(value.get("/OpenAction")):
            raise _Active
        for item in value.values():
            _check(item, depth + 1)
    elif isinstance(value, ArrayObject):
        for item in value:
            _check(item, depth + 1)


def _runs_on_opening(action: PdfObject | None) -> bool:
    """Is an ``/OpenAction`` more than going to a page of this document (a destination, or a ``/GoTo``)?"""
    action = action.get_object() if isinstance(action, IndirectObject) else action
    return isinstance(action, DictionaryObject) and action.get("/S") != NameObject("/GoTo")


def _active() -> FileRejected:
    return FileRejected(
        "PDF documents with scripts, actions run on opening or embedded files are not accepted", code="active_content"
    )


def _too_complex(what: str) -> FileRejected:
    return FileRejected(f"PDF document is too complex to check: {what}", code="pdf_too_complex")
