"""Every write to files: attach, delete (to the trash), restore, purge.

Views, the admin, commands and the record cascade all come through here, so
the rules (bytes before row, legal holds, who deleted, whole or nothing)
hold on every path. A record with files is deleted through
:func:`owner_delete`.

Whole or nothing: a delete, restore or purge changes the row, writes the
audit event and moves the bytes in one transaction (:func:`storage_transaction`),
the move last. If storage refuses the move (:class:`StorageUnavailable`),
the transaction rolls back, row and audit event included; if the
transaction fails after the move, the bytes are moved back. The download
path opens the bytes at the file's live name on every request, so a file
is unreachable on every worker from the moment its bytes leave that name.
Bytes are erased only after the commit, once they are already out of
reach (in the trash); an erasure that fails is logged, and ``files_cleanup``
removes those bytes as an orphan.
"""

import contextlib
import contextvars
import functools
import hashlib
import logging
import operator
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import UploadedFile
from django.db import models, router, transaction
from django.db.models import Q, QuerySet
from django.db.models.deletion import Collector
from django.utils import timezone

from files import conf
from files.audit import Action, Attempt
from files.backends import delete_blob, move_blob, storage_errors
from files.content.detection import Kind, detect_kind, extension_for
from files.content.metadata import upload_without_metadata
from files.derivatives import derivative_names, files_stored
from files.exceptions import (
    DeleteNotPermitted,
    FileChanged,
    FileNotRestorable,
    FileOnHold,
    FileTooLarge,
    HoldNotPermitted,
    ReplaceNotPermitted,
    UnattributedDelete,
)
from files.models import Derivative, File, FileOwner, FileVersion, quarantine_name, trash_name
from files.policy import DELETE
from files.scanning import stream_scan
from files.selectors import file_owner, files_expired_trash

logger = logging.getLogger(__name__)

_NAME_LIMIT = 255
_EXTENSION_LIMIT = 8  # the longest ending taken for an extension, to be replaced by the detected one


def file_attach(*, owner: models.Model, upload: UploadedFile, category: str, uploaded_by=None) -> File:
    """Store ``upload`` as a file of ``owner`` and return it."""
    return files_attach(owner=owner, uploads=[upload], category=category, uploaded_by=uploaded_by)[0]


def files_attach(*, owner: models.Model, uploads: list[UploadedFile], category: str, uploaded_by=None) -> list[File]:
    """Store ``uploads`` as files of ``owner``: all of them or, on any error, none.

    Every upload is checked against ``category``'s size limit and allowed
    kinds, and by its bytes, before anything is written (raising
    :class:`~files.exceptions.FileRejected`). The bytes are written first and
    the rows inserted after, so a row never points at missing bytes; if the
    insert fails, the bytes just written are removed.

    An upload whose bytes are already in storage (a
    :class:`~files.uploads.StoredUpload`: a direct upload's object) and that
    the checks keep as it is, is moved to the file's name instead, in the
    rows' :func:`storage_transaction`, last: a refused move rolls the rows
    back, and a transaction that fails after it moves the bytes back where
    they were, never deleting them.
    """
    if category not in conf.categories():
        raise ValueError(f"Unknown file category {category!r}")
    entity_type = ContentType.objects.get_for_model(owner)
    checked = [_new_file(entity_type, owner.pk, upload, category, uploaded_by) for upload in uploads]
    files = [file for file, _ in checked]
    storage = conf.storage()
    # A photo's bytes rewritten without their metadata are a new upload (no stored_as): written like any other.
    in_place = [(file, content.stored_as) for file, content in checked if getattr(content, "stored_as", None)]
    # Names that may hold bytes of this call: a save that fails half-way can leave a partial file behind.
    touched: list[str] = []
    try:
        with storage_errors():
            for file, content in checked:
                if getattr(content, "stored_as", None):
                    file.storage_name = file.path
                    continue
                content.seek(0)
                touched.append(file.path)
                file.storage_name = storage.save(file.path, content)
                touched[-1] = file.storage_name
        with storage_transaction():
            File.objects.bulk_create(files)
            FileVersion.objects.bulk_create(_first_version(file) for file in files)
            for file in files:
                Attempt(Action.UPLOAD).by(uploaded_by).on(file).record()
            for file, stored_as in in_place:
                _move(stored_as, file.storage_name)
            # Thumbnails and previews are made by jobs, which must find the rows: after commit. A
            # broker that is down loses no upload (robust); files_derivatives makes what is missing.
            # (Named callables, not partials: Django's robust on_commit logs the callable's __qualname__.)
            transaction.on_commit(lambda: files_stored.send(sender=File, files=files), robust=True)
    except BaseException:
        for name in touched:
            _delete_bytes_after_failure(name)
        raise
    return files


