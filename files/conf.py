"""The files app's settings, each read at call time with its default.

Reading at call time (rather than at import) keeps ``override_settings``
working in tests and lets a host project set any of them in its settings.
A value read is remembered until a setting changes (``setting_changed``,
which only tests send): the download path asks several on every request,
and a setting the project leaves at its default costs Django a caught
``AttributeError`` each time.
"""

import functools
import re
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from files.content.kinds import KINDS

_MiB = 1024 * 1024


#: Every ``FILES_*`` setting and its default: the only place a default is written.
#: A host project (``clinic/settings.py`` included) sets only what it changes.
DEFAULTS: Mapping[str, object] = MappingProxyType(
    {
        "FILES_CATEGORIES": ("document", "image", "profile", "report", "prescription", "scan", "other"),
        "FILES_DEFAULT_CATEGORY": "document",
        "FILES_STORAGE": "default",
        "FILES_PUBLIC_BASE_URL": None,
        "FILES_URL_LIFETIME": 15 * 60,
        "FILES_SERVE_MODE": "stream",
        "FILES_ACCEL_PREFIX": "/_protected_files/",
        "FILES_REDIRECT_LIFETIME": 60,
        "FILES_AUTH_CACHE_SECONDS": 10,
        "FILES_TRASH_RETENTION_DAYS": 30,
        "FILES_EXPORT_LIFETIME": 24 * 60 * 60,
        "FILES_MAX_UPLOAD_SIZE": 50 * _MiB,
        # Photos are smaller than scans and documents.
        "FILES_MAX_UPLOAD_SIZES": {"profile": 5 * _MiB, "image": 20 * _MiB},
        "FILES_MAX_REQUEST_SIZE": 100 * _MiB,
        "FILES_MAX_IMAGE_PIXELS": 50_000_000,
        "FILES_MAX_IMAGE_TEXT_SIZE": 256 * 1024,
        # Word files (.docx are ZIP archives) and PDFs, read part by part and object by object.
        "FILES_MAX_ARCHIVE_SIZE": 200 * _MiB,
        "FILES_MAX_ARCHIVE_MEMBERS": 2000,
        "FILES_MAX_COMPRESSION_RATIO": 100,
        "FILES_MAX_PDF_OBJECTS": 100_000,
        "FILES_PDF_CHECK_SECONDS": 10,
        # Photos are images; other categories take every kind.
        "FILES_ALLOWED_KINDS": {"profile": ("png", "jpeg"), "image": ("png", "jpeg")},
        "FILES_MAX_FILES_PER_REQUEST": 20,
        # A record's JSON embeds this many of its files; the rest are paged at files_url.
        "FILES_EMBED_LIMIT": 100,
        "FILES_PERMISSION_POLICY": "files.policy.ModelPermissionPolicy",
        "FILES_AUDIT_FLUSH_SECONDS": 1,
        "FILES_CLIENT_ADDRESS_HEADER": None,
        "FILES_REFUSAL_RATE": "60/minute",
        "FILES_UPLOAD_TEMP_DIR": None,
        # An unfinished resumable (tus) upload is kept this long after its last chunk, then swept.
        "FILES_RESUMABLE_LIFETIME": 24 * 3600,
        # A direct-to-S3 upload's presigned POST, and its finalize, are valid this long; then swept after the grace.
        "FILES_DIRECT_UPLOAD_LIFETIME": 3600,
        "FILES_DIRECT_UPLOAD_GRACE": 3600,
        # Smaller pictures of images, PDFs (page 1) and Word files (an icon), each fitting its box.
        "FILES_DERIVATIVE_VARIANTS": {"thumbnail": (256, 256), "preview": (1024, 1024)},
        "FILES_DERIVATIVE_FORMAT": "image/webp",
        "FILES_DERIVATIVE_SECONDS": 60,
        # A stalled store fails a request within seconds instead of holding its thread for minutes.
        "FILES_STORAGE_CONNECT_TIMEOUT": 2,
        "FILES_STORAGE_READ_TIMEOUT": 5,
        "FILES_STORAGE_MAX_ATTEMPTS": 2,
        "FILES_STORAGE_CONCURRENCY": 4,
        "FILES_STORAGE_WAIT": 0.1,
        # Malware scanning (files.scanning): clamd's socket ("/run/clamav/clamd.ctl", "tcp://host:3310"); None: off.
        "FILES_CLAMD": None,
        "FILES_CLAMD_TIMEOUT": 60,
        # Who may download a file the scanner has not found clean: "uploader_and_admins", or "nobody".
        "FILES_PENDING_DOWNLOADS": "uploader_and_admins",
    }
)


