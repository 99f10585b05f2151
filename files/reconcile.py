"""Reconciling the database with storage: what ``files_cleanup`` and its admin page run.

Over years, rows and bytes drift apart: an upload killed between writing its
bytes and its row, a crash between a delete's commit and its move to the
trash, a record removed behind the ORM's back. :func:`files_reconcile` finds

- **orphan blobs**: bytes no row points at, older than a grace period (so an
  upload in flight is never touched) — removed;
- **misplaced blobs**: a file's bytes at its live name while it is in the
  trash, or in the trash while it is live — moved where the row says;
- **missing blobs**: rows whose bytes are nowhere — reported only, never
  deleted (an operator decides);
- **ownerless files**: files whose record no longer exists — put in the trash;
- **expired trash** — purged, except files on legal hold;
- **earlier versions** of files are known by their rows too: misplaced
  bytes are moved where their file is, missing ones reported;
- **derivatives** (thumbnails, previews) are known by their rows: their bytes
  are never orphans, misplaced ones are moved, and a ready row whose bytes
  are gone is reported and (unless ``dry_run``) removed, so that
  ``files_derivatives`` makes it again;
- **expired exports** (built in the background, past ``FILES_EXPORT_LIFETIME``):
  their bytes and rows deleted; a live export's bytes are known, never orphans;
- **stale upload files**: temporary files of uploads in
  ``FILES_UPLOAD_TEMP_DIR`` untouched for :data:`UPLOAD_FILE_GRACE`, left by
  a worker killed in the middle of a request — removed. That folder is this
  server's own: run the command on every server that takes uploads.
- **expired resumable uploads**: tus uploads past their ``expires_at``
  (``FILES_RESUMABLE_LIFETIME`` after their last chunk) — their rows and
  staged bytes removed (a File they completed stays).
- **stale multipart uploads**: on S3, multipart uploads started before the
  grace period and never completed (a worker killed, or the store cut off,
  in the middle of a large upload): their parts are stored and billed, and
  listed nowhere else — aborted.
- **expired direct uploads**: direct-to-S3 uploads expired more than
  ``FILES_DIRECT_UPLOAD_GRACE`` ago — their rows and any bytes under their
  names in ``incoming/`` removed (a File they made stays);
- **stale incoming objects**: bytes in ``incoming/`` that no direct upload
  owns, older than ``FILES_DIRECT_UPLOAD_GRACE`` (posted again after a
  finalize, or left by a removal that failed) — removed. Bytes in
  ``incoming/`` follow these two rules, never the orphans' ``grace``: an
  upload not finalized yet is never touched.

With ``dry_run`` it only reports. A repair that storage refuses is logged
and listed as **failed**; the others go on, and the next run tries it again.
"""

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.db.models import F
from django.utils import timezone

from files import conf
from files.backends import move_blob, storage_errors
from files.direct import direct_upload_delete, direct_uploads_expired, incoming_stale_names
from files.exceptions import FileOnHold, StorageUnavailable
from files.export import exports_sweep_expired
from files.models import INCOMING_PREFIX, Derivative, Export, File, FileVersion, trash_name
from files.resumable import resumable_expired_delete
from files.selectors import file_owner, files_expired_trash
from files.services import file_delete, file_purge
from files.uploads import TEMP_PREFIX, TEMP_SUFFIX

logger = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(hours=24)
#: A live upload writes its temporary file every 64 KiB it receives, and the
#: proxy in front gives up on a client silent for a minute: a file unwritten
#: for an hour belongs to no live request.
UPLOAD_FILE_GRACE = timedelta(hours=1)


@dataclass
class Report:
    orphan_blobs: list[str] = field(default_factory=list)
    misplaced_blobs: list[str] = field(default_factory=list)
    missing_blobs: list[str] = field(default_factory=list)
    ownerless_files: list[str] = field(default_factory=list)
    expired_trash: list[str] = field(default_factory=list)
    expired_exports: list[str] = field(default_factory=list)
    stale_upload_files: list[str] = field(default_factory=list)
    missing_derivatives: list[str] = field(default_factory=list)
    stale_multipart_uploads: list[str] = field(default_factory=list)
    expired_resumable_uploads: list[str] = field(default_factory=list)
    expired_direct_uploads: list[str] = field(default_factory=list)
    stale_incoming_objects: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {name.replace("_", " "): len(items) for name, items in vars(self).items()}


