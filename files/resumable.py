"""Resumable uploads (the tus protocol's core): bytes staged on local disk, a File when the last one arrives.

An upload is a :class:`~files.models.ResumableUpload` row and a staging file
in ``FILES_UPLOAD_TEMP_DIR/tus/`` (this server's own, readable by the service
only, named from the upload's id). Chunks are appended as they stream in,
synced to disk, and only then is the row's ``offset`` moved on, in the same
transaction that holds the row locked: two requests never write one upload at
once, and an offset that was saved always has its bytes on disk. Bytes past the
saved offset (a request that failed after writing, or whose chunk did not
have the checksum its client sent) are cut off by the next write. The
complete bytes go through :func:`files.services.files_attach`:
every content check, limit and job of a plain upload.
"""

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.utils import timezone

from files import conf
from files.exceptions import (
    FileRejected,
    FileTooLarge,
    UploadChecksumMismatch,
    UploadLengthExceeded,
    UploadNotFound,
    UploadOffsetMismatch,
)
from files.models import File, ResumableUpload
from files.services import files_attach
from files.uploads import upload_name, upload_temp_dir

#: The checksums a chunk may carry (tus's checksum extension; sha1 is the one every server must know).
CHECKSUM_ALGORITHMS = ("sha1", "sha256", "md5")


def staging_dir() -> Path:
    """The folder of the staging files, created (service's user only) if missing."""
    folder = upload_temp_dir() / "tus"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def staging_path(upload: ResumableUpload) -> Path:
    return staging_dir() / upload.staging_name


def resumable_create(*, owner: models.Model, created_by, length: int, filename: str, category: str) -> ResumableUpload:
    """Start an upload of ``length`` bytes to ``owner``: refused (:class:`FileTooLarge`) over ``category``'s limit."""
    if category not in conf.categories():
        raise ValueError(f"Unknown file category {category!r}")
    limit = conf.max_upload_size_for(category)
    if length > limit:
        raise FileTooLarge(limit, category=category)
    upload = ResumableUpload.objects.create(
        entity_type=ContentType.objects.get_for_model(owner),
        entity_id=owner.pk,
        created_by=created_by,
        length=length,
        filename=filename[:255],
        category=category,
        expires_at=timezone.now() + conf.resumable_lifetime(),
    )
    staging_path(upload).touch(mode=0o600)
    return upload


def _uploads(*, owner: models.Model, user) -> models.QuerySet[ResumableUpload]:
    """The live uploads of ``user`` to ``owner``: nobody else's upload is ever found."""
    return ResumableUpload.objects.filter(
        entity_type=ContentType.objects.get_for_model(owner),
        entity_id=owner.pk,
        created_by=user,
        expires_at__gt=timezone.now(),
    )


def resumable_get(*, upload_id, owner: models.Model, user) -> ResumableUpload:
    """``user``'s upload ``upload_id`` to ``owner``, or :class:`UploadNotFound`."""
    upload = _uploads(owner=owner, user=user).filter(pk=upload_id).first()
    if upload is None:
        raise UploadNotFound(upload_id)
    return upload


def resumable_append(
    *,
    upload_id,
    owner: models.Model,
    user,
    offset: int,
    chunks: Iterable[bytes],
    checksum: tuple[str, bytes] | None = None,
) -> ResumableUpload:
    """Append ``chunks`` at ``offset`` (which must be the bytes received so far); make the File at the last byte.

    Raises :class:`UploadOffsetMismatch` for another offset (or an upload
    already complete), :class:`UploadLengthExceeded` for bytes past its
    length. ``checksum`` is an algorithm of :data:`CHECKSUM_ALGORITHMS` and
    the digest the chunk must have: when it has another (a corrupted or cut
    off chunk), nothing of it counts (:class:`UploadChecksumMismatch`). A
    file the content checks refuse (:class:`FileRejected`) ends the upload:
    its row and staged bytes are removed.
    """
    rejected = None
    with transaction.atomic():
        upload = _uploads(owner=owner, user=user).select_for_update().filter(pk=upload_id).first()
        if upload is None:
            raise UploadNotFound(upload_id)
        if upload.file_id is not None or offset != upload.offset:
            raise UploadOffsetMismatch(upload.offset)
        staged = staging_path(upload)  # before a delete forgets the id
        upload.offset = _write(upload, chunks, checksum)
        upload.expires_at = timezone.now() + conf.resumable_lifetime()
        if upload.offset == upload.length:
            try:
                upload.file = _attach(upload, owner=owner, user=user)
            except FileRejected as exc:
                rejected = exc
                upload.delete()
        if rejected is None:
            upload.save()
    if rejected is not None or upload.file_id is not None:
        staged.unlink(missing_ok=True)
    if rejected is not None:
        raise rejected
    return upload


def _write(upload: ResumableUpload, chunks: Iterable[bytes], checksum: tuple[str, bytes] | None) -> int:
    """Append ``chunks`` to the staging file at the saved offset, synced to disk; the new offset.

    The chunk's bytes are hashed as they are written when ``checksum`` asks;
    a mismatch raises before the new offset is saved.
    """
    digest = hashlib.new(checksum[0]) if checksum else None
    try:
        staging = staging_path(upload).open("r+b")
    except FileNotFoundError:
        raise UploadNotFound(upload.pk) from None  # swept (the server's temporary folder emptied)
    with staging:
        staging.truncate(upload.offset)
        staging.seek(upload.offset)
        offset = upload.offset
        for chunk in chunks:
            offset += len(chunk)
            if offset > upload.length:
                raise UploadLengthExceeded(upload.length)
            staging.write(chunk)
            if digest is not None:
                digest.update(chunk)
        if digest is not None and digest.digest() != checksum[1]:
            raise UploadChecksumMismatch(checksum[0])
        staging.flush()
        os.fsync(staging.fileno())
    return offset


def _attach(upload: ResumableUpload, *, owner: models.Model, user) -> File:
    with staging_path(upload).open("rb") as staged:
        content = UploadedFile(staged, name=upload_name(upload.filename), size=upload.length)
        (file,) = files_attach(owner=owner, uploads=[content], category=upload.category, uploaded_by=user)
    return file


def resumable_delete(*, upload: ResumableUpload) -> None:
    """End ``upload`` (tus termination): its staged bytes and row are removed; a File it made stays."""
    staged = staging_path(upload)  # before the delete forgets the id
    upload.delete()
    staged.unlink(missing_ok=True)


def resumable_expired_delete(*, dry_run: bool) -> list[str]:
    """Remove the uploads past their ``expires_at`` and their staged bytes; their ids."""
    expired = list(ResumableUpload.objects.filter(expires_at__lte=timezone.now()))
    if not dry_run:
        for upload in expired:
            resumable_delete(upload=upload)
    return [str(upload.pk) for upload in expired]
