"""Virus scans of stored files (:func:`file_scan`) and the quarantine of an infected one (:func:`file_quarantine`)."""

import logging

from django.utils import timezone

from files import conf
from files.audit import Action, Attempt
from files.backends import storage_errors
from files.models import File, quarantine_name, trash_name
from files.scanning import stream_scan
from files.services.storage import _blob_names, _move_if_there, storage_transaction

logger = logging.getLogger(__name__)


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
