"""``manage.py files_purge``: remove trashed files older than the retention period, for good.

Run it daily (cron, a Kubernetes CronJob). Files on legal hold are kept.
"""

from django.core.management.base import BaseCommand

from files import conf
from files.services import files_purge_expired


class Command(BaseCommand):
    help = "Purge trashed files older than FILES_TRASH_RETENTION_DAYS (files on legal hold are kept)."

    def handle(self, *args, **options) -> None:
        count = files_purge_expired()
        self.stdout.write(f"Purged {count} file(s) deleted more than {conf.trash_retention().days} day(s) ago.")
