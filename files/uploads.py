"""Streaming uploads: chunks go to a temporary file, hashed and counted on the way.

A project enables it with ``FILE_UPLOAD_HANDLERS = ["files.uploads.HashingUploadHandler"]``.
The temporary files live in ``FILES_UPLOAD_TEMP_DIR``, named
``files-upload-*.upload``: a worker killed in the middle of a request leaves
its files behind, and ``files_cleanup`` removes them (``files.reconcile``).
"""

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParserError

from files import conf
from files.exceptions import UploadTooLarge

TEMP_PREFIX, TEMP_SUFFIX = "files-upload-", ".upload"
#: What a stored upload's type is taken for: nothing but its bytes says what it is (``files.content.detection``).
_STORED_TYPE = "application/octet-stream"


def upload_temp_dir() -> Path:
    """``FILES_UPLOAD_TEMP_DIR``, created if missing (a cleaner of the system's temporary folder may remove it)."""
    folder = conf.upload_temp_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


class HashedUploadedFile(TemporaryUploadedFile):
    """A temporary upload that knows its SHA-256 without reading itself again."""

    sha256: str

    def __init__(self, name, content_type, size, charset, content_type_extra=None) -> None:
        # Django's own __init__ would put the file in FILE_UPLOAD_TEMP_DIR, with the client's extension in its name.
        file = tempfile.NamedTemporaryFile(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=upload_temp_dir())  # noqa: SIM115 (closed with the upload)
        UploadedFile.__init__(self, file, name, content_type, size, charset, content_type_extra)


def upload_name(name: str) -> str | None:
    """``name`` as an upload's name; None for one that names no file ("", "..").

    Django refuses to give a file such a name; without one, the stored file
    gets a name of the service's own, with its kind's extension.
    """
    return name if os.path.basename(name) not in {"", ".", ".."} else None


class StoredUpload(HashedUploadedFile):
    """A local copy, for the checks, of bytes already in storage at ``stored_as`` (a direct upload's object).

    ``files.services.files_attach`` checks it like any upload, then moves the
    stored object to the file's name rather than sending the bytes again.
    """

    def __init__(self, name: str, *, stored_as: str) -> None:
        super().__init__(None, _STORED_TYPE, 0, None)
        self.name = upload_name(name)
        self.stored_as = stored_as

    def write_chunks(self, chunks: Iterable[bytes]) -> None:
        """Take the stored bytes, hashed and counted on the way, and go back to their start."""
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)
            self.file.write(chunk)
        self.file.flush()
        self.size, self.sha256 = self.file.tell(), digest.hexdigest()
        self.file.seek(0)


class OversizedUpload(UploadedFile):
    """A file part over ``FILES_MAX_UPLOAD_SIZE``: its name and size as sent, none of its bytes.

    Every upload path refuses it (``files.services.upload_check``): the API
    with 413, a form (the admin's) with an error on the field.
    """

    def __init__(self, name: str, content_type: str, size: int) -> None:
        super().__init__(io.BytesIO(), name, content_type, size)


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Writes each chunk to disk as it arrives; stops a file, or a request's files, over the size limits.

    ``FILES_MAX_UPLOAD_SIZE`` bounds each file: the bytes of a file over it
    are not kept past the limit, and it arrives as an :class:`OversizedUpload`
    that every upload path refuses, so that a form shows the error beside
    the rest of what was sent. ``FILES_MAX_REQUEST_SIZE`` bounds the
    request's files together (Django makes a handler per request): the
    request is refused with :class:`UploadTooLarge` while the body streams
    in; the partial temporary file is removed at once, and Django closes
    (so removes) the files already received.
    """

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.request_limit = conf.max_request_size()
        self.request_size = 0  # bytes of the request's files already complete

    def new_file(self, *args, **kwargs) -> None:
        FileUploadHandler.new_file(self, *args, **kwargs)
        self.file = HashedUploadedFile(self.file_name, self.content_type, 0, self.charset, self.content_type_extra)
        self.digest = hashlib.sha256()
        self.limit = conf.max_upload_size()
        self.oversized = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        size = start + len(raw_data)
        if self.request_size + size > self.request_limit:
            self._stop(f"The request's files are larger than the limit of {self.request_limit} bytes together")
        if size > self.limit and not self.oversized:
            self.oversized = True
            TemporaryFileUploadHandler.upload_interrupted(self)  # its bytes so far are removed
        if not self.oversized:
            self.digest.update(raw_data)
            self.file.write(raw_data)

    def file_complete(self, file_size: int) -> UploadedFile:
        self.request_size += file_size
        if self.oversized:
            return OversizedUpload(self.file_name, self.content_type, file_size)
        self.file.sha256 = self.digest.hexdigest()
        return super().file_complete(file_size)

    def _stop(self, message: str) -> NoReturn:
        self.upload_interrupted()
        raise UploadTooLarge(message)

    interrupted = False  # a file part was cut short

    def upload_interrupted(self) -> None:
        super().upload_interrupted()
        self.interrupted = True

    def upload_complete(self) -> None:
        """Refuse the whole upload when the body ended inside a file part.

        Django's parser calls :meth:`upload_interrupted` for a last file part
        cut short (the client went away, or the closing boundary never came)
        and keeps the parts before it: part of an upload would be stored.
        """
        if self.interrupted:
            raise MultiPartParserError("The body ended inside a file part, before the closing boundary")
