"""The File: uploaded bytes owned by any record of the clinic."""

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from uuid_utils.compat import uuid7

from files.content.kinds import DERIVATIVE_EXTENSIONS

#: Where a deleted file's bytes wait, in the same storage, until restored or purged.
TRASH_PREFIX = "trash/"
#: Where an infected file's bytes are kept, out of every read path's reach (``files.scanning``).
QUARANTINE_PREFIX = "quarantine/"
#: Where clients post direct uploads' bytes (``files.direct``), in the same storage, until they are finalized.
INCOMING_PREFIX = "incoming/"


def trash_name(name: str) -> str:
    """Where the bytes stored as ``name`` (a file's, a derivative's) wait while their file is in the trash."""
    return TRASH_PREFIX + name


def quarantine_name(name: str) -> str:
    """Where the bytes stored as ``name`` (a file's, a derivative's) are kept once their file is found infected."""
    return QUARANTINE_PREFIX + name


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

    class ScanStatus(models.TextChoices):
        """What the malware scanner said of the bytes (``files.scanning``)."""

        PENDING = "pending"
        CLEAN = "clean"
        INFECTED = "infected"
        FAILED = "failed"

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
    # Learnt when its derivatives are made (files.derivatives): the original is decoded then anyway.
    width = models.PositiveIntegerField(null=True, blank=True, help_text="In pixels (images), once known.")
    height = models.PositiveIntegerField(null=True, blank=True, help_text="In pixels (images), once known.")
    pages = models.PositiveIntegerField(null=True, blank=True, help_text="Page count (PDFs), once known.")
    scan_status = models.CharField(
        max_length=16, choices=ScanStatus.choices, default=ScanStatus.PENDING, help_text="The malware scan's verdict."
    )
    scan_detail = models.CharField(max_length=255, blank=True, help_text="The signature found, or why the scan failed.")
    scanned_at = models.DateTimeField(null=True, blank=True)
    # The row's content fields (extension, media type, size, SHA-256, storage name) are its latest version's.
    version = models.PositiveIntegerField(default=1, help_text="The number of its current version (FileVersion).")

    objects = LiveFileManager()
    all_objects = FileQuerySet.as_manager()

    class Meta:
        base_manager_name = "all_objects"
        ordering = ["id"]
        # Holds are for those who answer for what is kept (the policy's ``user_may_hold`` asks for it).
        permissions = [
            ("hold_file", "Can place files and records on legal hold and release them"),
            # Admins check what the scanner has not cleared yet (the policy's ``user_may_read_unscanned``).
            ("read_unscanned_file", "Can download files the malware scanner has not found clean"),
        ]
        indexes = [
            # Prefetching a page of records' files, and the owner's file list.
            models.Index(fields=["entity_type", "entity_id"], name="files_owner_idx"),
            # GET /api/files/?entity_id=...&type=...
            models.Index(fields=["entity_id", "category"], name="files_entity_category_idx"),
            # The purge job: trashed files by age.
            models.Index(
                fields=["deleted_at"], name="files_deleted_at_idx", condition=models.Q(deleted_at__isnull=False)
            ),
            # The scanning jobs' catch-up, and the admin's filter: the few files not clean.
            models.Index(
                fields=["scan_status"], name="files_scan_status_idx", condition=~models.Q(scan_status="clean")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def path(self) -> str:
        """The file's path under /static/: ``{entity_id}/{id}{extension}``."""
        return f"{self.entity_id}/{self.id}{self.extension}"

    @property
    def url_suffix(self) -> str:
        """The ending of its current version's path after its id (see :func:`version_suffix`)."""
        return version_suffix(self.version, self.extension)

    @property
    def trash_name(self) -> str:
        """Where the bytes are kept while the file is in the trash."""
        return trash_name(self.storage_name)

    @property
    def blob_name(self) -> str:
        """Where the bytes are now: the storage name, the trash name, or the quarantine name."""
        return _blob_name(self, self.storage_name)

    def ready_derivative(self, variant: str) -> "Derivative | None":
        """Its ``variant`` (``thumbnail``, ``preview``) if ready, from its prefetched derivatives when they are."""
        return next((d for d in self.derivatives.all() if d.variant == variant and d.state == "ready"), None)


def version_suffix(number: int, extension: str) -> str:
    """The ending after a file's id of the path that serves its version ``number``: every such path is immutable.

    Version 1, the content first uploaded, is the seed's path ``{id}{ext}``, so
    every link handed out before a replacement keeps showing what it showed;
    a later version ``n`` is ``{id}.v{n}{ext}``.
    """
    return extension if number == 1 else f".v{number}{extension}"


class FileVersion(models.Model):
    """One content of a file, kept for good with it: its bytes never change, its row is never updated.

    Every file has its version 1 (what was first uploaded); replacing the
    content adds the next one and copies its fields into the File row. The
    versions follow their file into the trash, back, and out for good.
    """

    id = models.BigAutoField(primary_key=True)
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    storage_name = models.CharField(max_length=255, unique=True, editable=False)
    size = models.PositiveBigIntegerField(help_text="In bytes.")
    sha256 = models.CharField(max_length=64, verbose_name="SHA-256")
    media_type = models.CharField(max_length=127)
    extension = models.CharField(max_length=16)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["file", "number"]
        constraints = [models.UniqueConstraint(fields=["file", "number"], name="files_version_unique_number")]

    def __str__(self) -> str:
        return f"version {self.number} of {self.file_id}"

    @property
    def url_suffix(self) -> str:
        return version_suffix(self.number, self.extension)

    def blob_name(self, file: File) -> str:
        """Where its bytes are now: at its storage name, in the trash while its file is."""
        return trash_name(self.storage_name) if file.deleted_at else self.storage_name


class Derivative(models.Model):
    """A smaller picture of a file (a ``thumbnail``, a ``preview``): whether it exists is this row, never storage.

    One row per file and variant (a second worker cannot make a duplicate).
    Its bytes are written under a name of their own before the row says
    ``ready`` (see ``files.derivatives``); they follow their file into the
    trash, back, and out for good.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    id = models.BigAutoField(primary_key=True)
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="derivatives")
    variant = models.CharField(max_length=32, help_text="A name of FILES_DERIVATIVE_VARIANTS.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    media_type = models.CharField(max_length=127, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="In bytes.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, verbose_name="SHA-256")
    storage_name = models.CharField(max_length=255, blank=True, help_text="Empty until ready.")
    reason = models.CharField(max_length=255, blank=True, help_text="Why it failed.")
    attempts = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["file", "variant"], name="files_derivative_unique_variant")]

    def __str__(self) -> str:
        return f"{self.variant} of {self.file_id} ({self.state})"

    @property
    def extension(self) -> str:
        """The suffix of its path after the file's id: ``.thumbnail.webp``."""
        return f".{self.variant}{DERIVATIVE_EXTENSIONS[self.media_type]}"

    def blob_name(self, file: File) -> str:
        """Where its bytes are now: beside its file's, in the trash or quarantine while the file is."""
        return _blob_name(file, self.storage_name)


def _blob_name(file: File, name: str) -> str:
    """Where the bytes stored as ``name`` for ``file`` are now: quarantine wins over the trash."""
    if file.scan_status == File.ScanStatus.INFECTED:
        return quarantine_name(name)
    return trash_name(name) if file.deleted_at else name


class OwnedFiles(GenericRelation):
    """A record's files, which the ORM never deletes on its own.

    Django cascades a generic relation by deleting the rows; files are deleted
    through :func:`files.services.file_delete` instead (trash, bytes after
    commit, legal hold, who deleted), by the owner's ``pre_delete`` receiver.
    """

    def bulk_related_objects(self, objs, using="default"):
        return self.remote_field.model._base_manager.none()


class FileOwner(models.Model):
    """Mixin for a model whose records own files.

    It adds ``record.files`` and ``record.legal_hold``. A record with files
    is deleted through :func:`files.services.owner_delete`, which deletes
    its files as the user who deletes it, and refuses while it or one of
    its files is on legal hold.
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

    def export_records(self) -> list[models.Model]:
        """The records whose files its export holds (``files.export``): itself; a model may add related ones."""
        return [self]


def owner_models() -> list[type[FileOwner]]:
    """Every installed model whose records own files."""
    return [model for model in apps.get_models() if issubclass(model, FileOwner)]


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditTrailIsAppendOnly

    def delete(self):
        raise AuditTrailIsAppendOnly


class AuditTrailIsAppendOnly(Exception):
    """An audit event was to be changed or deleted: the trail only grows."""

    def __init__(self) -> None:
        super().__init__("The audit trail is append-only: its events are never changed or deleted")


class AuditEvent(models.Model):
    """One upload, download, deletion or refused attempt, as the audit trail keeps it for good.

    Plain values, no foreign keys: deleting a user, a file or a record leaves
    its history as it was. Written by ``files.audit``; on PostgreSQL a trigger
    also refuses any UPDATE or DELETE of the table.
    """

    class Action(models.TextChoices):
        UPLOAD = "upload"
        DOWNLOAD = "download"
        DELETE = "delete"
        RESTORE = "restore"
        PURGE = "purge"
        HOLD = "hold"
        RELEASE = "release"
        INFECTED = "infected"
        REPLACE = "replace"
        EXPORT = "export"

    class Outcome(models.TextChoices):
        ALLOWED = "allowed"
        REFUSED = "refused"

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The HTTP status answered.")
    user_id = models.CharField("user id", max_length=64, blank=True)
    username = models.CharField(max_length=150, blank=True)
    via = models.CharField(max_length=16, blank=True, help_text="token, session, signed URL, admin or system")
    issued_to = models.CharField(
        "signed URL issued to", max_length=64, blank=True, help_text="The id of the user a signed URL was issued to."
    )
    file_id = models.UUIDField("file id", null=True, blank=True, db_index=True)
    record_type = models.CharField(max_length=100, blank=True, help_text='e.g. "patients.patient"')
    record_id = models.UUIDField("record id", null=True, blank=True, db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    count = models.PositiveIntegerField(
        default=1,
        help_text="How many attempts it records: more than 1 for the repeats, in one minute, of a refusal recorded "
        "just before (the last at its time).",
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome} by {self.username or self.user_id or '-'}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditTrailIsAppendOnly
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly


#: Where exports built in the background keep their ZIPs: outside every file's name (those start with a record's id).
EXPORTS_PREFIX = "exports/"


class Export(models.Model):
    """A record's export built by a background job (``files.export``), handed out by a signed link until it expires.

    The ZIP is written to storage before the row says ``ready``; only the user
    who asked for it may read it. Expired ones are swept by ``files_cleanup``.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    record_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    record_id = models.UUIDField()
    record = GenericForeignKey("record_type", "record_id")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    files_done = models.PositiveIntegerField(default=0)
    files_total = models.PositiveIntegerField(null=True, blank=True, help_text="Known once the job starts.")
    storage_name = models.CharField(max_length=255, blank=True, help_text="Empty until ready.")
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="In bytes, once ready.")
    sha256 = models.CharField(max_length=64, blank=True, verbose_name="SHA-256")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    error = models.CharField(max_length=255, blank=True, help_text="Why it failed.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.id} ({self.state})"


class ResumableUpload(models.Model):
    """A tus upload in progress (``files.resumable``): its bytes wait in a staging file until the last one arrives.

    ``offset`` is the bytes received and synced to disk; it is the staging
    file's length that counts (the file may hold more, written by a request
    that failed before its offset was saved: the next write cuts them off).
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    entity_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    entity_id = models.UUIDField(help_text="Id of the record the file will belong to.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    length = models.PositiveBigIntegerField(help_text="The file's size, in bytes, announced at creation.")
    offset = models.PositiveBigIntegerField(default=0, help_text="Bytes received so far.")
    filename = models.CharField(max_length=255, blank=True, help_text="As the client sent it (Upload-Metadata).")
    category = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    file = models.ForeignKey(File, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.filename or self.pk} ({self.offset}/{self.length} bytes)"

    @property
    def staging_name(self) -> str:
        """The staging file's name: from the upload's id, never from anything the client sent."""
        return f"{self.id.hex}.tus"


class DirectUpload(models.Model):
    """A direct upload handed out (``files.direct``): a presigned POST of ``size`` bytes to ``incoming/{key}``.

    Only its creator may finalize it, into a File of its record, before
    ``expires_at``; once finalized it names that file, and a second finalize
    answers the same one. ``files_cleanup`` removes it, and any bytes left
    under its names, ``FILES_DIRECT_UPLOAD_GRACE`` after it expires.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    entity_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    entity_id = models.UUIDField(help_text="Id of the record the file will belong to.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64, unique=True, editable=False, help_text="Random, made by the service.")
    filename = models.CharField(max_length=255, blank=True, help_text="As the client sent it.")
    category = models.CharField(max_length=32)
    size = models.PositiveBigIntegerField(help_text="The file's size, in bytes, declared at creation.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    file = models.ForeignKey(File, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.filename or self.pk} ({self.size} bytes)"

    @property
    def incoming_name(self) -> str:
        """Where the client posts the bytes: from the service's random key, never from anything the client sent."""
        return f"{INCOMING_PREFIX}{self.key}"

    @property
    def received_name(self) -> str:
        """Where the finalize moves the bytes before reading them: a name the presigned POST cannot write."""
        return f"{self.incoming_name}{RECEIVED_SUFFIX}"


#: The ending of a direct upload's received name (``DirectUpload.received_name``).
RECEIVED_SUFFIX = ".received"
