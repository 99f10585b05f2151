"""Deleting a file: to the trash (:func:`file_delete`), back out of it (:func:`file_restore`), or for good.

A deleted file is unreachable at once: its row is marked deleted and its
bytes, its earlier versions' and its derivatives' move to their trash names
in one storage transaction. A purge (:func:`file_purge`, and
:func:`files_purge_expired` once ``FILES_TRASH_RETENTION_DAYS`` are over;
with no retention, a delete itself) removes the row and erases the bytes
after the commit. Nothing on legal hold is deleted or purged.
"""

import logging

from django.utils import timezone

from files import conf
from files.audit import Action, Attempt
from files.backends import storage_errors
from files.derivatives import derivative_names
from files.exceptions import FileNotRestorable, FileOnHold
from files.models import File, trash_name
from files.selectors import file_owner, files_expired_trash
from files.services.holds import legal_hold_check
from files.services.storage import (
    _blob_names,
    _earlier_version_names,
    _erase_after_commit,
    _move,
    _move_if_there,
    storage_transaction,
)

logger = logging.getLogger(__name__)


def file_delete(*, file: File, deleted_by=None) -> None:
    """Delete ``file``: unreachable at once, its bytes kept in the trash for ``FILES_TRASH_RETENTION_DAYS``.

    Whole or nothing (see :mod:`files.services.storage`): raises :class:`StorageUnavailable`
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


def _move_to_trash(file_id, names: list[str]) -> None:
    for name in names:
        if not _move_if_there(name, trash_name(name)):
            # Nothing at the live name to reach: the delete goes on; files_cleanup reports bytes that are nowhere.
            logger.warning("file %s deleted without bytes at %s", file_id, name)
