"""Direct uploads: the client posts the bytes to the object store, the service then makes them a File.

:func:`direct_upload_create` hands out a presigned POST (the storage's
``presigned_post``; local disk has none: :class:`DirectUploadsUnsupported`)
for exactly the declared size, to ``incoming/{key}`` (a random key of the
service's own), valid for ``FILES_DIRECT_UPLOAD_LIFETIME``. A
:class:`~files.models.DirectUpload` row remembers for whom and for which
record. The bytes never pass through the service on their way in.

:func:`direct_upload_finalize`, by the same user, before the upload expires:

1. moves the object to its *received* name, which the POST cannot write:
   bytes posted again from then on never replace the bytes being checked;
2. refuses it (:class:`DeclaredSizeMismatch`) when it is not the size
   declared, before reading a byte of it;
3. reads it into a temporary file, hashed on the way, and hands that to
   :func:`files.services.files_attach`: every content check, limit, metadata
   rule, audit event and job of a plain upload. The stored object is then
   moved to the file's name (a photo rewritten without its metadata is
   written instead, and the object removed).

A refused file ends the upload: its row and its bytes are removed, nothing is
left. The row is locked for the whole finalize, so two at once make one File,
and a finalize of a finalized upload answers its File. The File's rows, the
upload's row and the move into place are one storage transaction: if it does
not commit, the object is moved back to its received name, where a retry
finds it. Bytes are deleted only once nothing needs them (refused, or swept
by ``files_cleanup``: :func:`direct_uploads_expired` and :func:`incoming_stale_names`).
"""

import logging
import secrets
from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from files import conf
from files.backends import delete_blob, move_blob, open_blob, storage_errors
from files.exceptions import (
    DeclaredSizeMismatch,
    DirectUploadsUnsupported,
    FileRejected,
    FileTooLarge,
    UploadExpired,
    UploadNotFound,
    UploadNotReceived,
)
from files.models import INCOMING_PREFIX, RECEIVED_SUFFIX, DirectUpload, File
from files.services import files_attach, storage_transaction
from files.uploads import StoredUpload

logger = logging.getLogger(__name__)


def direct_upload_create(
    *, owner: models.Model, created_by, filename: str, category: str, size: int
) -> tuple[DirectUpload, dict]:
    """Hand out a direct upload of ``size`` bytes to ``owner``: the row, and the form to post (``{"url", "fields"}``).

    Refused with :class:`FileTooLarge` over ``category``'s limit, and with
    :class:`DirectUploadsUnsupported` on a storage that cannot presign a POST.
    """
    if category not in conf.categories():
        raise ValueError(f"Unknown file category {category!r}")
    if size < 1:
        raise ValueError("A direct upload holds at least one byte")
    storage = conf.storage()
    if not hasattr(storage, "presigned_post"):
        raise DirectUploadsUnsupported(DirectUploadsUnsupported.detail)
    limit = conf.max_upload_size_for(category)
    if size > limit:
        raise FileTooLarge(limit, category=category)
    lifetime = conf.direct_upload_lifetime()
    # One transaction: a form that could not be signed leaves no row.
    with transaction.atomic():
        upload = DirectUpload.objects.create(
            entity_type=ContentType.objects.get_for_model(owner),
            entity_id=owner.pk,
            created_by=created_by,
            key=secrets.token_hex(16),
            filename=filename[:255],
            category=category,
            size=size,
            expires_at=timezone.now() + lifetime,
        )
        with storage_errors():
            form = storage.presigned_post(upload.incoming_name, size=size, lifetime=int(lifetime.total_seconds()))
    return upload, form


def _uploads(*, owner: models.Model, user) -> QuerySet[DirectUpload]:
    """``user``'s direct uploads to ``owner``: nobody else's upload is ever found."""
    return DirectUpload.objects.filter(
        entity_type=ContentType.objects.get_for_model(owner), entity_id=owner.pk, created_by=user
    )


