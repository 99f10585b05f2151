"""The files app's settings, each read at call time with its default.

Reading at call time (rather than at import) keeps ``override_settings``
working in tests and lets a host project set any of them in its settings.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage, storages
from django.utils.module_loading import import_string

from files.kinds import KINDS

#: Categories a file may be filed under (the File object's ``type``).
DEFAULT_CATEGORIES = ("document", "image", "profile", "report", "prescription", "scan", "other")


def categories() -> tuple[str, ...]:
    """``FILES_CATEGORIES``: the allowed values of a file's ``type``."""
    return tuple(getattr(settings, "FILES_CATEGORIES", DEFAULT_CATEGORIES))


def default_category() -> str:
    """``FILES_DEFAULT_CATEGORY``: the ``type`` of an upload that names none."""
    return getattr(settings, "FILES_DEFAULT_CATEGORY", "document")


def storage() -> Storage:
    """``FILES_STORAGE``: the alias in ``STORAGES`` that holds the files' bytes."""
    return storages[getattr(settings, "FILES_STORAGE", "default")]


def public_base_url() -> str | None:
    """``FILES_PUBLIC_BASE_URL``: scheme and host of the files' ``url``.

    Set it behind a proxy that does not pass the public host on; when it is
    ``None`` the URL is built from the request.
    """
    value = getattr(settings, "FILES_PUBLIC_BASE_URL", None)
    return value.rstrip("/") if value else None


def url_lifetime() -> int:
    """``FILES_URL_LIFETIME``: seconds a signed file URL stays valid (default 15 minutes).

    Long enough to open a page and read a document (browsers fetch the rest
    of a PDF in the background once it opens); short enough that a URL
    copied from a history or a log is soon useless. Clients get fresh URLs by
    reading the record again.
    """
    return int(getattr(settings, "FILES_URL_LIFETIME", 15 * 60))


SERVE_MODES = ("stream", "accel", "redirect")


def serve_mode() -> str:
    """``FILES_SERVE_MODE``: how a file's bytes leave the service.

    ``stream`` (default): the service sends them (zero copy through the WSGI
    server's ``sendfile`` on local disk); ``accel``: nginx sends them after the
    service said yes (``X-Accel-Redirect``); ``redirect``: a 302 to a
    short-lived presigned URL of the object store.
    """
    mode = getattr(settings, "FILES_SERVE_MODE", "stream")
    if mode not in SERVE_MODES:
        raise ImproperlyConfigured(f"FILES_SERVE_MODE must be one of {', '.join(SERVE_MODES)}, not {mode!r}")
    return mode


def accel_prefix() -> str:
    """``FILES_ACCEL_PREFIX``: nginx's internal location for the files' storage root (``accel`` mode)."""
    return getattr(settings, "FILES_ACCEL_PREFIX", "/_protected_files/")


def redirect_lifetime() -> int:
    """``FILES_REDIRECT_LIFETIME``: seconds a presigned store URL lives (``redirect`` mode)."""
    return int(getattr(settings, "FILES_REDIRECT_LIFETIME", 60))


def auth_cache_seconds() -> float:
    """``FILES_AUTH_CACHE_SECONDS``: how long the download path trusts a token's user and permissions."""
    return float(getattr(settings, "FILES_AUTH_CACHE_SECONDS", 10))


def trash_retention() -> timedelta:
    """``FILES_TRASH_RETENTION_DAYS``: how long a deleted file can be restored (default 30; 0 purges at once)."""
    return timedelta(days=float(getattr(settings, "FILES_TRASH_RETENTION_DAYS", 30)))


def max_upload_size() -> int:
    """``FILES_MAX_UPLOAD_SIZE``: the largest file accepted, in bytes."""
    return int(getattr(settings, "FILES_MAX_UPLOAD_SIZE", 50 * 1024 * 1024))


#: The largest file of some categories, in bytes: photos are smaller than scans and documents.
DEFAULT_MAX_UPLOAD_SIZES = {"profile": 5 * 1024 * 1024, "image": 20 * 1024 * 1024}


def max_upload_size_for(category: str) -> int:
    """``FILES_MAX_UPLOAD_SIZES``: the largest file ``category`` accepts, in bytes.

    A category it does not name takes ``FILES_MAX_UPLOAD_SIZE``, which caps
    every category anyway: it is enforced while the upload streams in, before
    the category is known.
    """
    overall = max_upload_size()
    sizes = getattr(settings, "FILES_MAX_UPLOAD_SIZES", DEFAULT_MAX_UPLOAD_SIZES)
    return min(int(sizes.get(category, overall)), overall)