def setting(name: str):
    """The value of the files setting ``name``: the project's, else its default."""
    try:
        return _read[name]
    except KeyError:
        value = _read[name] = getattr(settings, name, DEFAULTS[name])
        return value


_read: dict[str, object] = {}


def _forget(**kwargs) -> None:
    _read.clear()


setting_changed.connect(_forget, dispatch_uid="files.conf")


def categories() -> tuple[str, ...]:
    """``FILES_CATEGORIES``: the allowed values of a file's ``type``."""
    return tuple(setting("FILES_CATEGORIES"))


def default_category() -> str:
    """``FILES_DEFAULT_CATEGORY``: the ``type`` of an upload that names none."""
    return setting("FILES_DEFAULT_CATEGORY")


def storage() -> Storage:
    """``FILES_STORAGE``: the alias in ``STORAGES`` that holds the files' bytes."""
    return storages[setting("FILES_STORAGE")]


def public_base_url() -> str | None:
    """``FILES_PUBLIC_BASE_URL``: scheme and host of the files' ``url``.

    Set it behind a proxy that does not pass the public host on; when it is
    ``None`` the URL is built from the request.
    """
    value = setting("FILES_PUBLIC_BASE_URL")
    return value.rstrip("/") if value else None


def url_lifetime() -> int:
    """``FILES_URL_LIFETIME``: seconds a signed file URL stays valid (default 15 minutes).

    Long enough to open a page and read a document (browsers fetch the rest
    of a PDF in the background once it opens); short enough that a URL
    copied from a history or a log is soon useless. Clients get fresh URLs by
    reading the record again.
    """
    return int(setting("FILES_URL_LIFETIME"))


#: The serving modes ``FILES_SERVE_MODE`` names; it may also give the path of a ``files.download.serving.Server``.
SERVE_MODES = {
    "stream": "files.download.serving.StreamServer",
    "accel": "files.download.serving.AccelServer",
    "redirect": "files.download.serving.RedirectServer",
}


def server():
    """``FILES_SERVE_MODE``: how a file's bytes leave the service, as a ``files.download.serving.Server``.

    ``stream`` (default): the service sends them (zero copy through the WSGI
    server's ``sendfile`` on local disk); ``accel``: nginx sends them after the
    service said yes (``X-Accel-Redirect``); ``redirect``: a 302 to a
    short-lived presigned URL of the object store.
    """
    return _server(setting("FILES_SERVE_MODE"))


@functools.lru_cache(maxsize=8)
def _server(mode: str):
    try:
        server_class = import_string(SERVE_MODES.get(mode, mode))
    except ImportError:
        modes = ", ".join(SERVE_MODES)
        raise ImproperlyConfigured(
            f"FILES_SERVE_MODE must be one of {modes} or a Server's path, not {mode!r}"
        ) from None
    return server_class()


def embed_limit() -> int:
    """``FILES_EMBED_LIMIT``: the most files a record's JSON embeds in ``files`` (its ``files_url`` pages them all).

    Bounds the rows, memory and bytes of a record's answer whatever the
    number of its files.
    """
    return int(setting("FILES_EMBED_LIMIT"))


def accel_prefix() -> str:
    """``FILES_ACCEL_PREFIX``: nginx's internal location for the files' storage root (``accel`` mode)."""
    return setting("FILES_ACCEL_PREFIX")


