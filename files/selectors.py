"""Every read of files that the views, the admin and the serializers share."""

import uuid

from django.db.models import QuerySet

from files.models import File


def file_get(*, file_id: uuid.UUID) -> File:
    """The file with this id; raises ``File.DoesNotExist``."""
    return File.objects.get(pk=file_id)


def file_list(*, entity_id: uuid.UUID | None = None, category: str | None = None) -> QuerySet[File]:
    """Files, oldest first, narrowed to one owner and/or category."""
    files = File.objects.all()
    if entity_id is not None:
        files = files.filter(entity_id=entity_id)
    if category is not None:
        files = files.filter(category=category)
    return files
