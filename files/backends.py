"""Reading stored bytes by range, on any storage.

Django's Storage API has no ranged read; this module adds one. Local disk
(anything with ``path()``) hands out a real file seeked to the range start, so
a WSGI server can ``sendfile`` it; django-storages' S3 backend passes the
range to the store, so only the bytes asked for travel. Other storages read
through ``open()`` and ``seek()``.
"""

import os
from collections.abc import Iterator

from django.core.files.storage import Storage

CHUNK = 64 * 1024


class FileSlice:
    """``length`` bytes of an open binary file from its current position.

    It has ``fileno()`` when the file has, so ``wsgi.file_wrapper`` can send
    it with ``sendfile``; ``read()`` never goes past the slice.
    """

    def __init__(self, handle, length: int) -> None:
        self._handle = handle
        self._left = length
        if hasattr(handle, "fileno"):
            self.fileno = handle.fileno

    def read(self, size: int = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._handle.read(size) if size else b""
        self._left -= len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self._handle.close()


def blob_exists(storage: Storage, name: str) -> bool:
    """Whether the bytes are there, without reading them."""
    return storage.exists(name)


def open_range(storage: Storage, name: str, first: int, last: int) -> FileSlice:
    """Bytes ``first`` to ``last`` (inclusive) of ``name``; raises FileNotFoundError."""
    length = last - first + 1
    if _is_s3(storage):
        return FileSlice(_s3_body(storage, name, f"bytes={first}-{last}"), length)
    try:
        handle = open(storage.path(name), "rb")  # noqa: SIM115 (closed by the server through FileSlice.close)
    except NotImplementedError:
        handle = storage.open(name, "rb")
    handle.seek(first, os.SEEK_SET)
    return FileSlice(handle, length)


def presigned_url(storage: Storage, name: str, *, lifetime: int, content_type: str, disposition: str) -> str:
    """A URL of the store that serves ``name`` for ``lifetime`` seconds with these headers."""
    parameters = {"ResponseContentType": content_type, "ResponseContentDisposition": disposition}
    return storage.url(name, parameters=parameters, expire=lifetime)


def _is_s3(storage: Storage) -> bool:
    return hasattr(storage, "bucket") and hasattr(storage, "_normalize_name")


def _s3_body(storage: Storage, name: str, byte_range: str):
    from botocore.exceptions import ClientError
    from storages.utils import clean_name

    try:
        key = storage._normalize_name(clean_name(name))  # the key the backend itself would use
        return storage.bucket.Object(key).get(Range=byte_range)["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            raise FileNotFoundError(name) from error
        raise
