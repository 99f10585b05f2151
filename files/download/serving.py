"""Answering GET and HEAD for a file's bytes, the same way on every path.

The WSGI fast path (``files.download.wsgi``) and the Django view (``files.api.views``)
both decide *whether* a request may read a file; this module decides *what*
it gets: 200, 206, 304, 412 or 416, the headers every download carries, and
the bytes, sent in the configured serving mode.
"""

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from django.utils.http import http_date

from files import backends, conf
from files.caching import BoundedCache
from files.content.kinds import EXPORT_EXTENSION, EXPORT_MEDIA_TYPE
from files.download import config, http
from files.models import Derivative, Export, File, FileVersion

# Stored files are shown in the browser, never run: no script, no plugin, no
# network, a sandbox of their own. PDFs are the exception: Chrome's viewer is
# a plugin that both `sandbox` and `object-src 'none'` block; a PDF here is
# one by its bytes and `nosniff` keeps it from being read as anything else.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
PDF_CONTENT_SECURITY_POLICY = "script-src 'none'"

PDF = "application/pdf"
# Only these are shown in the browser; anything else (Word files) is always downloaded.
_INLINE_TYPES = frozenset({"image/png", "image/jpeg", PDF, "image/webp"})


@dataclass(frozen=True)
class FileMeta:
    """What serving needs to know of a stored file. A file never changes, so this can be cached."""

    id: str
    entity_id: str
    entity_type_id: int
    extension: str
    media_type: str
    name: str
    size: int
    sha256: str
    modified: float
    storage_name: str
    # Read by the scanning rule (files.scanning.scan_allows_read), asked on every download.
    scan_status: str
    uploaded_by_id: int | None

    @classmethod
    def of(cls, file: File) -> "FileMeta":
        return cls(
            id=str(file.pk),
            entity_id=str(file.entity_id),
            entity_type_id=file.entity_type_id,
            extension=file.extension,
            media_type=file.media_type,
            name=file.name,
            size=file.size,
            sha256=file.sha256,
            modified=file.created_at.timestamp(),
            storage_name=file.storage_name,
            scan_status=file.scan_status,
            uploaded_by_id=file.uploaded_by_id,
        )

    @classmethod
    def of_version(cls, file: File, version: FileVersion) -> "FileMeta":
        """A version's: its own bytes, ETag (its SHA-256), type and time; named as the file, with its extension."""
        return cls(
            id=str(file.pk),
            entity_id=str(file.entity_id),
            entity_type_id=file.entity_type_id,
            extension=version.url_suffix,
            media_type=version.media_type,
            name=file.name.rsplit(".", 1)[0] + version.extension,
            size=version.size,
            sha256=version.sha256,
            modified=version.created_at.timestamp(),
            storage_name=version.storage_name,
            # One verdict a file, its current content's: an earlier version waits with it while a new one is scanned.
            scan_status=file.scan_status,
            uploaded_by_id=version.created_by_id,
        )

    @classmethod
    def of_export(cls, export: Export) -> "FileMeta":
        """A ready export's ZIP, named after its record; ``modified`` is when it was asked for, its bytes written once.

        Its scan status is not asked: the link's own rules (``files.download.exports``) decide who reads it.
        """
        name = f"{export.record_type.model}-{export.record_id}{EXPORT_EXTENSION}"
        return cls(
            id=str(export.pk),
            entity_id=str(export.record_id),
            entity_type_id=export.record_type_id,
            extension=EXPORT_EXTENSION,
            media_type=EXPORT_MEDIA_TYPE,
            name=name,
            size=export.size,
            sha256=export.sha256,
            modified=export.created_at.timestamp(),
            storage_name=export.storage_name,
            scan_status="",
            uploaded_by_id=export.requested_by_id,
        )

    @cached_property
    def etag(self) -> str:
        return f'"{self.sha256}"'

    @cached_property
    def last_modified(self) -> str:
        return http_date(self.modified)

    @cached_property
    def inline_disposition(self) -> str:
        return http.content_disposition(self.name, attachment=self.media_type not in _INLINE_TYPES)

    @cached_property
    def attachment_disposition(self) -> str:
        return http.content_disposition(self.name, attachment=True)

    def store_disposition(self, disposition: str) -> str:
        """``disposition`` naming the file by its id, for a store's URL (which the store and proxies log)."""
        return http.content_disposition(f"{self.id}{self.extension}", attachment=disposition.startswith("attachment"))

    @cached_property
    def content_security_policy(self) -> str:
        return PDF_CONTENT_SECURITY_POLICY if self.media_type == PDF else CONTENT_SECURITY_POLICY

    # Every download of the file carries the same headers but Cache-Control and the serving mode's:
    # made once, while the metadata is cached.
    @cached_property
    def content_length(self) -> tuple[str, str]:
        return ("Content-Length", str(self.size))

    @cached_property
    def validators(self) -> tuple[tuple[str, str], ...]:
        return (("ETag", self.etag), ("Last-Modified", self.last_modified))

    @cached_property
    def inline_headers(self) -> tuple[tuple[str, str], ...]:
        return self._representation_headers(self.inline_disposition)

    @cached_property
    def attachment_headers(self) -> tuple[tuple[str, str], ...]:
        return self._representation_headers(self.attachment_disposition)

    def _representation_headers(self, disposition: str) -> tuple[tuple[str, str], ...]:
        return (
            ("Content-Type", self.media_type),
            ("Content-Disposition", disposition),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", self.content_security_policy),
            ("Referrer-Policy", "no-referrer"),
        )


