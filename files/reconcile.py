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
- **derivatives** (thumbnails, previews) are known by their rows: their bytes
  are never orphans, misplaced ones are moved, and a ready row whose bytes
  are gone is reported and (unless ``dry_run``) removed, so that
  ``files_derivatives`` makes it again;
- **stale upload files**: temporary files of uploads in
  ``FILES_UPLOAD_TEMP_DIR`` untouched for :data:`UPLOAD_FILE_GRACE`, left by
  a worker killed in the middle of a request — removed. That folder is this
  server's own: run the command on every server that takes uploads.

With ``dry_run`` it only reports.
"""

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from files import conf
from files.backends import move_blob
from files.derivatives import trash_name
from files.exceptions import FileOnHold
from files.models import Derivative, File
from files.selectors import file_owner, files_expired_trash
from files.services import file_delete, file_purge
from files.uploads import TEMP_PREFIX, TEMP_SUFFIX

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
    stale_upload_files: list[str] = field(default_factory=list)
    missing_derivatives: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {name.replace("_", " "): len(items) for name, items in vars(self).items()}


def files_reconcile(
    *, dry_run: bool, grace: timedelta = DEFAULT_GRACE, progress: Callable[[int], None] | None = None
) -> Report:
    """Find (and unless ``dry_run``, repair) the drift between rows and stored bytes."""
    storage = conf.storage()
    report = Report()
    blobs = set(_all_names(storage, "", progress))
    files = list(File.all_objects.select_related("entity_type"))
    derivatives = list(Derivative.objects.filter(state=Derivative.State.READY).select_related("file"))
    known = {name for file in files for name in (file.storage_name, file.trash_name)}
    known |= {
        name for derivative in derivatives for name in (derivative.storage_name, trash_name(derivative.storage_name))
    }
    cutoff = timezone.now() - grace
    for name in sorted(blobs - known):
        if storage.get_modified_time(name) < cutoff:
            report.orphan_blobs.append(name)
            if not dry_run:
                storage.delete(name)
    expired = set(files_expired_trash().values_list("pk", flat=True))
    for derivative in derivatives:
        _check_derivative(derivative, blobs, report, dry_run)
    for file in files:
        _check_file(file, blobs, expired, report, dry_run)
    _remove_stale_upload_files(report, dry_run)
    return report


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
        report.misplaced_blobs.append(other_name)
        if not dry_run:
            move_blob(conf.storage(), other_name, name)
        return
    report.missing_derivatives.append(f"{derivative.file_id} {derivative.variant} ({name})")
    if not dry_run:
        Derivative.objects.filter(pk=derivative.pk, storage_name=derivative.storage_name).delete()


def _check_file(file: File, blobs: set[str], expired: set, report: Report, dry_run: bool) -> None:
    other_name = file.storage_name if file.deleted_at else file.trash_name
    if file.blob_name not in blobs:
        if other_name in blobs:
            report.misplaced_blobs.append(other_name)
            if not dry_run:
                move_blob(conf.storage(), other_name, file.blob_name)
        else:
            report.missing_blobs.append(f"{file.pk} ({file.blob_name})")
            return
    if file.deleted_at is None and not file.legal_hold and file_owner(file) is None:
        # A file on hold stays where it is, record or not: the hold is exactly for that.
        report.ownerless_files.append(str(file.pk))
        if not dry_run:
            file_delete(file=file)
    elif file.pk in expired:
        report.expired_trash.append(str(file.pk))
        if not dry_run:
            try:
                file_purge(file=file)
            except FileOnHold:
                report.expired_trash.pop()


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
