"""The File: uploaded bytes owned by any record of the clinic."""

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from uuid_utils.compat import uuid7


class File(models.Model):
    """An uploaded file and what is known of it; its bytes live in storage."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    entity_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    entity_id = models.UUIDField(help_text="Id of the record that owns the file.")
    entity = GenericForeignKey("entity_type", "entity_id")
    category = models.CharField(max_length=32, help_text="The File object's `type`.")
    extension = models.CharField(
        max_length=16, help_text='Lower-case, with its dot (".png"): the File object\'s `mime_type`.'
    )
    media_type = models.CharField(max_length=127, help_text="Detected from the bytes, e.g. image/png.")
    name = models.CharField(max_length=255, help_text="The uploader's file name, sanitised.")
    size = models.PositiveBigIntegerField(help_text="In bytes.")
    sha256 = models.CharField(max_length=64, verbose_name="SHA-256")
    storage_name = models.CharField(max_length=255, unique=True, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # Prefetching a page of records' files, and the owner's file list.
            models.Index(fields=["entity_type", "entity_id"], name="files_owner_idx"),
            # GET /api/files/?entity_id=...&type=...
            models.Index(fields=["entity_id", "category"], name="files_entity_category_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def path(self) -> str:
        """The file's path under /static/: ``{entity_id}/{id}{extension}``."""
        return f"{self.entity_id}/{self.id}{self.extension}"


class FileOwner(models.Model):
    """Mixin for a model whose records own files.

    It adds ``record.files``; deleting the record deletes its files through
    :func:`files.services.file_delete`, like every other delete.
    """

    files = GenericRelation(
        File,
        content_type_field="entity_type",
        object_id_field="entity_id",
        related_query_name="%(app_label)s_%(class)s",
    )

    class Meta:
        abstract = True


def owner_models() -> list[type[FileOwner]]:
    """Every installed model whose records own files."""
    return [model for model in apps.get_models() if issubclass(model, FileOwner)]
