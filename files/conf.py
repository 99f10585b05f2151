"""The files app's settings, each read at call time with its default.

Reading at call time (rather than at import) keeps ``override_settings``
working in tests and lets a host project set any of them in its settings.
"""

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.utils.module_loading import import_string

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


def max_upload_size() -> int:
    """``FILES_MAX_UPLOAD_SIZE``: the largest file accepted, in bytes."""
    return int(getattr(settings, "FILES_MAX_UPLOAD_SIZE", 50 * 1024 * 1024))


def max_files_per_request() -> int:
    """``FILES_MAX_FILES_PER_REQUEST``: how many ``file`` parts one upload may carry."""
    return int(getattr(settings, "FILES_MAX_FILES_PER_REQUEST", 20))


def permission_policy():
    """``FILES_PERMISSION_POLICY``: dotted path of the class deciding who may do what."""
    path = getattr(settings, "FILES_PERMISSION_POLICY", "files.permissions.ModelPermissionPolicy")
    return import_string(path)()