@dataclass(slots=True)
class Reply:
    """A response in WSGI terms: status, headers and an iterable body (a FileSlice for sendfile)."""

    status: int
    headers: list[tuple[str, str]]
    body: Iterable[bytes]


# A live file's metadata, kept FILES_AUTH_CACHE_SECONDS: no file is served more than that after its row left.
_meta_cache: BoundedCache[FileMeta] = BoundedCache(size=10_000, ttl=conf.auth_cache_seconds)


def file_meta(*, file_id: str, entity_id: str, extension: str) -> FileMeta:
    """The metadata of the live file at ``{entity_id}/{file_id}{extension}``; raises ``File.DoesNotExist``.

    Whether the bytes are still at the file's live name is asked of storage
    on every request: a delete moves them away before it commits, so every
    worker stops serving the file at once (``files.services.storage``). That the row
    is still live is cached for ``FILES_AUTH_CACHE_SECONDS``, which bounds
    what a transaction rolled back by someone else could leave behind.
    """
    meta = _meta_cache.get_or_set(file_id, lambda: _original_meta(file_id))
    if meta.entity_id != entity_id or meta.extension != extension:
        raise File.DoesNotExist(file_id)
    return meta


def _original_meta(file_id: str) -> FileMeta:
    """Version 1 of a live file: its seed path serves what was first uploaded, immutable as every version's path."""
    file = File.objects.get(pk=file_id)
    return FileMeta.of(file) if file.version == 1 else FileMeta.of_version(file, file.versions.get(number=1))


# A derivative may be made again under another name (files_derivatives --all): its metadata lives a short while.
_derivative_cache: BoundedCache[FileMeta] = BoundedCache(size=20_000, ttl=conf.auth_cache_seconds)


def derivative_meta(*, file_id: str, entity_id: str, extension: str) -> FileMeta:
    """What serving needs of the derivative at ``{entity_id}/{file_id}.{variant}{ext}``: a ready one of a live file.

    It is served as its file is (same policy, same audit, same headers);
    raises ``File.DoesNotExist`` while it is not ready, or not there at all.
    """
    meta = _derivative_cache.get_or_set((file_id, extension), lambda: _derivative_meta(file_id, extension))
    if meta.entity_id != entity_id:
        raise File.DoesNotExist(file_id)
    return meta