def redirect_lifetime() -> int:
    """``FILES_REDIRECT_LIFETIME``: seconds a presigned store URL lives (``redirect`` mode)."""
    return int(setting("FILES_REDIRECT_LIFETIME"))


def auth_cache_seconds() -> float:
    """``FILES_AUTH_CACHE_SECONDS``: how long the download path trusts a token's or signed URL's user."""
    return float(setting("FILES_AUTH_CACHE_SECONDS"))


def upload_temp_dir() -> Path:
    """``FILES_UPLOAD_TEMP_DIR``: the folder uploads stream to before they are stored; the service's alone.

    ``files_cleanup`` removes what a killed worker left there. By default
    ``files-uploads`` in Django's ``FILE_UPLOAD_TEMP_DIR`` or the system's
    temporary folder; created (readable by the service's user only) if missing.
    """
    value = setting("FILES_UPLOAD_TEMP_DIR")
    return Path(value) if value else Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir()) / "files-uploads"


def resumable_lifetime() -> timedelta:
    """``FILES_RESUMABLE_LIFETIME``: seconds a resumable upload waits for its next chunk (24 h), then expires.

    ``files_cleanup`` removes expired uploads and their staged bytes.
    """
    return timedelta(seconds=float(setting("FILES_RESUMABLE_LIFETIME")))


def direct_upload_lifetime() -> timedelta:
    """``FILES_DIRECT_UPLOAD_LIFETIME``: seconds a direct upload's presigned POST, and its finalize, are valid (1 h)."""
    return timedelta(seconds=int(setting("FILES_DIRECT_UPLOAD_LIFETIME")))


def direct_upload_grace() -> timedelta:
    """``FILES_DIRECT_UPLOAD_GRACE``: seconds an expired direct upload, and bytes under ``incoming/``, are kept (1 h).

    A POST begun just before its form expired may still be arriving; past
    this, ``files_cleanup`` removes the upload and whatever it left.
    """
    return timedelta(seconds=int(setting("FILES_DIRECT_UPLOAD_GRACE")))


def trash_retention() -> timedelta:
    """``FILES_TRASH_RETENTION_DAYS``: how long a deleted file can be restored (default 30; 0 purges at once)."""
    return timedelta(days=float(setting("FILES_TRASH_RETENTION_DAYS")))


def export_lifetime() -> timedelta:
    """``FILES_EXPORT_LIFETIME``: seconds a background export is kept and its link valid (default 24 h)."""
    return timedelta(seconds=int(setting("FILES_EXPORT_LIFETIME")))


def max_upload_size() -> int:
    """``FILES_MAX_UPLOAD_SIZE``: the largest file accepted, in bytes."""
    return int(setting("FILES_MAX_UPLOAD_SIZE"))


def max_upload_size_for(category: str) -> int:
    """``FILES_MAX_UPLOAD_SIZES``: the largest file ``category`` accepts, in bytes.

    A category it does not name takes ``FILES_MAX_UPLOAD_SIZE``, which caps
    every category anyway: it is enforced while the upload streams in, before
    the category is known.
    """
    overall = max_upload_size()
    sizes = setting("FILES_MAX_UPLOAD_SIZES")
    return min(int(sizes.get(category, overall)), overall)


def max_request_size() -> int:
    """``FILES_MAX_REQUEST_SIZE``: the most bytes the files of one request may hold together."""
    return int(setting("FILES_MAX_REQUEST_SIZE"))


def max_image_pixels() -> int:
    """``FILES_MAX_IMAGE_PIXELS``: the most pixels (width x height) an uploaded image may declare.

    Checked on the image's header before any pixel is decoded, so a small
    file declaring a huge image (a decompression bomb) costs nothing.
    """
    return int(setting("FILES_MAX_IMAGE_PIXELS"))


