"""The files app's storage for S3-protocol stores: django-storages' ``S3Storage`` that also reads ranges and moves.

Django's Storage API has neither a ranged read nor a move. A storage that
can do them better than ``open()``/``save()`` says so by having these methods,
and ``files.backends`` asks for them (never guessing a storage's kind):

- ``open_range(name, first, last)``: a readable of bytes ``first``..``last``;
- ``move(old, new)``: the bytes under another name of the same storage;
- ``accel_path(name, lifetime=)``: the path and query nginx fetches the bytes from;
- ``presigned_url(name, lifetime=, **response_headers)``: a URL of the store itself (``redirect`` mode);
- ``presigned_post(name, size=, lifetime=)``: a form a client posts bytes to the store with (``files.direct``).

Every object is stored with the headers the store can send for it whatever
URL fetches it (``get_object_parameters``): its type, an ``attachment``
disposition naming it by its id, and ``private, no-store``. S3 has no way to
store or presign any other header (nosniff, a Content-Security-Policy).

Use it as ``"BACKEND": "files.storages.S3FileStorage"``.
"""

import logging
import posixpath
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from botocore.config import Config
from botocore.exceptions import ClientError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from files import conf
from files.content.kinds import DERIVATIVE_EXTENSIONS, EXPORT_EXTENSION, EXPORT_MEDIA_TYPE, KINDS

logger = logging.getLogger(__name__)

# A stored object's type, by its name's extension: an upload's is its detected kind's (files.services.intake);
# a derivative's, its format's; an export's, its archive's.
_MEDIA_TYPES = {
    **{extension: kind.media_type for kind in KINDS.values() for extension in kind.extensions},
    **{extension: media_type for media_type, extension in DERIVATIVE_EXTENSIONS.items()},
    EXPORT_EXTENSION: EXPORT_MEDIA_TYPE,
}


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload started and never completed nor aborted: its parts are stored, and billed, until aborted."""

    name: str
    upload_id: str
    started: datetime


class S3FileStorage(S3Storage):
    """Every call to the store has the ``FILES_STORAGE_*`` connect and read timeouts and bounded retries.

    They are merged over the ``client_config`` given, if any: botocore's own
    defaults (60 s each, retried) let a stalled store hold a request's
    thread for minutes.
    """

    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self.client_config = self.client_config.merge(
            Config(
                connect_timeout=conf.storage_connect_timeout(),
                read_timeout=conf.storage_read_timeout(),
                retries={"total_max_attempts": conf.storage_max_attempts(), "mode": "standard"},
            )
        )

    def open_range(self, name: str, first: int, last: int):
        """The body of a ranged GET: only the bytes asked for travel. ``FileNotFoundError`` once deleted."""
        try:
            return self.bucket.Object(self.key(name)).get(Range=f"bytes={first}-{last}")["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(name) from error
            raise

    def move(self, old: str, new: str) -> None:
        """A server-side copy, then the delete of the old key: the bytes never pass through the service.

        The copy is stored with ``new``'s own headers (``get_object_parameters``),
        not ``old``'s: an object a client posted (``files.direct``) had the
        client's. ``FileNotFoundError`` when there is no ``old``. When the old
        key cannot be deleted, the copy is removed again, so that a failed
        move leaves the bytes where they were, and only there.
        """
        source, target = self.key(old), self.key(new)
        headers = {"MetadataDirective": "REPLACE", **self.get_object_parameters(new)}
        try:
            self.bucket.copy({"Bucket": self.bucket.name, "Key": source}, target, ExtraArgs=headers)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(old) from error
            raise
        try:
            self.bucket.Object(source).delete()
        except Exception:
            try:
                self.bucket.Object(target).delete()
            except Exception:
                logger.exception("a copy of %s was left at %s by a failed move", old, new)
            raise

    def incomplete_uploads(self) -> list[IncompleteUpload]:
        """The multipart uploads under this storage's location that were started and never completed."""
        prefix = self.key("")
        paginator = self.connection.meta.client.get_paginator("list_multipart_uploads")
        pages = paginator.paginate(Bucket=self.bucket_name, Prefix=prefix)
        return [
            IncompleteUpload(name=item["Key"][len(prefix) :], upload_id=item["UploadId"], started=item["Initiated"])
            for page in pages
            for item in page.get("Uploads", ())
        ]

    def abort_upload(self, upload: IncompleteUpload) -> None:
        """Abort ``upload``: the store drops its parts."""
        self.connection.meta.client.abort_multipart_upload(
            Bucket=self.bucket_name, Key=self.key(upload.name), UploadId=upload.upload_id
        )

    def accel_path(self, name: str, *, lifetime: int) -> str:
        """The path and query of a presigned URL, which nginx's internal location proxies to the store.

        It asks for no response header: nginx sends the service's own, and the
        URL (in the store's logs) names no file.
        """
        url = urlsplit(self.url(name, expire=lifetime))
        return f"{url.path}?{url.query}"

    def presigned_url(
        self, name: str, *, lifetime: int, content_type: str, disposition: str, cache_control: str
    ) -> str:
        """A URL of the store serving ``name`` for ``lifetime`` seconds with these response headers."""
        parameters = {
            "ResponseContentType": content_type,
            "ResponseContentDisposition": disposition,
            "ResponseCacheControl": cache_control,
        }
        return self.url(name, parameters=parameters, expire=lifetime)

    def presigned_post(self, name: str, *, size: int, lifetime: int) -> dict:
        """A form that stores exactly ``size`` bytes at ``name`` for ``lifetime`` seconds: ``{"url", "fields"}``.

        The client posts ``fields`` and then its ``file`` part to ``url``. The
        signed policy names the one key and the one size (``content-length-range``);
        the store refuses any other key, size or field, and the form once it expires.
        """
        return self.connection.meta.client.generate_presigned_post(
            Bucket=self.bucket_name,
            Key=self.key(name),
            Conditions=[["content-length-range", size, size]],
            ExpiresIn=lifetime,
        )

    def get_object_parameters(self, name: str) -> dict:
        """Headers stored with the object, sent by the store to any URL that asks for no others.

        Not the client's Content-Type (django-storages' default), but the
        detected kind's; downloaded, never shown, under its id's name; cached
        nowhere. A project's ``AWS_S3_OBJECT_PARAMETERS`` win.
        """
        stored_as = posixpath.basename(name)
        return {
            "ContentType": _MEDIA_TYPES.get(posixpath.splitext(stored_as)[1].lower(), "application/octet-stream"),
            "ContentDisposition": f'attachment; filename="{stored_as}"',
            "CacheControl": "private, no-store",
            **super().get_object_parameters(name),
        }

    def key(self, name: str) -> str:
        """The object key of ``name`` (the backend's ``location`` prefix included)."""
        return self._normalize_name(clean_name(name))