def _derivative_meta(file_id: str, extension: str) -> FileMeta:
    variant = extension.split(".")[1]
    derivative = (
        Derivative.objects.select_related("file")
        .filter(file_id=file_id, file__deleted_at__isnull=True, variant=variant, state=Derivative.State.READY)
        .first()
    )
    if derivative is None or derivative.extension != extension:
        raise File.DoesNotExist(file_id)
    file = derivative.file
    return FileMeta(
        id=str(file.pk),
        entity_id=str(file.entity_id),
        entity_type_id=file.entity_type_id,
        extension=extension,
        media_type=derivative.media_type,
        name=file.name.rsplit(".", 1)[0] + extension,
        size=derivative.size,
        sha256=derivative.sha256,
        modified=derivative.updated_at.timestamp(),
        storage_name=derivative.storage_name,
        scan_status=file.scan_status,
        uploaded_by_id=file.uploaded_by_id,
    )


def reply(meta: FileMeta, environ: Mapping[str, str], *, max_age: int | None) -> Reply | None:
    """The response to a GET or HEAD for ``meta``'s bytes; ``None`` when the bytes are gone.

    ``environ`` is the WSGI environ (or Django's ``request.META``).
    ``max_age`` is how long a browser may reuse the response (a signed URL's
    remaining life); ``None`` makes it revalidate every time. Raises
    :class:`~files.exceptions.StorageUnavailable` when storage fails, or is
    too busy to wait on.
    """
    settings = config.current()
    # Bounded, and with the store's own timeouts: a stalled store holds a few threads, never all.
    with settings.storage_slot:
        try:
            blob = settings.open_blob(meta.storage_name)
        except FileNotFoundError:
            return None
        try:
            answer = _reply(meta, blob, settings.storage, environ, max_age, settings.server)
        except FileNotFoundError:
            answer = None  # deleted while this request was being answered
        except BaseException:
            blob.close()
            raise
        if answer is None or isinstance(answer.body, list):
            blob.close()  # otherwise the body owns it and the server closes it
        return answer


def _reply(
    meta: FileMeta, blob: backends.Blob, storage, environ: Mapping[str, str], max_age: int | None, server: "Server"
) -> Reply:
    cache_control = _cache_control(max_age)
    if _is_conditional(environ):
        status = _precondition_status(meta, environ)
        if status == 304:
            return Reply(304, [*meta.validators, cache_control], [])
        if status == 412:
            return error_reply(412, "Precondition failed")
    query = environ.get("QUERY_STRING", "")
    download = "download=1" in query and "download=1" in query.split("&")
    headers = [*meta.validators, cache_control, *(meta.attachment_headers if download else meta.inline_headers)]
    return server.send(meta, blob, storage, environ, headers)


def _is_conditional(environ: Mapping[str, str]) -> bool:
    # Most downloads are not, and skip the conditional-request rules.
    return (
        "HTTP_IF_NONE_MATCH" in environ
        or "HTTP_IF_MODIFIED_SINCE" in environ
        or "HTTP_IF_MATCH" in environ
        or "HTTP_IF_UNMODIFIED_SINCE" in environ
    )


def _precondition_status(meta: FileMeta, environ: Mapping[str, str]) -> int | None:
    return http.check_preconditions(
        method=environ.get("REQUEST_METHOD", "GET"),
        if_match=environ.get("HTTP_IF_MATCH"),
        if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
        if_modified_since=environ.get("HTTP_IF_MODIFIED_SINCE"),
        if_unmodified_since=environ.get("HTTP_IF_UNMODIFIED_SINCE"),
        etag=meta.etag,
        last_modified=meta.modified,
    )


def error_reply(status: int, detail: str, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    """An error in the API's format, ``{"detail": "..."}``."""
    body = json.dumps({"detail": detail}).encode()
    return Reply(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
            *headers,
        ],
        [body],
    )


