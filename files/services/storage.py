"""Bytes moved in step with the database: :func:`storage_transaction`, and the moves and erasures made in it.

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
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction

from files import conf
from files.backends import delete_blob, move_blob
from files.derivatives import derivative_names
from files.models import File, FileVersion

logger = logging.getLogger(__name__)


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
    direct upload whose own row fails to save after
    :func:`~files.services.intake.files_attach` moved its object into place gets it back: ``files.direct``). A
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


def _delete_bytes_after_failure(storage_name: str) -> None:
    # Cleaning up after another error: a second failure is logged (the bytes
    # become an orphan for the cleanup job) so that the first one reaches the caller.
    try:
        delete_blob(conf.storage(), storage_name)
    except Exception:
        logger.exception("could not remove %s after a failed upload", storage_name)
