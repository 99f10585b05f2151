"""Where the project mounted the files app: the URL prefixes of its downloads and deletes.

Reversed from the URLconf (never written out), so every path that builds or
recognises a file's URL (serializers, the admin, the WSGI fast path, the
schema) follows the project's ``include()``.
"""

import functools

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse


def download_prefix() -> str:
    """The path, from the site's root, under which files are served (``/static/``), with its slash."""
    return _prefix("files:serve", "file_path", get_urlconf() or settings.ROOT_URLCONF)


def delete_prefix() -> str:
    """The path under which files are deleted by id (``/static/delete_file/``)."""
    return _prefix("files:delete", "file_id", get_urlconf() or settings.ROOT_URLCONF)


def file_list_path() -> str:
    """The path, from the site's root, of the paginated file list (``/api/files/``)."""
    return _prefix("files:file-list", None, get_urlconf() or settings.ROOT_URLCONF)


@functools.lru_cache(maxsize=16)
def _prefix(name: str, argument: str | None, urlconf) -> str:
    path = reverse(name, kwargs={argument: "_"} if argument else None, urlconf=urlconf)
    return "/" + path.removeprefix(get_script_prefix()).removesuffix("_")