def allowed_kinds(category: str) -> tuple[str, ...]:
    """``FILES_ALLOWED_KINDS``: the kinds of file, detected from the bytes, that ``category`` accepts.

    The setting maps a category to names among :data:`files.content.kinds.KINDS`; a
    category it does not name accepts them all.
    """
    every = tuple(KINDS)
    kinds = tuple(setting("FILES_ALLOWED_KINDS").get(category, every))
    if not kinds or not set(kinds) <= set(every):
        raise ImproperlyConfigured(
            f"FILES_ALLOWED_KINDS[{category!r}] must list kinds among {', '.join(every)}, not {kinds!r}"
        )
    return kinds


def max_image_text_size() -> int:
    """``FILES_MAX_IMAGE_TEXT_SIZE``: the most bytes of text metadata a PNG may hold, decompressed (256 KiB).

    Its text chunks are read, and ``zTXt`` inflated, no further than this:
    a compressed text bomb is refused after this many bytes.
    """
    return int(setting("FILES_MAX_IMAGE_TEXT_SIZE"))


def max_archive_size() -> int:
    """``FILES_MAX_ARCHIVE_SIZE``: the most bytes a .docx's parts may hold together, uncompressed (200 MiB)."""
    return int(setting("FILES_MAX_ARCHIVE_SIZE"))


def max_archive_members() -> int:
    """``FILES_MAX_ARCHIVE_MEMBERS``: the most parts a .docx may hold (2000)."""
    return int(setting("FILES_MAX_ARCHIVE_MEMBERS"))


def max_compression_ratio() -> int:
    """``FILES_MAX_COMPRESSION_RATIO``: how many times a .docx part past 1 MiB may have been compressed (100).

    Text compresses some ten times, images not at all; a part that
    inflates a thousandfold is a bomb.
    """
    return int(setting("FILES_MAX_COMPRESSION_RATIO"))


def max_pdf_objects() -> int:
    """``FILES_MAX_PDF_OBJECTS``: the most objects a PDF may hold to be checked for active content (100000)."""
    return int(setting("FILES_MAX_PDF_OBJECTS"))


def pdf_check_seconds() -> float:
    """``FILES_PDF_CHECK_SECONDS``: how long reading a PDF's objects for active content may take (10 s)."""
    return float(setting("FILES_PDF_CHECK_SECONDS"))


def max_files_per_request() -> int:
    """``FILES_MAX_FILES_PER_REQUEST``: how many ``file`` parts one upload may carry."""
    return int(setting("FILES_MAX_FILES_PER_REQUEST"))


def permission_policy():
    """``FILES_PERMISSION_POLICY``: dotted path of the class deciding who may do what."""
    path = setting("FILES_PERMISSION_POLICY")
    return import_string(path)()


def audit_flush_seconds() -> float:
    """``FILES_AUDIT_FLUSH_SECONDS``: how often download events are written to the audit trail, in a batch.

    1 second by default; 0 writes each at once (slower downloads, nothing
    lost if the process is killed). Uploads and deletions are always written
    in their own transaction.
    """
    return float(setting("FILES_AUDIT_FLUSH_SECONDS"))


def client_address_header() -> str | None:
    """``FILES_CLIENT_ADDRESS_HEADER``: the ``request.META`` key holding the client's address behind a proxy.

    e.g. ``"HTTP_X_REAL_IP"``, set by the proxy in front; ``None`` (default)
    records the peer's address. Never set it without a proxy that overwrites
    the header: a client could write any address into the audit trail.
    """
    return setting("FILES_CLIENT_ADDRESS_HEADER")


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def refusal_rate() -> tuple[int, int] | None:
    """``FILES_REFUSAL_RATE``: how many refused requests a client may make per period, as ``(count, seconds)``.

    Written like DRF's rates: ``"60/minute"`` (default), ``"1000/hour"``,
    ``"5/second"``, ``"10000/day"``; ``None`` counts nothing. Past it, the
    client's refusals are answered 429 until the period ends (``files.limits``).
    """
    value = setting("FILES_REFUSAL_RATE")
    if value is None:
        return None
    count, _, period = str(value).partition("/")
    if not count.strip().isdigit() or period.strip()[:1].lower() not in _PERIODS:
        raise ImproperlyConfigured(f'FILES_REFUSAL_RATE must read like "60/minute", not {value!r}')
    return int(count), _PERIODS[period.strip()[0].lower()]


