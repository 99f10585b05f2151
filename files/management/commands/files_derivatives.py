"""``manage.py files_derivatives``: make the thumbnails and previews existing files lack, in batches.

Uploads get theirs from background jobs; this catches up after an upgrade, a
new variant in ``FILES_DERIVATIVE_VARIANTS``, or failures: ``--failed`` tries
failed ones again, ``--all`` remakes every one. It works in this process
(``--enqueue`` sends jobs to the workers instead) and shows its progress.
"""

import sys

from django.core.management.base import BaseCommand

from files.derivatives import PICTURED_TYPES, file_derivatives_make
from files.selectors import files_needing_derivatives
from files.tasks import enqueue_derivatives


class Command(BaseCommand):
    help = "Make missing thumbnails and previews (--failed: failed ones again; --all: every one)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--failed", action="store_true", help="Try failed derivatives again.")
        parser.add_argument("--all", action="store_true", help="Remake every derivative.")
        parser.add_argument("--enqueue", action="store_true", help="Send jobs to the Celery workers instead.")
        parser.add_argument("--batch-size", type=int, default=200, help="Files read from the database at once.")

    def handle(self, *args, failed: bool, all: bool, enqueue: bool, batch_size: int, **options) -> None:
        files = files_needing_derivatives(media_types=PICTURED_TYPES, include_failed=failed, everything=all)
        ids = list(files.values_list("pk", flat=True))
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            if enqueue:
                enqueue_derivatives(batch, force=all)
            else:
                for file_id in batch:
                    file_derivatives_make(file_id=file_id, force=all)
            self._progress(start + len(batch), len(ids))
        verb = "Sent jobs for" if enqueue else "Made the derivatives of"
        self.stdout.write(f"{verb} {len(ids)} file(s).")

    def _progress(self, done: int, total: int, width: int = 30) -> None:
        """A progress bar on a terminal, on stderr so that stdout stays a plain report."""
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
