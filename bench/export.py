"""Peak RSS of one process streaming a 1 GiB record export through the project's WSGI app.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/export.py [--mib 1024]

It makes a throwaway test database and a temporary storage folder, stores
64 files of random bytes (1 GiB together) for one patient, then sends
``GET /api/patients/{id}/export/`` to ``clinic.wsgi.application`` in this
process and reads the ZIP as a WSGI server would, counting its bytes,
while a thread samples this process's RSS every 20 ms. It prints the RSS
before, the peak while streaming, and the time; it exits 1 when the peak is
over the bench's bound (120 MB). Everything it made is removed at the end.
"""

import argparse
import hashlib
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

BOUND_MB = 120
FILES = 64
CHUNK = 1024 * 1024


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.running = 0.0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024, help="total size of the patient's files")
    total_mib = parser.parse_args().mib
    folder = tempfile.mkdtemp(prefix="export-bench-")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django
    from django.conf import settings

    django.setup()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": folder}},
    }
    settings.ALLOWED_HOSTS = ["*"]
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    # A database of its own: never the test suite's test_<name>, which may be in use.
    connection.settings_dict["TEST"] = {
        **connection.settings_dict.get("TEST", {}),
        "NAME": f"bench_export_{os.getpid()}",
    }
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        return run(folder, total_mib)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        for path in sorted(Path(folder).rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        os.rmdir(folder)


def run(folder: str, total_mib: int) -> int:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType
    from rest_framework.authtoken.models import Token

    from clinic.wsgi import application
    from files.models import File, FileVersion
    from patients.models import Patient

    admin = get_user_model().objects.create(username="bench-admin")
    admin.groups.add(Group.objects.get(name="admin"))
    token = Token.objects.create(user=admin)
    patient = Patient.objects.create(reg_number="BENCH-1", first_name="Bench", last_name="Export")
    entity_type = ContentType.objects.get_for_model(Patient)
    size = total_mib * CHUNK // FILES
    for n in range(FILES):
        file = File(
            entity_type=entity_type,
            entity_id=patient.pk,
            category="report",
            extension=".pdf",
            media_type="application/pdf",
            name=f"report-{n}.pdf",
            size=size,
            sha256="",
            storage_name="",
        )
        file.storage_name = f"{patient.pk}/{file.pk}.pdf"
        path = Path(folder, file.storage_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with path.open("wb") as out:
            for _ in range(size // CHUNK):
                block = os.urandom(CHUNK)  # incompressible, like scans and PDFs
                digest.update(block)
                out.write(block)
        file.sha256 = digest.hexdigest()
        file.save()
        FileVersion.objects.create(
            file=file,
            number=1,
            storage_name=file.storage_name,
            size=size,
            sha256=file.sha256,
            media_type=file.media_type,
            extension=".pdf",
        )
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/api/patients/{patient.pk}/export/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "HTTP_AUTHORIZATION": f"Token {token.key}",
        "REMOTE_ADDR": "127.0.0.1",
    }
    statuses = []
    before = rss_mb()
    sampler = Sampler()
    sampler.start()
    started = time.monotonic()
    body = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
    sent = 0
    try:
        for chunk in body:
            sent += len(chunk)
    finally:
        getattr(body, "close", lambda: None)()
    seconds = time.monotonic() - started
    sampler.running = False
    sampler.join()
    print(f"status {statuses[0]}; {FILES} files, {total_mib} MiB; ZIP {sent / CHUNK:.1f} MiB in {seconds:.1f} s")
    print(f"RSS before {before:.1f} MB, peak while streaming {sampler.peak:.1f} MB (bound {BOUND_MB} MB)")
    return 0 if statuses[0].startswith("200") and sampler.peak <= BOUND_MB else 1


if __name__ == "__main__":
    sys.exit(main())
