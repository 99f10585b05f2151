"""Legal holds: the rule that nothing on hold goes (:func:`legal_hold_check`), and placing or releasing one.

A hold on a file or on its record keeps the file from being deleted,
purged or replaced; a hold on a record also keeps the record itself.
:func:`legal_hold_set` is the one way a hold changes, audited.
"""

from collections.abc import Iterable

from django.db import models, transaction

from files import conf
from files.audit import Action, Attempt
from files.exceptions import FileOnHold, HoldNotPermitted
from files.models import File, FileOwner


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