def _first_version(file: File) -> FileVersion:
    return FileVersion(
        file=file,
        number=1,
        storage_name=file.storage_name,
        size=file.size,
        sha256=file.sha256,
        media_type=file.media_type,
        extension=file.extension,
        created_by=file.uploaded_by,
        created_at=file.created_at,
    )


def file_replace(*, file: File, upload: UploadedFile, replaced_by) -> File:
    """Make ``upload`` the content of ``file`` as its next version, keeping every earlier one; return the file.

    Who may replace a file is who may delete it (the policy's ``delete``;
    otherwise :class:`ReplaceNotPermitted`); a file or record on legal hold
    is never replaced (:class:`FileOnHold`). The upload gets the checks of
    the file's category (:func:`upload_check`). Its bytes are written under
    a name of their own before the rows change, and the earlier versions'
    bytes are never touched. The file's derivatives, pictures of the old
    content, are removed and made again from the new one after the commit.
    A concurrent replacement, deletion or hold wins: :class:`FileChanged`,
    and the bytes just written are removed.
    """
    if not conf.permission_policy().user_has_permission_for_file(replaced_by, DELETE, file):
        raise ReplaceNotPermitted("You may not replace this file")
    legal_hold_check(records=[file_owner(file)], files=[file], deleting="file")
    kind, extension, content = upload_check(upload=upload, category=file.category)
    number = file.version + 1
    version = FileVersion(
        file=file,
        number=number,
        size=content.size,
        sha256=getattr(content, "sha256", None) or _sha256(content),
        media_type=kind.media_type,
        extension=extension,
        created_by=replaced_by,
    )
    name = f"{file.entity_id}/{file.pk}{version.url_suffix}"
    try:
        with storage_errors():
            content.seek(0)
            version.storage_name = conf.storage().save(name, content)
        name = version.storage_name
        with transaction.atomic():
            _publish_version(file, version)
            Attempt(Action.REPLACE).by(replaced_by).on(file).record(detail=f"version {number}")
            transaction.on_commit(lambda: files_stored.send(sender=File, files=[file], replaced=True), robust=True)
    except BaseException:
        _delete_bytes_after_failure(name)
        raise
    file.refresh_from_db()
    logger.info("file replaced", extra={"file_id": str(file.pk), "version": number})
    return file


def _publish_version(file: File, version: FileVersion) -> None:
    """Make ``version`` the file's current one, unless the file changed since it was read (:class:`FileChanged`)."""
    changed = File.objects.filter(pk=file.pk, version=version.number - 1, legal_hold=False).update(
        version=version.number,
        extension=version.extension,
        media_type=version.media_type,
        size=version.size,
        sha256=version.sha256,
        storage_name=version.storage_name,
        width=None,
        height=None,
        pages=None,
        # New content, not scanned yet: held back as a new upload is, until the scan finds it clean.
        scan_status=File.ScanStatus.PENDING,
        scan_detail="",
        scanned_at=None,
    )
    if not changed:
        raise FileChanged("The file was replaced, deleted or put on hold meanwhile: read it again")
    version.save()
    # Pictures of the old content: their rows go now (made again after commit), their bytes once it commits.
    for name in derivative_names(file=file):
        _erase_after_commit(name)
    Derivative.objects.filter(file=file).delete()


def file_delete(*, file: File, deleted_by=None) -> None:
    """Delete ``file``: unreachable at once, its bytes kept in the trash for ``FILES_TRASH_RETENTION_DAYS``.

    Whole or nothing (see the module): raises :class:`StorageUnavailable`
    with nothing changed when storage refuses to move the bytes.
    Raises ``File.DoesNotExist`` if another request deleted the file first,
    :class:`FileOnHold` if the file or its record is on legal hold.
    """
    legal_hold_check(records=[file_owner(file)], files=[file], deleting="file")
    if not conf.trash_retention():
        _remove(file, live=True, action=Attempt(Action.DELETE).by(deleted_by))
    else:
        with storage_transaction():
            trashed = File.objects.filter(pk=file.pk).update(deleted_at=timezone.now(), deleted_by=deleted_by)
            if not trashed:
                raise File.DoesNotExist(f"File {file.pk} is already deleted")
            Attempt(Action.DELETE).by(deleted_by).on(file).record(detail="moved to the trash")
            _move_to_trash(file.pk, _blob_names(file))
    logger.info("file deleted", extra={"file_id": str(file.pk), "deleted_by": getattr(deleted_by, "pk", None)})


