"""Background jobs of the files app, for Celery: each calls the files core, nothing more.

Every job is idempotent (run twice, the outcome is the same) and retried
with exponential backoff when what failed may work later (storage or the
database unreachable). Jobs are sent only once the transaction that asked
for them has committed (``files.derivatives.files_stored`` is sent on commit).
"""

import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError

from files import conf
from files.derivatives import derivatives_fail, file_derivatives_make, files_stored
from files.exceptions import ScannerUnavailable
from files.export import export_build, export_requested
from files.models import File
from files.reconcile import files_reconcile
from files.scanning import scanning_enabled
from files.selectors import files_awaiting_scan
from files.services import file_scan, files_purge_expired

logger = logging.getLogger(__name__)

#: What may work on a later try: storage (``OSError``) or the database being unreachable.
TRANSIENT = (OSError, DatabaseError)
MAX_RETRIES = 5
RETRY_BASE_SECONDS = 2
RETRY_MAX_SECONDS = 600


def retry_delay(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: doubling from 2 s, capped at 10 min, half of it random.

    The randomness spreads out the retries of many jobs that failed together (storage was down).
    """
    ceiling = min(RETRY_BASE_SECONDS * 2**retries, RETRY_MAX_SECONDS)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (not a secret)


@shared_task(bind=True, max_retries=MAX_RETRIES, ignore_result=True)
def make_derivatives(self, file_id: str, force: bool = False) -> None:
    """Make a file's thumbnail and preview (all of them again with ``force``)."""
    try:
        file_derivatives_make(file_id=file_id, force=force)
    except SoftTimeLimitExceeded:
        derivatives_fail(file_id=file_id, reason=f"Took longer than {conf.derivative_seconds()} seconds")
    except TRANSIENT as error:
        # In the web process (no broker) a retry would hold the request: the command retries failed ones.
        if self.request.is_eager or self.request.retries >= self.max_retries:
            derivatives_fail(file_id=file_id, reason=f"Gave up after {self.request.retries + 1} attempt(s): {error}")
            logger.warning("derivatives of %s failed: %s", file_id, error)
            return
        raise self.retry(exc=error, countdown=retry_delay(self.request.retries)) from error


def enqueue_derivatives(file_ids, *, force: bool = False) -> None:
    """Send one job per file; each may take ``FILES_DERIVATIVE_SECONDS`` (then it fails, and is killed soon after)."""
    seconds = conf.derivative_seconds()
    for file_id in file_ids:
        make_derivatives.apply_async((str(file_id), force), soft_time_limit=seconds, time_limit=seconds + 10)


def jobs_for_stored_files(sender, files, replaced: bool = False, **kwargs) -> None:
    """``files_stored`` receiver: a scan of each new or replaced content, or with scanning off its derivatives at once.

    After a replacement every derivative is made again (``remake``): a job
    still running for the old content cannot leave its pictures as ready.
    """
    if scanning_enabled():
        enqueue_scans((file.pk for file in files), remake=replaced)
    else:
        enqueue_derivatives((file.pk for file in files), force=replaced)


@shared_task(bind=True, max_retries=MAX_RETRIES, ignore_result=True)
def scan_file(self, file_id: str, rescan: bool = False, remake: bool = False) -> None:
    """Scan a file for malware; once found clean, make its derivatives.

    While clamd is down the file stays pending: the job is retried with
    backoff, then left to ``scan_pending_files`` (beat) and ``files_scan``.
    """
    try:
        status = file_scan(file_id=file_id, rescan=rescan)
    except (ScannerUnavailable, *TRANSIENT) as error:
        if self.request.is_eager or self.request.retries >= self.max_retries:
            logger.warning("scan of %s not done, the file stays pending: %s", file_id, error)
            return
        raise self.retry(exc=error, countdown=retry_delay(self.request.retries)) from error
    if status == File.ScanStatus.CLEAN:
        enqueue_derivatives([file_id], force=remake)


def enqueue_scans(file_ids, *, rescan: bool = False, remake: bool = False) -> None:
    """Send one scan job per file (``remake``: its derivatives are made again once it is found clean)."""
    for file_id in file_ids:
        scan_file.delay(str(file_id), rescan, remake)


@shared_task(ignore_result=True)
def scan_pending_files() -> int:
    """Every few minutes (beat): scan the files left pending (clamd was down, or stored before scanning)."""
    if not scanning_enabled():
        return 0
    ids = list(files_awaiting_scan().values_list("pk", flat=True)[:1000])
    enqueue_scans(ids)
    return len(ids)


@shared_task(ignore_result=True)
def build_export(export_id: str) -> None:
    """Build a record's export asked for in the background (idempotent: a built or running one is left as it is)."""
    export_build(export_id=export_id)


def job_for_requested_export(sender, export, **kwargs) -> None:
    """``export_requested`` receiver: the job that builds it."""
    build_export.delay(str(export.pk))


def connect() -> None:
    files_stored.connect(jobs_for_stored_files, dispatch_uid="files.tasks.jobs_for_stored_files")
    export_requested.connect(job_for_requested_export, dispatch_uid="files.tasks.job_for_requested_export")


@shared_task(ignore_result=True)
def purge_expired_trash() -> int:
    """Daily (beat): purge trashed files past ``FILES_TRASH_RETENTION_DAYS``."""
    count = files_purge_expired()
    logger.info("purged %d expired file(s) from the trash", count)
    return count


@shared_task(ignore_result=True)
def reconciliation_report() -> dict[str, int]:
    """Daily (beat): report the drift between rows and stored bytes; repairs are ``files_cleanup``'s, by hand."""
    summary = files_reconcile(dry_run=True).summary()
    logger.info("reconciliation report", extra={"report": summary})
    return summary
