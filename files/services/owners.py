"""Deleting a record that owns files: its files go with it, to the trash, named to whoever deleted the record.

:func:`owner_delete` checks everything first, then lets the ORM delete
the record and its cascades; for each record, the ``pre_delete`` receiver
(``files.receivers``) calls :func:`owner_files_delete_with`, which deletes
its live files through :func:`~files.services.trash.file_delete`.
"""

import contextvars
import functools
import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models, router
from django.db.models import Q, QuerySet
from django.db.models.deletion import Collector

from files import conf
from files.exceptions import DeleteNotPermitted, UnattributedDelete
from files.models import File, FileOwner
from files.policy import DELETE
from files.services.holds import legal_hold_check
from files.services.storage import storage_transaction
from files.services.trash import file_delete


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