def derivative_variants() -> dict[str, tuple[int, int]]:
    """``FILES_DERIVATIVE_VARIANTS``: each derivative's name and the box (width, height) it fits in.

    ``thumbnail`` (256x256) and ``preview`` (1024x1024) by default; the File
    object shows ``thumbnail_url`` and ``preview_url``.
    """
    variants = setting("FILES_DERIVATIVE_VARIANTS")
    # A version's path ends in ".v{n}{ext}" (files.download.versions): a variant must not read as one.
    if any(re.fullmatch(r"v[0-9]+", name) for name in variants):
        raise ImproperlyConfigured("FILES_DERIVATIVE_VARIANTS: a name like \"v2\" is a version's, not a variant's")
    return {name: (int(box[0]), int(box[1])) for name, box in variants.items()}


def derivative_format() -> str:
    """``FILES_DERIVATIVE_FORMAT``: ``image/webp`` (default) or ``image/jpeg``."""
    value = setting("FILES_DERIVATIVE_FORMAT")
    if value not in ("image/webp", "image/jpeg"):
        raise ImproperlyConfigured(f'FILES_DERIVATIVE_FORMAT must be "image/webp" or "image/jpeg", not {value!r}')
    return value


def derivative_seconds() -> int:
    """``FILES_DERIVATIVE_SECONDS``: how long making one file's derivatives may take on a worker (60)."""
    return int(setting("FILES_DERIVATIVE_SECONDS"))


def storage_connect_timeout() -> float:
    """``FILES_STORAGE_CONNECT_TIMEOUT``: seconds to open a connection to the object store (2)."""
    return float(setting("FILES_STORAGE_CONNECT_TIMEOUT"))


def storage_read_timeout() -> float:
    """``FILES_STORAGE_READ_TIMEOUT``: seconds the object store may stay silent during a call (5).

    Per read, not per call: a large upload or download takes as long as it
    needs while bytes keep coming.
    """
    return float(setting("FILES_STORAGE_READ_TIMEOUT"))


def storage_max_attempts() -> int:
    """``FILES_STORAGE_MAX_ATTEMPTS``: tries of a failed call to the object store, the first one included (2)."""
    return int(setting("FILES_STORAGE_MAX_ATTEMPTS"))


def storage_concurrency() -> int:
    """``FILES_STORAGE_CONCURRENCY``: how many downloads of one process may wait on storage at once (4).

    Keep it below the process's threads (gunicorn's ``GUNICORN_THREADS``,
    8): when the store stalls, the other threads still answer the API,
    ``/healthz`` and ``/readyz``.
    """
    return int(setting("FILES_STORAGE_CONCURRENCY"))


def storage_wait() -> float:
    """``FILES_STORAGE_WAIT``: seconds a download waits for one of those places before answering 503 (0.1)."""
    return float(setting("FILES_STORAGE_WAIT"))


def clamd_address() -> str | None:
    """``FILES_CLAMD``: where clamd listens (a unix socket's path, or ``tcp://host:port``); None: no scanning.

    Without it new files stay ``pending`` and are not held back (nothing
    would ever clear them): set it in production.
    """
    return setting("FILES_CLAMD") or None


def clamd_timeout() -> float:
    """``FILES_CLAMD_TIMEOUT``: seconds clamd may take to answer a scan before it counts as down."""
    return float(setting("FILES_CLAMD_TIMEOUT"))


PENDING_DOWNLOADS = ("uploader_and_admins", "nobody")


def pending_downloads() -> str:
    """``FILES_PENDING_DOWNLOADS``: who may download a file not found clean: ``uploader_and_admins`` or ``nobody``."""
    value = setting("FILES_PENDING_DOWNLOADS")
    if value not in PENDING_DOWNLOADS:
        raise ImproperlyConfigured(f"FILES_PENDING_DOWNLOADS must be one of {PENDING_DOWNLOADS}, not {value!r}")
    return value