def files_reconcile(
    *, dry_run: bool, grace: timedelta = DEFAULT_GRACE, progress: Callable[[int], None] | None = None
) -> Report:
    """Find (and unless ``dry_run``, repair) the drift between rows and stored bytes."""
    storage = conf.storage()
    report = Report()
    report.expired_exports = exports_sweep_expired(dry_run=dry_run)
    blobs = set(_all_names(storage, "", progress))
    incoming = {name for name in blobs if name.startswith(INCOMING_PREFIX)}
    blobs -= incoming  # direct uploads' bytes: their own rules below, never orphans
    files = list(File.all_objects.select_related("entity_type"))
    derivatives = list(Derivative.objects.filter(state=Derivative.State.READY).select_related("file"))
    # An infected file's bytes are kept in quarantine (its blob name) until the file is purged.
    known = {name for file in files for name in (file.storage_name, file.trash_name, file.blob_name)}
    known |= {
        name
        for derivative in derivatives
        for name in (
            derivative.storage_name,
            trash_name(derivative.storage_name),
            derivative.blob_name(derivative.file),
        )
    }
    versions = list(FileVersion.objects.select_related("file").exclude(storage_name=F("file__storage_name")))
    known |= {name for version in versions for name in (version.storage_name, trash_name(version.storage_name))}
    known |= set(Export.objects.exclude(storage_name="").values_list("storage_name", flat=True))
    cutoff = timezone.now() - grace
    for name in sorted(blobs - known):
        with storage_errors():
            young = storage.get_modified_time(name) >= cutoff
        if not young and _repaired(report, f"orphan {name}", dry_run, partial(storage.delete, name)):
            report.orphan_blobs.append(name)
    expired = set(files_expired_trash().values_list("pk", flat=True))
    for derivative in derivatives:
        _check_derivative(derivative, blobs, report, dry_run)
    for version in versions:
        _check_version(version, blobs, report, dry_run)
    for file in files:
        _check_file(file, blobs, expired, report, dry_run)
    _remove_stale_upload_files(report, dry_run)
    report.expired_resumable_uploads = resumable_expired_delete(dry_run=dry_run)
    _abort_stale_multipart_uploads(storage, cutoff, report, dry_run)
    _sweep_direct_uploads(storage, incoming, report, dry_run)
    return report


def _sweep_direct_uploads(storage, incoming: set[str], report: Report, dry_run: bool) -> None:
    removed: set[str] = set()
    for upload in direct_uploads_expired():
        what = f"{upload.pk} (expired {upload.expires_at:%Y-%m-%d %H:%M})"
        remove = partial(direct_upload_delete, upload=upload)
        if _repaired(report, f"expired direct upload {upload.pk}", dry_run, remove):
            report.expired_direct_uploads.append(what)
            removed |= {upload.incoming_name, upload.received_name}
    # The expired uploads' bytes went with them (or, in a dry run, are still theirs): never stale ones.
    for name in incoming_stale_names(names=incoming - removed):
        if _repaired(report, f"stale incoming {name}", dry_run, partial(storage.delete, name)):
            report.stale_incoming_objects.append(name)


def _current(derivative: Derivative) -> str:
    return derivative.blob_name(derivative.file)


def _repaired(report: Report, what: str, dry_run: bool, repair: Callable[[], object]) -> bool:
    """Run ``repair`` (unless ``dry_run``); False, logged and listed as failed, when storage refuses it."""
    if dry_run:
        return True
    try:
        with storage_errors():
            repair()
    except StorageUnavailable:
        logger.exception("files_cleanup: could not repair %s; the next run tries again", what)
        report.failed.append(what)
        return False
    return True


