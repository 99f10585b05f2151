"""The files app's storage for S3-protocol stores: django-storages' ``S3Storage`` that also reads ranges and moves.

Django's Storage API has neither a ranged read nor a move. A storage that
can do them better than ``open()``/``save()`` says so by having these methods,
and ``files.backends`` asks for them (never guessing a storage's kind):

- ``open_range(name, first, last)``: a readable of bytes ``first``..``last``;
- ``move(old, new)``: the bytes under another name of the same storage;
- ``accel_path(name, **response_headers)``: the path and query nginx fetches the bytes from.

Use it as ``"BACKEND": "files.storages.S3FileStorage"``.
"""

from urllib.parse import urlsplit

from botocore.exceptions import ClientError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class S3FileStorage(S3Storage):
    def open_range(self, name: str, first: int, last: int):
        """The body of a ranged GET: only the bytes asked for travel. ``FileNotFoundError`` once deleted."""
        try:
            return self.bucket.Object(self.key(name)).get(Range=f"bytes={first}-{last}")["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(name) from error
            raise

    def move(self, old: str, new: str) -> None:
        """A server-side copy, then the delete of the old key: the bytes never pass through the service."""
        source, target = self.key(old), self.key(new)
        self.bucket.copy({"Bucket": self.bucket.name, "Key": source}, target)
        self.bucket.Object(source).delete()

    def accel_path(self, name: str, *, lifetime: int, content_type: str, disposition: str) -> str:
        """The path and query of a presigned URL, which nginx's internal location proxies to the store."""
        url = urlsplit(self.presigned_url(name, lifetime=lifetime, content_type=content_type, disposition=disposition))
        return f"{url.path}?{url.query}"

    def presigned_url(self, name: str, *, lifetime: int, content_type: str, disposition: str) -> str:
        """A URL of the store serving ``name`` for ``lifetime`` seconds with these response headers."""
        parameters = {"ResponseContentType": content_type, "ResponseContentDisposition": disposition}
        return self.url(name, parameters=parameters, expire=lifetime)

    def key(self, name: str) -> str:
        """The object key of ``name`` (the backend's ``location`` prefix included)."""
        return self._normalize_name(clean_name(name))
