"""The File: uploaded bytes owned by any record of the clinic."""

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from uuid_utils.compat import uuid7

#: Where a deleted file's bytes wait, in the same storage, until restored or purged.
TRASH_PREFIX = "trash/"


class FileQuerySet(models.QuerySet):
    def live(self) -> "FileQuerySet":
        return self.filter(deleted_at__isnull=True)

    def trashed(self) -> "FileQuerySet":
        return self.filter(deleted_at__isnull=False)


class LiveFileManager(models.Manager.from_queryset(FileQuerySet)):
    """Files that are not in the trash: every reader's view unless it asks for the trash."""

    def get_queryset(self) -> FileQuerySet:
        return super().get_queryset().live()


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
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="In the trash since; empty for a live file.")
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    legal_hold = models.BooleanField(default=False, help_text="A file on hold cannot be deleted or purged.")

    objects = LiveFileManager()
    all_objects = FileQuerySet.as_manager()

    class Meta:
        base_manager_name = "all_objects"
        ordering = ["id"]
        indexes = [
            # Prefetching a page of records' files, and the owner's file list.
            models.Index(fields=["entity_type", "entity_id"], name="files_owner_idx"),
            # GET /api/files/?entity_id=...&type=...
            models.Index(fields=["entity_id", "category"], name="files_entity_category_idx"),
            # The purge job: trashed files by age.
            models.Index(
                fields=["deleted_at"], name="files_deleted_at_idx", condition=models.Q(deleted_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def path(self) -> str:
        """The file's path under /static/: ``{entity_id}/{id}{extension}``."""
        return f"{self.entity_id}/{self.id}{self.extension}"

    @property
    def trash_name(self) -> str:
        """Where the bytes are kept while the file is in the trash."""
        return TRASH_PREFIX + self.storage_name

    @property
    def blob_name(self) -> str:
        """Where the bytes are now: the storage name, or the trash name."""
        return self.trash_name if self.deleted_at else self.storage_name


class OwnedFiles(GenericRelation):
    """A record's files, which the ORM never deletes on its own.

    Django cascades a generic relation by deleting the rows; files are deleted
    through :func:`files.services.file_delete` instead (trash, bytes after
    commit, legal hold), by the owner's ``pre_delete`` receiver.
    """

    def bulk_related_objects(self, objs, using="default"):
        return self.remote_field.model._base_manager.none()


class FileOwner(models.Model):
    """Mixin for a model whose records own files.

    It adds ``record.files`` and ``record.legal_hold``; deleting the record
    deletes its files through :func:`files.services.file_delete`, like every
    other delete, and a record on legal hold cannot be deleted.
    """

    files = OwnedFiles(
        File,
        content_type_field="entity_type",
        object_id_field="entity_id",
        related_query_name="%(app_label)s_%(class)s",
    )
    legal_hold = models.BooleanField(default=False, help_text="Its files cannot be deleted, nor the record.")

    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        # Refuse before the ORM starts: a refusal from inside its deletion would doom the caller's transaction.
        from files.services import owner_check_deletable

        owner_check_deletable(owner=self)
        return super().delete(*args, **kwargs)


def owner_models() -> list[type[FileOwner]]:
    """Every installed model whose records own files."""
    return [model for model in apps.get_models() if issubclass(model, FileOwner)]