def max_request_size() -> int:
    """``FILES_MAX_REQUEST_SIZE``: the most bytes the files of one request may hold together."""
    return int(getattr(settings, "FILES_MAX_REQUEST_SIZE", 100 * 1024 * 1024))


def max_image_pixels() -> int:
    """``FILES_MAX_IMAGE_PIXELS``: the most pixels (width x height) an uploaded image may declare.

    Checked on the image's header before any pixel is decoded, so a small
    file declaring a huge image (a decompression bomb) costs nothing.
    """
    return int(getattr(settings, "FILES_MAX_IMAGE_PIXELS", 50_000_000))


#: ``FILES_ALLOWED_KINDS``' default: photos are images, other categories take all kinds.
DEFAULT_ALLOWED_KINDS = {"profile": ("png", "jpeg"), "image": ("png", "jpeg")}


def allowed_kinds(category: str) -> tuple[str, ...]:
    """``FILES_ALLOWED_KINDS``: the kinds of file, detected from the bytes, that ``category`` accepts.

    The setting maps a category to names among :data:`files.kinds.KINDS`; a
    category it does not name accepts them all.
    """
    every = tuple(KINDS)
    kinds = tuple(getattr(settings, "FILES_ALLOWED_KINDS", DEFAULT_ALLOWED_KINDS).get(category, every))
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
    return int(getattr(settings, "FILES_MAX_IMAGE_TEXT_SIZE", 256 * 1024))


def max_archive_size() -> int:
    """``FILES_MAX_ARCHIVE_SIZE``: the most bytes a .docx's parts may hold together, uncompressed (200 MiB)."""
    return int(getattr(settings, "FILES_MAX_ARCHIVE_SIZE", 200 * 1024 * 1024))


def max_archive_members() -> int:
    """``FILES_MAX_ARCHIVE_MEMBERS``: the most parts a .docx may hold (2000)."""
    return int(getattr(settings, "FILES_MAX_ARCHIVE_MEMBERS", 2000))


def max_compression_ratio() -> int:
    """``FILES_MAX_COMPRESSION_RATIO``: how many times a .docx part past 1 MiB may have been compressed (100).

    Text compresses some ten times, images not at all; a part that
    inflates a thousandfold is a bomb.
    """
    return int(getattr(settings, "FILES_MAX_COMPRESSION_RATIO", 100))


def max_pdf_objects() -> int:
    """``FILES_MAX_PDF_OBJECTS``: the most objects a PDF may hold to be checked for active content (100000)."""
    return int(getattr(settings, "FILES_MAX_PDF_OBJECTS", 100_000))


def pdf_check_seconds() -> float:
    """``FILES_PDF_CHECK_SECONDS``: how long reading a PDF's objects for active content may take (10 s)."""
    return float(getattr(settings, "FILES_PDF_CHECK_SECONDS", 10))


def max_files_per_request() -> int:
    """``FILES_MAX_FILES_PER_REQUEST``: how many ``file`` parts one upload may carry."""
    return int(getattr(settings, "FILES_MAX_FILES_PER_REQUEST", 20))


def permission_policy():
    """``FILES_PERMISSION_POLICY``: dotted path of the class deciding who may do what."""
    path = getattr(settings, "FILES_PERMISSION_POLICY", "files.permissions.ModelPermissionPolicy")
    return import_string(path)()


def audit_flush_seconds() -> float:
    """``FILES_AUDIT_FLUSH_SECONDS``: how often download events are written to the audit trail, in a batch.

    1 second by default; 0 writes each at once (slower downloads, nothing
    lost if the process is killed). Uploads and deletions are always written
    in their own transaction.
    """
    return float(getattr(settings, "FILES_AUDIT_FLUSH_SECONDS", 1))


def client_address_header() -> str | None:
    """``FILES_CLIENT_ADDRESS_HEADER``: the ``request.META`` key holding the client's address behind a proxy.

    e.g. ``"HTTP_X_REAL_IP"``, set by the proxy in front; ``None`` (default)
    records the peer's address. Never set it without a proxy that overwrites
    the header: a client could write any address into the audit trail.
    """
    return getattr(settings, "FILES_CLIENT_ADDRESS_HEADER", None)