def direct_upload_finalize(*, upload_id, owner: models.Model, user) -> tuple[File, bool]:
    """Make ``user``'s direct upload ``upload_id`` to ``owner`` a File; the File, and whether this call made it.

    Raises :class:`UploadNotFound` (not theirs, or swept), :class:`UploadExpired`,
    :class:`UploadNotReceived` (nothing posted yet), :class:`FileRejected`
    (every refusal of a plain upload, and :class:`DeclaredSizeMismatch`: the
    upload and its bytes are then gone) and ``File.DoesNotExist`` (finalized
    before, and its file deleted since).
    """
    storage = conf.storage()
    rejected = None
    with storage_transaction():
        upload = _uploads(owner=owner, user=user).select_for_update().filter(pk=upload_id).first()
        if upload is None:
            raise UploadNotFound(upload_id)
        if upload.finalized_at is not None:
            return File.objects.get(pk=upload.file_id), False
        if upload.expires_at <= timezone.now():
            raise UploadExpired(upload_id)
        _claim(storage, upload)
        try:
            file = _attach(storage, upload, owner=owner, user=user)
        except FileNotFoundError:
            raise UploadNotReceived(upload.pk) from None  # removed by hand meanwhile: nothing to finalize
        except FileRejected as exc:
            rejected = exc
            upload.delete()
        else:
            upload.file, upload.finalized_at = file, timezone.now()
            upload.save(update_fields=["file", "finalized_at"])
    # Refused: the bytes checked. Stored: nothing (moved into place), or a photo's original with its metadata.
    _delete_quietly(storage, upload.received_name)
    if rejected is not None:
        raise rejected
    return file, True


def _claim(storage, upload: DirectUpload) -> None:
    """Move the posted object to the upload's received name; already there after a finalize that failed."""
    try:
        move_blob(storage, upload.incoming_name, upload.received_name)
    except FileNotFoundError:
        with storage_errors():
            if not storage.exists(upload.received_name):
                raise UploadNotReceived(upload.pk) from None


def _attach(storage, upload: DirectUpload, *, owner: models.Model, user) -> File:
    with storage_errors():
        stored = storage.size(upload.received_name)
    if stored != upload.size:
        raise DeclaredSizeMismatch(declared=upload.size, stored=stored)
    with StoredUpload(upload.filename, stored_as=upload.received_name) as received:
        with storage_errors():
            received.write_chunks(open_blob(storage, upload.received_name).slice(0, stored - 1))
        (file,) = files_attach(owner=owner, uploads=[received], category=upload.category, uploaded_by=user)
    return file


def _delete_quietly(storage, name: str) -> None:
    # After the outcome is decided: a failure is logged (files_cleanup removes the bytes) so that the outcome stands.
    try:
        delete_blob(storage, name)
    except Exception:
        logger.exception("could not remove %s after its direct upload was finalized or refused", name)


def direct_uploads_expired(*, now=None) -> QuerySet[DirectUpload]:
    """The direct uploads that expired more than ``FILES_DIRECT_UPLOAD_GRACE`` ago (a file they made stays)."""
    return DirectUpload.objects.filter(expires_at__lt=(now or timezone.now()) - conf.direct_upload_grace())


def direct_upload_delete(*, upload: DirectUpload) -> None:
    """Remove ``upload`` and any bytes under its names (its row last: a storage that refuses keeps it for next time)."""
    storage = conf.storage()
    with transaction.atomic():
        if not DirectUpload.objects.select_for_update().filter(pk=upload.pk).exists():
            return  # removed meanwhile
        for name in (upload.incoming_name, upload.received_name):
            delete_blob(storage, name)
        upload.delete()


def incoming_stale_names(*, names: Iterable[str], now=None) -> list[str]:
    """Of stored ``names``, those under ``incoming/`` that no direct upload owns, older than the grace period.

    Bytes posted after their upload was finalized or swept, or left by a
    removal that failed: no finalize can reach them.
    """
    storage = conf.storage()
    keys = set(DirectUpload.objects.values_list("key", flat=True))
    cutoff = (now or timezone.now()) - conf.direct_upload_grace()
    stale = []
    for name in sorted(names):
        if not name.startswith(INCOMING_PREFIX) or name[len(INCOMING_PREFIX) :].removesuffix(RECEIVED_SUFFIX) in keys:
            continue
        with storage_errors():
            if storage.get_modified_time(name) < cutoff:
                stale.append(name)
    return stale