def file_restore(*, file: File, restored_by=None) -> None:
    """Take ``file`` out of the trash, row and bytes together (or, raising, neither)."""
    if file_owner(file) is None:
        raise FileNotRestorable("The record that owned the file no longer exists")
    with storage_transaction():
        restored = File.all_objects.trashed().filter(pk=file.pk).update(deleted_at=None, deleted_by=None)
        if not restored:
            raise FileNotRestorable("The file is not in the trash")
        Attempt(Action.RESTORE).by(restored_by).on(file).record()
        try:
            _move(file.trash_name, file.storage_name)
        except FileNotFoundError:
            with storage_errors():
                back_already = conf.storage().exists(file.storage_name)  # files_cleanup put them back
            if not back_already:
                raise FileNotRestorable("The file's bytes are missing from the trash") from None
        for name in [*_earlier_version_names(file), *derivative_names(file=file)]:
            _move_if_there(trash_name(name), name)
    logger.info("file restored", extra={"file_id": str(file.pk), "restored_by": getattr(restored_by, "pk", None)})


def file_scan(*, file_id, rescan: bool = False) -> str | None:
    """Scan the file ``file_id`` if still pending (any live file with ``rescan``); return its new status.

    None when there is nothing to scan (gone, in the trash, already decided).
    Raises :class:`ScannerUnavailable` (retry later) and ``StorageUnavailable``.
    An infected file is quarantined at once.
    """
    files = File.objects.exclude(scan_status=File.ScanStatus.INFECTED)
    file = (files if rescan else files.filter(scan_status=File.ScanStatus.PENDING)).filter(pk=file_id).first()
    if file is None:
        return None
    with storage_errors(), conf.storage().open(file.storage_name, "rb") as stored:
        verdict = stream_scan(stored)
    if verdict.status == File.ScanStatus.INFECTED:
        file_quarantine(file=file, signature=verdict.detail)
    else:
        File.objects.filter(pk=file.pk).exclude(scan_status=File.ScanStatus.INFECTED).update(
            scan_status=verdict.status, scan_detail=verdict.detail[:255], scanned_at=timezone.now()
        )
    logger.info("file scanned", extra={"file_id": str(file.pk), "scan_status": verdict.status})
    return verdict.status


def file_quarantine(*, file: File, signature: str) -> None:
    """Put ``file``, found infected (``signature``), out of reach: its bytes and its derivatives' to ``quarantine/``.

    Whole or nothing, like a delete: the row says ``infected``, the audit
    trail gets an ``infected`` event, and the bytes leave their live (or
    trash) names in one storage transaction; every read path opens the bytes
    at the live name, so none serves them from then on. Admins find it with
    the admin's scan filter, and in the log. The bytes stay for inspection
    until the file is purged (``files_cleanup`` then removes them).
    """
    with storage_transaction():
        infected = (
            File.all_objects.filter(pk=file.pk)
            .exclude(scan_status=File.ScanStatus.INFECTED)
            .update(scan_status=File.ScanStatus.INFECTED, scan_detail=signature[:255], scanned_at=timezone.now())
        )
        if not infected:
            return  # another worker quarantined it first
        Attempt(Action.INFECTED).on(file).record(detail=f"quarantined: {signature}")
        for name in _blob_names(file):
            where = trash_name(name) if file.deleted_at else name
            if not _move_if_there(where, quarantine_name(name)):
                logger.warning("infected file %s had no bytes at %s", file.pk, where)
    logger.warning(
        "infected file quarantined", extra={"file_id": str(file.pk), "signature": signature, "record": file.path}
    )


def file_purge(*, file: File, purged_by=None) -> None:
    """Remove a trashed ``file`` for good: its row now, its bytes (out of reach in the trash) once that commits."""
    legal_hold_check(records=[file_owner(file)], files=[file], deleting="file")
    _remove(file, live=False, action=Attempt(Action.PURGE).by(purged_by))
    logger.info("file purged", extra={"file_id": str(file.pk)})


