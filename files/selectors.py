"""Every read of files that the views, the admin and the serializers share."""

import re
import uuid

from django.db.models import QuerySet

from files.models import File

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# The only shape a file's path under /static/ has: {entity_id}/{file_id}{extension}.
_FILE_PATH = re.compile(rf"(?P<entity_id>{_UUID})/(?P<file_id>{_UUID})(?P<extension>\.[a-z0-9]{{1,15}})")


def file_get(*, file_id: uuid.UUID) -> File:
    """The file with this id; raises ``File.DoesNotExist``."""
    return File.objects.get(pk=file_id)


def file_get_by_path(*, path: str) -> File:
    """The file a /static/ path names; raises ``File.DoesNotExist`` for any other path.

    The path is matched whole against its one shape and then looked up in the
    database, so nothing the client typed ever becomes a storage name.
    """
    match = _FILE_PATH.fullmatch(path)
    if match is None:
        raise File.DoesNotExist(path)
    return File.objects.get(pk=match["file_id"], entity_id=match["entity_id"], extension=match["extension"])


def file_list(*, entity_id: uuid.UUID | None = None, category: str | None = None) -> QuerySet[File]:
    """Files, oldest first, narrowed to one owner and/or category."""
    files = File.objects.all()
    if entity_id is not None:
        files = files.filter(entity_id=entity_id)
    if category is not None:
        files = files.filter(category=category)
    return files