class Server:
    """A serving mode: how the bytes of a download the service said yes to leave it.

    ``FILES_SERVE_MODE`` names one (``stream``, ``accel``, ``redirect``) or
    gives the dotted path of a subclass: a new mode is one new class.
    ``headers`` are those every download carries (validators, type,
    disposition, security headers); the answer adds the mode's own.
    """

    def send(self, meta: FileMeta, blob: backends.Blob, storage, environ: Mapping[str, str], headers: list) -> Reply:
        raise NotImplementedError


class StreamServer(Server):
    """The service sends the bytes: zero copy through the WSGI server's ``sendfile`` on local disk."""

    def send(self, meta, blob, storage, environ, headers) -> Reply:
        headers.append(("Accept-Ranges", "bytes"))
        ranges = None
        if "HTTP_RANGE" in environ and http.if_range_allows_partial(
            environ.get("HTTP_IF_RANGE"), etag=meta.etag, last_modified=meta.modified
        ):
            try:
                ranges = http.parse_range(environ.get("HTTP_RANGE"), meta.size)
            except http.RangeNotSatisfiable:
                return _range_not_satisfiable(meta)
        head = environ.get("REQUEST_METHOD") == "HEAD"
        if ranges is None:
            body = [] if head or meta.size == 0 else _body(blob, 0, meta.size - 1)
            headers.append(meta.content_length)
            return Reply(200, headers, body)
        if len(ranges) == 1:
            first, last = ranges[0]
            body = [] if head else _body(blob, first, last)
            range_headers = [("Content-Range", http.content_range(first, last, meta.size))]
            return Reply(206, [*headers, *range_headers, ("Content-Length", str(last - first + 1))], body)
        plan = http.MultipartByteranges(ranges, meta.size, meta.media_type)
        headers = [(name, value) for name, value in headers if name != "Content-Type"]
        headers += [("Content-Type", plan.content_type), ("Content-Length", str(plan.content_length))]
        return Reply(206, headers, [] if head else _multipart_body(plan, blob))


class AccelServer(StreamServer):
    """nginx sends the bytes after the service said yes (``X-Accel-Redirect``), for the requests it answers alike.

    nginx judges ranges and conditionals again, by rules of its own: a
    malformed range or a range past the end is its own 416 page, several
    ranges its own multipart body in the order asked, If-Range and If-Match
    are compared with its validators. So it is handed only a whole file or
    one plain range the service found satisfiable, with no If-Range,
    If-Match or If-Unmodified-Since; the service streams every other request
    itself, exactly as stream mode does (see ``_nginx_answers_alike``).
    """

    def send(self, meta, blob, storage, environ, headers) -> Reply:
        if not _nginx_answers_alike(environ, meta.size):
            return super().send(meta, blob, storage, environ, headers)
        location = backends.accel_location(
            storage, meta.storage_name, prefix=conf.accel_prefix(), lifetime=conf.redirect_lifetime()
        )
        # nginx sends Accept-Ranges itself on a whole file, not on a range, and keeps the app's across the redirect.
        if "HTTP_RANGE" in environ:
            headers = [*headers, ("Accept-Ranges", "bytes")]
        # An empty body of known length: after a chunked one (what a WSGI server sends when no length is given)
        # nginx closes its connection to the app, and every download would open and tear down one of its own.
        return Reply(200, [*headers, ("X-Accel-Redirect", location), ("Content-Length", "0")], [])


# A Range nginx and the service read the same way: one range, its numbers short enough never to overflow nginx's.
_PLAIN_RANGE = re.compile(r"bytes=(?:[0-9]{1,15}-[0-9]{0,15}|-[0-9]{1,15})")


def _nginx_answers_alike(environ: Mapping[str, str], size: int) -> bool:
    """Whether nginx, sending the file for this request, gives the very answer stream mode would."""
    if environ.get("HTTP_IF_MATCH") is not None or environ.get("HTTP_IF_UNMODIFIED_SINCE") is not None:
        return False
    header = environ.get("HTTP_RANGE")
    if header is None:
        return True
    if environ.get("HTTP_IF_RANGE") is not None or not _PLAIN_RANGE.fullmatch(header):
        return False
    try:
        ranges = http.parse_range(header, size)
    except http.RangeNotSatisfiable:
        return False  # the service's 416, with Content-Range, not nginx's page
    return ranges is not None and len(ranges) == 1


