"""The resumable upload widget of a record's admin page: what its script needs, for users who may upload.

The widget (``files/static/files/upload.js``) speaks tus to the record's own
``uploads/`` endpoint of the API, with the admin's session and CSRF token, so
an upload from the admin gets every rule of the API's: the upload right on the
record, the category's limits, the content checks, the audit trail.
"""

import functools
import uuid

from django.conf import settings
from django.db import models
from django.urls import URLResolver, get_resolver, get_urlconf, reverse

from files import conf
from files.api.resumable import ResumableUploadsMixin
from files.policy import ADD

#: Stands for a file's id in the link the widget makes to a new file's admin page.
FILE_ID_PLACEHOLDER = uuid.UUID(int=0)


def upload_widget(*, user, record: models.Model, files_list_id: str) -> dict | None:
    """The widget's settings for ``user`` on ``record``'s page, or None: no upload right, or no tus route for it.

    ``files_list_id`` is the HTML id of the page's list of the record's files, which the widget reloads.
    """
    if not conf.permission_policy().user_has_permission_for_owner(user, ADD, record):
        return None
    route = _uploads_routes(get_urlconf() or settings.ROOT_URLCONF).get(type(record))
    if route is None:
        return None
    name, lookup = route
    return {
        "endpoint": reverse(name, kwargs={lookup: str(record.pk)}),
        "categories": conf.categories(),
        "default_category": conf.default_category(),
        "file_url": reverse("admin:files_file_change", args=[FILE_ID_PLACEHOLDER]),
        "file_id_placeholder": str(FILE_ID_PLACEHOLDER),
        "files_list_id": files_list_id,
    }


@functools.lru_cache(maxsize=16)
def _uploads_routes(urlconf) -> dict[type[models.Model], tuple[str, str]]:
    """Each record model's tus creation route in the URLconf: its URL name (namespaced) and its lookup argument.

    Found from the viewsets the project routed (those with :class:`ResumableUploadsMixin`), never from a
    name the project would have to give them: the files app knows nothing of the clinic's URLs.
    """
    routes: dict[type[models.Model], tuple[str, str]] = {}

    def walk(patterns, namespaces: tuple[str, ...]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, (*namespaces, pattern.namespace) if pattern.namespace else namespaces)
                continue
            viewset = getattr(pattern.callback, "cls", None)
            actions = getattr(pattern.callback, "actions", None) or {}
            tus = isinstance(viewset, type) and issubclass(viewset, ResumableUploadsMixin)
            if tus and pattern.name and actions.get("post") == "uploads" and viewset.queryset is not None:
                lookup = viewset.lookup_url_kwarg or viewset.lookup_field
                routes.setdefault(viewset.queryset.model, (":".join((*namespaces, pattern.name)), lookup))

    walk(get_resolver(urlconf).url_patterns, ())
    return routes
