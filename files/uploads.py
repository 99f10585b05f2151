"""Streaming uploads: chunks go to a temporary file, hashed and counted on the way.

A project enables it with ``FILE_UPLOAD_HANDLERS = ["files.uploads.HashingUploadHandler"]``.
"""

import hashlib

from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler

from files import conf
from files.errors import PayloadTooLarge


class HashedUploadedFile(TemporaryUploadedFile):
    """A temporary upload that knows its SHA-256 without reading itself again."""

    sha256: str


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Writes each chunk to disk as it arrives and stops a file over the size limit.

    The request is refused while the body streams in, not after it has all
    arrived, and the partial temporary file is removed at once.
    """

    def new_file(self, *args, **kwargs) -> None:
        FileUploadHandler.new_file(self, *args, **kwargs)
        self.file = HashedUploadedFile(self.file_name, self.content_type, 0, self.charset, self.content_type_extra)
        self.digest = hashlib.sha256()
        self.limit = conf.max_upload_size()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > self.limit:
            self.upload_interrupted()
            raise PayloadTooLarge(f"File is larger than the limit of {self.limit} bytes")
        self.digest.update(raw_data)
        self.file.write(raw_data)

    def file_complete(self, file_size: int) -> HashedUploadedFile:
        self.file.sha256 = self.digest.hexdigest()
        return super().file_complete(file_size)