def files_purge_expired(*, now=None) -> int:
    """Purge every trashed file older than the retention period and not on hold; return how many."""
    count = 0
    for file in files_expired_trash(now=now):
        try:
            file_purge(file=file)
        except (File.DoesNotExist, FileOnHold):
            continue  # purged, or put on hold, meanwhile
        count += 1
    return count


def legal_hold_check(*, records: Iterable[models.Model | None], files: Iterable[File], deleting: str) -> None:
    """The legal-hold rule, run by every deletion and purge: nothing on hold goes.

    ``records`` are the records deleted (``deleting="record"``) or the
    owners of the files deleted (``deleting="file"``), ``files`` the files
    deleted. Raises :class:`FileOnHold` naming what is held.
    """
    record_held, file_held = _HOLD_MESSAGES[deleting]
    if any(getattr(record, "legal_hold", False) for record in records):
        raise FileOnHold(record_held)
    if any(file.legal_hold for file in files):
        raise FileOnHold(file_held)


_HOLD_MESSAGES = {
    "file": ("The record that owns the file is under legal hold", "The file is under legal hold"),
    "record": ("The record is under legal hold", "A file of the record is under legal hold"),
}


def legal_hold_set(*, target: File | FileOwner, held: bool, by) -> bool:
    """Place ``target`` (a file or a record) on legal hold, or release it (``held=False``), as ``by``.

    Only a user the policy lets hold it may (``user_may_hold``; otherwise
    :class:`HoldNotPermitted`). Each change is an audit event (``hold`` or
    ``release``) in the same transaction; setting what is already set
    changes and records nothing. Returns whether it changed.
    """
    if not conf.permission_policy().user_may_hold(by, target):
        raise HoldNotPermitted("You may not place or release legal holds on it")
    attempt = Attempt(Action.HOLD if held else Action.RELEASE).by(by)
    attempt = attempt.on(target) if isinstance(target, File) else attempt.on_record(target)
    with transaction.atomic():
        changed = type(target)._base_manager.filter(pk=target.pk).exclude(legal_hold=held).update(legal_hold=held)
        if changed:
            attempt.record()
    target.legal_hold = held
    return bool(changed)


@dataclass(frozen=True)
class _OwnerDeletion:
    deleted_by: object


#: Set by :func:`owner_delete` while the ORM deletes: the ``pre_delete`` receiver reads who deletes.
_owner_deletion: contextvars.ContextVar[_OwnerDeletion | None] = contextvars.ContextVar(
    "files_owner_deletion", default=None
)


def owner_delete(*, owner: models.Model, deleted_by) -> None:
    """Delete the record ``owner``, every record the ORM deletes with it, and all their files, as ``deleted_by``.

    Everything is checked before anything changes: the ORM's own refusals
    (``ProtectedError``: other records still refer to it), the legal hold
    (:class:`FileOnHold`), and ``deleted_by``'s right to delete each live
    file that would go (:class:`DeleteNotPermitted`). Each file is then
    deleted through :func:`file_delete`, so the audit trail and
    ``deleted_by`` name the user, for cascaded records' files too.
    """
    records = _records_deleted_with(owner)
    files = list(_live_files_of(records))
    legal_hold_check(records=records, files=files, deleting="record")
    _refuse_unpermitted_deletes(files, deleted_by)
    token = _owner_deletion.set(_OwnerDeletion(deleted_by=deleted_by))
    try:
        # One storage transaction: a file that cannot be moved to the trash moves the others back.
        with storage_transaction():
            owner.delete()
    finally:
        _owner_deletion.reset(token)


def owner_files_delete_with(*, owner: models.Model) -> None:
    """The ``pre_delete`` side of a record's deletion: its live files go with it, named to whoever deletes.

    Inside :func:`owner_delete`, each file is deleted as its ``deleted_by``.
    A deletion outside it (a shell's ``record.delete()``, a stray
    ``queryset.delete()``) would lose who deleted the files: it is refused
    with :class:`UnattributedDelete` when the record has live files, and
    with :class:`FileOnHold` when it is on hold. Raised from inside the
    ORM's deletion, these also roll back the caller's transaction.
    """
    files = _live_files_of([owner])
    deletion = _owner_deletion.get()
    if deletion is None:
        legal_hold_check(records=[owner], files=files, deleting="record")
        if files.exists():
            raise UnattributedDelete(
                "A record with files is deleted through files.services.owner_delete, which names who deletes them"
            )
        return
    # Asked again here, inside the deletion's transaction: a file uploaded since owner_delete checked goes too.
    _refuse_unpermitted_deletes(files, deletion.deleted_by)
    for file in files:
        try:
            file_delete(file=file, deleted_by=deletion.deleted_by)
        except File.DoesNotExist:
            continue  # deleted by someone else meanwhile: the outcome is the same