class RedirectServer(Server):
    """A 302 to a short-lived presigned URL of the object store, which sends the bytes itself.

    The 302 is cached for at most half the URL's life and carries no
    validator, so a browser never revalidates it into following an expired
    URL. The URL names the file by its id: the original name would sit in
    the store's and every proxy's logs. The store answers with the file's
    type, disposition and Cache-Control (the URL's response overrides); it
    cannot send nosniff, a Content-Security-Policy or Referrer-Policy (README, Downloads).
    """

    def send(self, meta, blob, storage, environ, headers) -> Reply:
        given = dict(headers)
        lifetime = conf.redirect_lifetime()
        cache_control = _redirect_cache_control(given["Cache-Control"], lifetime)
        location = backends.presigned_url(
            storage,
            meta.storage_name,
            lifetime=lifetime,
            content_type=meta.media_type,
            disposition=meta.store_disposition(given["Content-Disposition"]),
            cache_control=cache_control,
        )
        dropped = {"Content-Type", "Content-Disposition", "Cache-Control", "ETag", "Last-Modified"}
        kept = [(name, value) for name, value in headers if name not in dropped]
        redirect = [("Cache-Control", cache_control), ("Location", location), ("Content-Length", "0")]
        return Reply(302, [*kept, *redirect], [])


def _redirect_cache_control(download_cache_control: str, lifetime: int) -> str:
    """How long a browser may follow the same 302: no longer than the download, and half its target's life.

    Half, so that a cached redirect always leads to a URL with time left.
    """
    _, _, seconds = download_cache_control.partition("max-age=")
    if not seconds or lifetime < 2:
        return "no-store"
    return f"private, max-age={min(int(seconds), lifetime // 2)}"


#: Up to this many bytes, a body is read while the request is answered and leaves with the first write after the
#: headers. For a thumbnail or a short letter, the WSGI server's sendfile (its file wrapper, a stat, two seeks,
#: the call) costs more than copying a few KiB: measured under gunicorn, 10 KiB downloads went from 0.92 to 1.02
#: of WhiteNoise's rate (bench/README.md). Bigger bodies are never held in memory: they go out with sendfile.
SMALL_BODY = 64 * 1024


def _body(blob: backends.Blob, first: int, last: int) -> backends.FileSlice | list[bytes]:
    """Bytes ``first`` to ``last`` of ``blob``: read now when small (:data:`SMALL_BODY`), else a slice sent later.

    Raises FileNotFoundError when fewer bytes are stored than the file's
    record says (its bytes replaced or cut short behind the service's back):
    they are not the file's, and a body shorter than its ``Content-Length``
    would leave the client waiting.
    """
    piece = blob.slice(first, last)
    if last - first + 1 > SMALL_BODY:
        return piece
    try:
        data = b"".join(iter(piece.read, b""))  # a store's stream may hand its bytes over in several reads
    finally:
        piece.close()
    if len(data) != last - first + 1:
        raise FileNotFoundError(f"{len(data)} of {last - first + 1} bytes stored")
    return [data]


def _multipart_body(plan: http.MultipartByteranges, blob: backends.Blob) -> Iterator[bytes]:
    try:
        for part_header, first, last in plan.parts():
            yield part_header
            yield from blob.slice(first, last)
    finally:
        blob.close()
    yield plan.closing


def _range_not_satisfiable(meta: FileMeta) -> Reply:
    return error_reply(416, "Range not satisfiable", [("Content-Range", f"bytes */{meta.size}")])


def _cache_control(max_age: int | None) -> tuple[str, str]:
    if max_age is None or max_age <= 0:
        return ("Cache-Control", "private, no-cache")
    return ("Cache-Control", f"private, max-age={max_age}")