def _abort_stale_multipart_uploads(storage, cutoff, report: Report, dry_run: bool) -> None:
    if not hasattr(storage, "incomplete_uploads"):
        return  # local disk writes no parts
    with storage_errors():
        uploads = storage.incomplete_uploads()
    for upload in sorted(uploads, key=lambda upload: upload.name):
        what = f"{upload.name} (started {upload.started:%Y-%m-%d %H:%M})"
        if upload.started < cutoff and _repaired(report, what, dry_run, partial(storage.abort_upload, upload)):
            report.stale_multipart_uploads.append(what)


def _remove_stale_upload_files(report: Report, dry_run: bool) -> None:
    cutoff = time.time() - UPLOAD_FILE_GRACE.total_seconds()
    try:
        entries = sorted(os.scandir(conf.upload_temp_dir()), key=lambda entry: entry.name)
    except FileNotFoundError:
        return  # no upload yet
    for entry in entries:
        # Only the service's own names: a misconfigured folder (the system's /tmp) loses nothing else.
        if not (entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX)):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue
            if not dry_run:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue  # its request ended meanwhile, and removed it
        report.stale_upload_files.append(entry.name)


def _check_derivative(derivative: Derivative, blobs: set[str], report: Report, dry_run: bool) -> None:
    name = derivative.blob_name(derivative.file)
    if name in blobs:
        return
    other_name = trash_name(derivative.storage_name) if name == derivative.storage_name else derivative.storage_name
    if other_name in blobs:
        if _repaired(report, f"misplaced {other_name}", dry_run, partial(move_blob, conf.storage(), other_name, name)):
            report.misplaced_blobs.append(other_name)
        return
    report.missing_derivatives.append(f"{derivative.file_id} {derivative.variant} ({name})")
    if not dry_run:
        Derivative.objects.filter(pk=derivative.pk, storage_name=derivative.storage_name).delete()


def _check_version(version: FileVersion, blobs: set[str], report: Report, dry_run: bool) -> None:
    """An earlier version's bytes (the current one's are its file's): moved where its file is, or reported."""
    name = version.blob_name(version.file)
    if name in blobs:
        return
    other_name = trash_name(version.storage_name) if name == version.storage_name else version.storage_name
    if other_name not in blobs:
        report.missing_blobs.append(f"{version.file_id} version {version.number} ({name})")
    elif _repaired(report, f"misplaced {other_name}", dry_run, partial(move_blob, conf.storage(), other_name, name)):
        report.misplaced_blobs.append(other_name)


def _check_file(file: File, blobs: set[str], expired: set, report: Report, dry_run: bool) -> None:
    other_name = file.storage_name if file.deleted_at else file.trash_name
    if file.blob_name not in blobs:
        if other_name not in blobs:
            report.missing_blobs.append(f"{file.pk} ({file.blob_name})")
            return
        # Bytes a failed move or a rolled-back transaction left behind: moved where the row says.
        move = partial(move_blob, conf.storage(), other_name, file.blob_name)
        if not _repaired(report, f"misplaced {other_name}", dry_run, move):
            return
        report.misplaced_blobs.append(other_name)
    if file.deleted_at is None and not file.legal_hold and file_owner(file) is None:
        # A file on hold stays where it is, record or not: the hold is exactly for that.
        if _repaired(report, f"ownerless {file.pk}", dry_run, partial(file_delete, file=file)):
            report.ownerless_files.append(str(file.pk))
    elif file.pk in expired:
        try:
            if _repaired(report, f"expired {file.pk}", dry_run, partial(file_purge, file=file)):
                report.expired_trash.append(str(file.pk))
        except FileOnHold:
            pass  # put on hold since the list was made


def _all_names(storage, folder: str, progress: Callable[[int], None] | None) -> Iterator[str]:
    """Every stored name under ``folder``, walking sub-folders (a record's folder, the trash)."""
    try:
        folders, names = storage.listdir(folder)
    except FileNotFoundError:
        return  # local disk before the first upload
    for name in names:
        yield f"{folder}{name}"
    if progress:
        progress(len(names))
    for sub in folders:
        yield from _all_names(storage, f"{folder}{sub}/", progress)