def _refuse_unpermitted_deletes(files: Iterable[File], user) -> None:
    policy = conf.permission_policy()
    refused = next((f for f in files if not policy.user_has_permission_for_file(user, DELETE, f)), None)
    if refused is not None:
        raise DeleteNotPermitted(f"Deleting the record would delete the file {refused.name}, which you may not delete")


def _records_deleted_with(owner: models.Model) -> list[models.Model]:
    """``owner`` and every record owning files that the ORM would delete with it (its cascades)."""
    collector = Collector(using=router.db_for_write(type(owner), instance=owner))
    collector.collect([owner])  # raises ProtectedError / RestrictedError as the deletion itself would
    records = [record for model, record in collector.instances_with_model() if _owns_files(model)]
    # Models with no deletion receivers are deleted by query, without instances.
    records += [record for query in collector.fast_deletes if _owns_files(query.model) for record in query]
    return records


def _owns_files(model) -> bool:
    return issubclass(model, FileOwner)


def _live_files_of(records: list[models.Model]) -> QuerySet[File]:
    by_type = defaultdict(list)
    for record in records:
        by_type[ContentType.objects.get_for_model(record)].append(record.pk)
    if not by_type:
        return File.objects.none()
    owned = [Q(entity_type=entity_type, entity_id__in=pks) for entity_type, pks in by_type.items()]
    return File.objects.filter(functools.reduce(operator.or_, owned))


def _remove(file: File, *, live: bool, action: Attempt) -> None:
    """Delete the row (live, or trashed), record ``action``: bytes out of reach now, erased after commit."""
    rows = File.objects if live else File.all_objects.trashed()
    with storage_transaction():
        names = _blob_names(file)  # read before the rows go: the file's derivatives go with it
        deleted, _ = rows.filter(pk=file.pk).delete()
        if not deleted:
            raise File.DoesNotExist(f"File {file.pk} is already gone")
        action.on(file).record(detail="removed for good")
        if live:
            _move_to_trash(file.pk, names)
        for name in names:
            _erase_after_commit(trash_name(name))


#: The moves of the storage transactions under way in this context, innermost last.
_moves: contextvars.ContextVar[list["_Move"] | None] = contextvars.ContextVar("files_storage_moves", default=None)


@dataclass(frozen=True)
class _Move:
    storage: object
    old: str
    new: str

    def undo(self) -> None:
        try:
            move_blob(self.storage, self.new, self.old)
        except Exception:
            # The bytes stay where the move put them, out of step with the row: files_cleanup moves them back.
            logger.exception("bytes left at %s: moving them back to %s after a rollback failed", self.new, self.old)


@contextlib.contextmanager
def storage_transaction() -> Iterator[None]:
    """A database transaction whose storage moves (:func:`_move`) are undone, last first, if it does not commit.

    Nested in another, its moves join the outer one's when it commits, so a
    record deletion failing at its third file moves the first two back (and a
    direct upload whose own row fails to save after :func:`files_attach`
    moved its object into place gets it back: ``files.direct``). A
    caller's own ``transaction.atomic()`` around a service is unknown here:
    if it rolls back later, the bytes stay moved (a live file's bytes in the
    trash: unreachable, never exposed) until ``files_cleanup`` moves them
    where the row says; the download path rereads a file's row within
    ``FILES_AUTH_CACHE_SECONDS``, which bounds the rare case of a trashed
    row whose bytes are back at the live name.
    """
    moves: list[_Move] = []
    token = _moves.set(moves)
    try:
        with transaction.atomic():
            yield
    except BaseException:
        _moves.reset(token)
        for move in reversed(moves):
            move.undo()
        raise
    _moves.reset(token)
    outer = _moves.get()
    if outer is not None:
        outer.extend(moves)


