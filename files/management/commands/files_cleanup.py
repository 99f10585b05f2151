"""``manage.py files_cleanup``: reconcile the database with storage (see ``files.reconcile``)."""

from datetime import timedelta

from django.core.management.base import BaseCommand

from files.reconcile import files_reconcile


class Command(BaseCommand):
    help = (
        "Remove bytes no file points at, move misplaced bytes, report rows whose bytes are missing, "
        "trash files whose record is gone, purge expired trash and remove temporary upload files "
        "that killed workers left in FILES_UPLOAD_TEMP_DIR (untouched for an hour), remove expired resumable "
        "uploads and their staged bytes, abort stale incomplete multipart uploads on S3, and remove expired "
        "direct uploads and bytes in incoming/ that no direct upload owns (FILES_DIRECT_UPLOAD_GRACE)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report what would be done; change nothing.")
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=24,
            help="Leave bytes younger than this alone: an upload may be writing them (default 24).",
        )

    def handle(self, *args, dry_run: bool, grace_hours: float, verbosity: int, **options) -> None:
        scanned = 0

        def progress(count: int) -> None:
            nonlocal scanned
            scanned += count
            if verbosity and scanned and scanned % 1000 < count:
                self.stderr.write(f"\rscanned {scanned} stored files", ending="")

        report = files_reconcile(dry_run=dry_run, grace=timedelta(hours=grace_hours), progress=progress)
        if verbosity:
            self.stderr.write(f"\rscanned {scanned} stored files")
        verb = "would" if dry_run else "did"
        actions = {
            "orphan_blobs": "remove orphan bytes",
            "misplaced_blobs": "move misplaced bytes",
            "missing_blobs": "report (bytes missing, row kept)",
            "ownerless_files": "trash file of a deleted record",
            "expired_trash": "purge expired trash",
            "expired_exports": "delete expired export",
            "stale_upload_files": "remove temporary upload file left by a killed worker",
            "stale_multipart_uploads": "abort incomplete multipart upload",
            "expired_resumable_uploads": "remove expired resumable upload",
            "expired_direct_uploads": "remove expired direct upload",
            "stale_incoming_objects": "remove bytes no direct upload owns",
            "failed": "fail (storage refused; the next run tries again)",
        }
        for field, action in actions.items():
            for item in getattr(report, field):
                self.stdout.write(f"{verb} {action}: {item}")
        summary = ", ".join(f"{count} {name}" for name, count in report.summary().items())
        self.stdout.write(f"{'Dry run' if dry_run else 'Done'}: {summary}.")
