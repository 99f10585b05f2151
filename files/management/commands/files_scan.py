"""``manage.py files_scan``: scan for malware the files the scanner has not decided, in this process.

New files are scanned by background jobs; this catches up after an upgrade
(files stored before scanning are ``pending``) or an outage of clamd.
``--failed`` tries failed scans again, ``--all`` rescans every file not
already infected (after adding signatures). ``--enqueue`` sends jobs to the
workers instead. Exits non-zero when clamd cannot be reached.
"""

from django.core.management.base import BaseCommand, CommandError

from files.exceptions import ScannerUnavailable
from files.models import File
from files.scanning import scanning_enabled
from files.selectors import files_awaiting_scan
from files.services import file_scan
from files.tasks import enqueue_derivatives, enqueue_scans


class Command(BaseCommand):
    help = "Scan pending files for malware (--failed: failed ones again; --all: every file not infected)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--failed", action="store_true", help="Scan files whose scan failed again.")
        parser.add_argument("--all", action="store_true", help="Scan every file not already found infected.")
        parser.add_argument("--enqueue", action="store_true", help="Send jobs to the Celery workers instead.")

    def handle(self, *args, failed: bool, all: bool, enqueue: bool, **options) -> None:
        if not scanning_enabled():
            raise CommandError("Malware scanning is off: set FILES_CLAMD to clamd's socket")
        ids = list(files_awaiting_scan(failed=failed, everything=all).values_list("pk", flat=True))
        if enqueue:
            enqueue_scans(ids, rescan=failed or all)
            self.stdout.write(f"Sent jobs for {len(ids)} file(s).")
            return
        verdicts: dict[str, int] = {}
        for file_id in ids:
            try:
                status = file_scan(file_id=file_id, rescan=failed or all)
            except ScannerUnavailable as error:
                raise CommandError(f"{error} ({sum(verdicts.values())} of {len(ids)} file(s) scanned)") from error
            if status == File.ScanStatus.CLEAN:
                enqueue_derivatives([file_id])  # held back until now
            verdicts[status or "skipped"] = verdicts.get(status or "skipped", 0) + 1
        summary = ", ".join(f"{count} {status}" for status, count in sorted(verdicts.items())) or "nothing to scan"
        self.stdout.write(f"Scanned {len(ids)} file(s): {summary}.")