def _move(old: str, new: str) -> None:
    """Move bytes as part of the storage transaction under way: undone if it rolls back."""
    storage = conf.storage()
    move_blob(storage, old, new)
    _moves.get().append(_Move(storage, old, new))


def _blob_names(file: File) -> list[str]:
    """The live names of ``file``'s bytes, of its earlier versions' and of its derivatives'."""
    return [file.storage_name, *_earlier_version_names(file), *derivative_names(file=file)]


def _earlier_version_names(file: File) -> list[str]:
    return list(
        FileVersion.objects.filter(file=file)
        .exclude(storage_name=file.storage_name)
        .values_list("storage_name", flat=True)
    )


def _move_to_trash(file_id, names: list[str]) -> None:
    for name in names:
        if not _move_if_there(name, trash_name(name)):
            # Nothing at the live name to reach: the delete goes on; files_cleanup reports bytes that are nowhere.
            logger.warning("file %s deleted without bytes at %s", file_id, name)


def _move_if_there(old: str, new: str) -> bool:
    """:func:`_move`, unless nothing is at ``old``; whether it moved."""
    try:
        _move(old, new)
    except FileNotFoundError:
        return False
    return True


def _erase_after_commit(name: str) -> None:
    """Erase the bytes at ``name`` (out of reach already) once the transaction commits; a failure is logged."""
    storage = conf.storage()

    def erase_bytes() -> None:
        try:
            delete_blob(storage, name)
        except Exception:
            logger.exception("could not erase %s after its file was removed: files_cleanup removes it", name)

    transaction.on_commit(erase_bytes)


def upload_check(*, upload: UploadedFile, category: str) -> tuple[Kind, str, UploadedFile]:
    """The kind, stored extension and bytes to store of ``upload`` as a ``category`` file, or :class:`FileRejected`.

    The one set of checks every upload path runs (API, admin): the
    category's size limit, then its allowed kinds, read from the bytes; the
    bytes to store are a photo's without its identifying metadata (rewriting
    them can refuse a file too, so a form shows that before saving).
    """
    limit = conf.max_upload_size_for(category)
    if upload.size > limit:
        raise FileTooLarge(limit, category=category)
    kind = detect_kind(upload, category)
    return kind, extension_for(kind, upload.name or ""), upload_without_metadata(upload, kind)


def _new_file(
    entity_type: ContentType, entity_id, upload: UploadedFile, category: str, uploaded_by
) -> tuple[File, UploadedFile]:
    """The row for ``upload`` and the bytes to store."""
    kind, extension, content = upload_check(upload=upload, category=category)
    client_name = upload.name or ""
    return File(
        entity_type=entity_type,
        entity_id=entity_id,
        category=category,
        extension=extension,
        media_type=kind.media_type,
        name=clean_file_name(client_name, extension),
        size=content.size,
        sha256=getattr(content, "sha256", None) or _sha256(content),
        uploaded_by=uploaded_by,
    ), content


def clean_file_name(name: str, extension: str) -> str:
    """The client's file name made safe to keep and show, ending in ``extension``, the detected kind's.

    Path parts, control and format characters (bidi overrides among them) are
    dropped, white space is folded and the length capped. A name ending in
    another extension has it replaced (a PDF sent as ``x.exe`` is kept and
    served as ``x.pdf``), one with none gets it (``blob`` becomes
    ``blob.pdf``), and one left empty becomes ``file`` with it.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char)[0] not in {"C", "Z"} or char == " ")
    name = " ".join(name.split()).strip(". ")
    if name.lower().endswith(extension):
        stem, ending = name[: -len(extension)], name[-len(extension) :]  # the client's spelling: ".JPG"
    else:
        stem, dot, suffix = name.rpartition(".")
        if not (dot and stem and suffix.isalnum() and len(suffix) <= _EXTENSION_LIMIT):
            stem = name  # no extension to replace: "Dr. Smith letter" does not end in ". Smith letter"
        ending = extension
    return (stem[: _NAME_LIMIT - len(ending)] or "file") + ending


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _delete_bytes_after_failure(storage_name: str) -> None:
    # Cleaning up after another error: a second failure is logged (the bytes
    # become an orphan for the cleanup job) so that the first one reaches the caller.
    try:
        delete_blob(conf.storage(), storage_name)
    except Exception:
        logger.exception("could not remove %s after a failed upload", storage_name)
