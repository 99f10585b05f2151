"""``manage.py files_verify``: re-read every stored file, version and derivative; compare each with its SHA-256.

Bit rot, a truncated copy or a blob replaced behind the service's back shows up here. It reads every
byte, so run it off-peak; it changes nothing and exits 1 when it found a problem.
"""

import hashlib

from django.core.management.base import BaseCommand, CommandError
from django.db.models import F

from files import conf
from files.models import Derivative, File, FileVersion

CHUNK = 1024 * 1024


class Command(BaseCommand):
    help = "Verify every file's bytes against its recorded SHA-256; report corrupted and missing ones."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--include-trash", action="store_true", help="Verify files in the trash too.")

    def handle(self, *args, include_trash: bool, **options) -> None:
        files = File.all_objects.all() if include_trash else File.objects.all()
        storage = conf.storage()
        checked, problems = 0, 0
        for file in files.iterator():
            checked += 1
            problems += self._check(storage, file.pk, file.blob_name, file.sha256)
        # Earlier versions (the current one is its file's row), kept for good and so checked too.
        versions = FileVersion.objects.filter(file__in=files).exclude(storage_name=F("file__storage_name"))
        for version in versions.select_related("file").iterator():
            checked += 1
            label = f"{version.file_id} version {version.number}"
            problems += self._check(storage, label, version.blob_name(version.file), version.sha256)
        # Thumbnails and previews are checked (and counted) too: a corrupted one shows in every list.
        derivatives = Derivative.objects.filter(state=Derivative.State.READY, file__in=files).select_related("file")
        for derivative in derivatives.iterator():
            checked += 1
            problems += self._check(storage, derivative.pk, derivative.blob_name(derivative.file), derivative.sha256)
        self.stdout.write(f"Verified {checked} file(s): {problems} problem(s).")
        if problems:
            raise CommandError(f"{problems} file(s) missing or corrupted")

    def _check(self, storage, pk, name: str, sha256: str) -> int:
        """1 (and a line saying why) when the bytes at ``name`` are missing or differ from ``sha256``; else 0."""
        try:
            digest = _sha256(storage, name)
        except FileNotFoundError:
            self.stdout.write(f"missing: {pk} ({name})")
            return 1
        if digest != sha256:
            self.stdout.write(f"corrupted: {pk} ({name}) sha256 {digest} != {sha256}")
            return 1
        return 0


def _sha256(storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as stored:
        while chunk := stored.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
