"""Every write to files: attach uploads to a record, delete files.

Views, the admin, commands and the record cascade all come through here, so
the rules (bytes before row, row gone before bytes) hold on every path.
"""

import hashlib
import logging
import unicodedata
from functools import partial

from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction

from files import conf
from files.detection import detect_kind, extension_for
from files.exceptions import FileTooLarge
from files.models import File

logger = logging.getLogger(__name__)

_NAME_LIMIT = 255


def file_attach(*, owner: models.Model, upload: UploadedFile, category: str, uploaded_by=None) -> File:
    """Store ``upload`` as a file of ``owner`` and return it."""
    return files_attach(owner=owner, uploads=[upload], category=category, uploaded_by=uploaded_by)[0]


def files_attach(*, owner: models.Model, uploads: list[UploadedFile], category: str, uploaded_by=None) -> list[File]:
    """Store ``uploads`` as files of ``owner``: all of them or, on any error, none.

    Every upload is checked before anything is written (raising
    :class:`~files.exceptions.FileRejected`). The bytes are written first and
    the rows inserted after, so a row never points at missing bytes; if the
    insert fails, the bytes just written are removed.
    """
    if category not in conf.categories():
        raise ValueError(f"Unknown file category {category!r}")
    entity_type = ContentType.objects.get_for_model(owner)
    files = [_new_file(entity_type, owner.pk, upload, category, uploaded_by) for upload in uploads]
    storage = conf.storage()
    written: list[str] = []
    try:
        for file, upload in zip(files, uploads, strict=True):
            upload.seek(0)
            file.storage_name = storage.save(file.path, upload)
            written.append(file.storage_name)
        with transaction.atomic():
            File.objects.bulk_create(files)
    except BaseException:
        for name in written:
            _delete_bytes_after_failure(name)
        raise
    return files


def file_delete(*, file: File, deleted_by=None) -> None:
    """Delete ``file``: its row now, its bytes once the transaction commits.

    A transaction that rolls back keeps both. Raises ``File.DoesNotExist`` if
    another request deleted the file first.
    """
    with transaction.atomic():
        deleted, _ = File.objects.filter(pk=file.pk).delete()
        if not deleted:
            raise File.DoesNotExist(f"File {file.pk} is already deleted")
        transaction.on_commit(partial(_delete_bytes, file.storage_name), robust=True)
    logger.info("file deleted", extra={"file_id": str(file.pk), "deleted_by": getattr(deleted_by, "pk", None)})


def files_delete_for_owner(*, owner: models.Model, deleted_by=None) -> int:
    """Delete every file of ``owner`` through :func:`file_delete`; return how many."""
    entity_type = ContentType.objects.get_for_model(owner)
    count = 0
    for file in File.objects.filter(entity_type=entity_type, entity_id=owner.pk):
        try:
            file_delete(file=file, deleted_by=deleted_by)
        except File.DoesNotExist:
            continue  # deleted by someone else meanwhile: the outcome is the same
        count += 1
    return count


def _new_file(entity_type: ContentType, entity_id, upload: UploadedFile, category: str, uploaded_by) -> File:
    if upload.size > conf.max_upload_size():
        raise FileTooLarge(conf.max_upload_size())
    kind = detect_kind(upload)
    client_name = upload.name or ""
    extension = extension_for(kind, client_name)
    return File(
        entity_type=entity_type,
        entity_id=entity_id,
        category=category,
        extension=extension,
        media_type=kind.media_type,
        name=clean_file_name(client_name, extension),
        size=upload.size,
        sha256=getattr(upload, "sha256", None) or _sha256(upload),
        uploaded_by=uploaded_by,
    )


def clean_file_name(name: str, extension: str) -> str:
    """The client's file name made safe to keep and show.

    Path parts, control and format characters (bidi overrides among them) are
    dropped, white space is folded and the length capped; a name that is left
    empty becomes ``file`` with the file's extension.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char)[0] not in {"C", "Z"} or char == " ")
    name = " ".join(name.split()).strip(". ")
    if len(name) > _NAME_LIMIT:
        _, dot, suffix = name.rpartition(".")
        keep = f"{dot}{suffix}" if dot and len(suffix) < 16 else ""
        name = name[: _NAME_LIMIT - len(keep)] + keep
    return name or f"file{extension}"


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _delete_bytes(storage_name: str) -> None:
    conf.storage().delete(storage_name)


def _delete_bytes_after_failure(storage_name: str) -> None:
    # Cleaning up after another error: a second failure is logged (the bytes
    # become an orphan for the cleanup job) so that the first one reaches the caller.
    try:
        _delete_bytes(storage_name)
    except Exception:
        logger.exception("could not remove %s after a failed upload", storage_name)
