"""PDFs read object by object for content a viewer runs or opens by itself.

JavaScript, launch actions, embedded files, rich media, XFA forms and
actions run on opening (``/OpenAction`` other than going to a page, ``/AA``)
are refused. Object streams hide these names from a byte grep, so the file is
decoded with pypdf, under a budget of objects and seconds; the raw bytes are
searched as well, for objects the cross-reference table does not list.

Memory stays small whatever the file's size: the raw bytes are searched a
chunk at a time, and the data of streams other than object streams (pages'
contents, images, fonts: no objects in them) is passed over, unread, while
their dictionaries are checked.
"""

import itertools
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
#: Bytes of the raw file searched at a time.
CHUNK_SIZE = 256 * 1024
#: The longest spelling of a raw name (every character after the slash escaped as ``#xx``) and the two bytes
#: after it that tell whether it goes on: a name starting this close to a chunk's end is searched with the next.
_NAME_REACH = 1 + 3 * (max(map(len, _RAW_NAMES)) - 1) + 2
#: Stream data at least this long is passed over rather than read (shorter reads are pypdf's own parsing).
_LONG_STREAM = 64 * 1024
#: PDF's white-space characters, which may stand between a stream's data and ``endstream``.
_WHITE_SPACE = b"\x00\t\n\x0c\r "
_ENDSTREAM_PEEK = 64
_MAX_DEPTH = 64


class _Active(Exception):
    """Active content found."""


def pdf_check_active_content(upload: IO[bytes], *, invalid: FileRejected) -> None:
    """Refuse a PDF with active content (``active_content``), or one pypdf cannot read (``invalid``)."""
    if _has_raw_names(upload):
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


def _has_raw_names(upload: IO[bytes]) -> bool:
    """Is a name of :data:`_RAW_NAMES` anywhere in ``upload``'s bytes, read :data:`CHUNK_SIZE` at a time?

    Every slash starts a name, whatever came before it, so a name is found
    in a chunk exactly as in the whole file once the bytes after it are
    there: one that starts in the last :data:`_NAME_REACH` bytes is searched
    again with the next chunk. One that starts earlier and runs to the
    chunk's end is longer than any raw name, cut or whole.
    """
    upload.seek(0)
    pending = b""
    while chunk := upload.read(CHUNK_SIZE):
        data = pending + chunk
        cut = data.rfind(b"/", max(len(data) - _NAME_REACH, 0))
        cut = len(data) if cut == -1 else cut
        if _raw_names(data[:cut]) & _RAW_NAMES:
            return True
        pending = data[cut:]
    return bool(_raw_names(pending) & _RAW_NAMES)


def _raw_names(data: bytes) -> set[bytes]:
    """Every name in ``data``, ``#xx`` escapes decoded (``/J#61vaScript`` is ``/JavaScript``)."""
    return {_ESCAPE.sub(lambda match: bytes.fromhex(match[1].decode()), name) for name in _NAME.findall(data)}


def _objects(upload: IO[bytes]) -> Iterator[PdfObject]:
    """Every object the cross-reference tables list, those in object streams too, under the budget.

    Objects in object streams come first. Their streams are read whole,
    and stay decoded in pypdf's cache with the objects read from them, so
    that none is read again, nor ever read while a stream's data is passed
    over. Then each object of the file itself, the data of its stream passed
    over (:class:`_Source`). Anything else an object's reading and checking
    put in the cache is dropped once it is checked.
    """
    source = _Source(upload)
    reader = PdfReader(source, strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        raise FileRejected("PDF documents that need a password to open are not accepted", code="invalid_file")
    object_streams = {number for number, _ in reader.xref_objStm.values()}
    kept = object_streams | set(reader.xref_objStm)
    # (number, generation, whether its stream's data is passed over)
    numbers = [(number, 0, False) for number in reader.xref_objStm]
    numbers += [
        (number, generation, number not in object_streams)
        for generation, table in reader.xref.items()
        for number in table
    ]
    limit, deadline = conf.max_pdf_objects(), time.monotonic() + conf.pdf_check_seconds()
    if len(numbers) > limit:
        raise _too_complex(f"more than {limit} objects")
    for number, generation, skipping in numbers:
        if time.monotonic() > deadline:
            raise _too_complex(f"not read within {conf.pdf_check_seconds()} seconds")
        cached = len(reader.resolved_objects)
        source.skipping = skipping
        try:
            value = reader.get_object(IndirectObject(number, generation, reader))
        finally:
            source.skipping = False
        yield value
        _forget(reader, since=cached, kept=kept)
    yield reader.trailer


def _forget(reader: PdfReader, *, since: int, kept: set[int]) -> None:
    """Drop from pypdf's cache the objects added after its first ``since`` but those numbered in ``kept``."""
    added = itertools.islice(reversed(reader.resolved_objects), len(reader.resolved_objects) - since)
    for key in [key for key in added if key[1] not in kept]:
        del reader.resolved_objects[key]


class _Source:
    """The upload as pypdf reads it: while ``skipping``, a long stream's data is passed over, not read.

    pypdf reads a stream's data, the ``/Length`` its dictionary gives, in one
    read; if ``endstream`` follows where that read would end, pypdf goes on
    from there whatever the data, so the read returns nothing and the upload
    is left just after it. Otherwise (a wrong length) the bytes are read, for
    pypdf to find the stream's end its own way.
    """

    def __init__(self, upload: IO[bytes]) -> None:
        self._upload = upload
        self.skipping = False

    def read(self, size: int = -1) -> bytes:
        if self.skipping and size >= _LONG_STREAM and self._ends_stream(size):
            return b""
        return self._upload.read(size)

    def _ends_stream(self, size: int) -> bool:
        """Does ``endstream`` follow the next ``size`` bytes? Leaves the upload after them if it does."""
        start = self._upload.tell()
        self._upload.seek(start + size)
        if self._upload.read(_ENDSTREAM_PEEK).lstrip(_WHITE_SPACE).startswith(b"endstream"):
            self._upload.seek(start + size)
            return True
        self._upload.seek(start)
        return False

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._upload.seek(offset, whence)

    def tell(self) -> int:
        return self._upload.tell()


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
