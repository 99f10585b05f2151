"""Derivatives at scale: 1,000 phone photos made into thumbnails and previews by 1, then 2, Celery workers.

Run from the repo root (PostgreSQL on 127.0.0.1:5432 as ``postgres``, Redis on 127.0.0.1:6379)::

    .venv/bin/python bench/derivatives.py            # --files 1000 --size 3000x4000 by default

It creates the database ``clinic_bench_derivatives`` and a temp dir (photos,
storage, workers' logs), uploads the photos through ``files.services.file_attach``
with no job sent, then for each worker count: starts that many
``celery -A clinic worker --concurrency=1`` processes on Redis db 14, waits
until they answer a ping, sends one job per photo (``files.tasks.enqueue_derivatives``)
and times until every derivative row is ready, sampling each worker's peak
RSS (``VmHWM`` of its processes) and the machine's CPU. The derivatives are
wiped between runs. Then it times signed downloads of a thumbnail and of a
10 KiB original through the project's WSGI application, in-process.
It drops the database, empties Redis db 14 and removes the temp dir at the end.
"""

import argparse
import io
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
DB_NAME = "clinic_bench_derivatives"
PG = ["-h", "127.0.0.1", "-U", "postgres"]
BROKER = "redis://127.0.0.1:6379/14"
MB = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", default="3000x4000", help="each photo's WIDTHxHEIGHT")
    parser.add_argument("--workers", default="1,2", help="the worker counts to run, in order")
    parser.add_argument("--downloads", type=int, default=2000, help="requests per download row, per round")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="clinic-bench-derivatives."))
    _environment(tmp)
    _postgres("dropdb", "--if-exists", "--force")
    _postgres("createdb")
    try:
        _bench(args, tmp)
    finally:
        from django.db import connections

        connections.close_all()
        _postgres("dropdb", "--if-exists", "--force")
        _redis_flush()
        shutil.rmtree(tmp, ignore_errors=True)


def _postgres(program: str, *options: str) -> None:
    subprocess.run([program, *PG, *options, DB_NAME], check=True)  # noqa: S603 (our own command, on PATH)


def _environment(tmp: Path) -> None:
    """The project's settings for this process and the workers: every FILES_* of the calling shell dropped."""
    for name in [name for name in os.environ if name.startswith(("FILES_", "CELERY_"))]:
        del os.environ[name]
    os.environ.update(
        DJANGO_SETTINGS_MODULE="clinic.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        CLINIC_VAR_DIR=str(tmp / "var"),
        FILES_ROOT=str(tmp / "files"),
        CELERY_BROKER_URL=BROKER,
        DJANGO_SECRET_KEY="bench-secret",  # noqa: S106 (a throwaway database on loopback)
        DJANGO_LOG_LEVEL="WARNING",
    )
    os.environ.pop("REDIS_URL", None)  # throttle counts in local memory: no download is throttled here


def _bench(args, tmp: Path) -> None:
    import django

    sys.path.insert(0, str(REPO))
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    width, height = (int(side) for side in args.size.split("x"))
    user, patient = _owner()
    started = time.monotonic()
    photos = _upload_photos(patient, args.files, width, height)
    total = sum(photo.size for photo in photos)
    print(
        f"uploaded {len(photos)} JPEGs of {width}x{height} ({total / len(photos) / MB:.2f} MB each on average,"
        f" {total / MB:,.0f} MB) in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    results = {count: _run_workers(count, [photo.pk for photo in photos], tmp) for count in _counts(args.workers)}
    _report_workers(results)
    _report_downloads(_downloads(user, patient, photos[0], args.downloads))


def _counts(text: str) -> list[int]:
    return [int(count) for count in text.split(",")]


def _owner():
    """A user of the 'admin' group (reaches every record) and a patient, as bench/prepare_project.py makes them."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from patients.models import Patient

    user = get_user_model().objects.create(username="bench-admin")
    user.groups.add(Group.objects.get(name="admin"))
    patient = Patient.objects.create(reg_number="BENCH-DERIV", first_name="Bench", last_name="Mark")
    return user, patient


def _upload_photos(patient, count: int, width: int, height: int) -> list:
    """``count`` distinct photos attached through the core, no derivative job sent (the runs send them)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from files import tasks
    from files.derivatives import files_stored
    from files.services import file_attach

    files_stored.disconnect(dispatch_uid="files.tasks.derivatives_for_stored_files")
    try:
        photo = _photo(width, height)
        files = []
        for index in range(count):
            data = _variant_of(photo, index)
            upload = SimpleUploadedFile(f"photo-{index:04}.jpg", data, content_type="image/jpeg")
            files.append(file_attach(owner=patient, upload=upload, category="document"))
        return files
    finally:
        tasks.connect()


def _photo(width: int, height: int):
    """A phone-sized picture that compresses like a photo (~2.8 MB at 3000x4000): gradients, blotches, grain."""
    from PIL import Image

    gradient = Image.linear_gradient("L").resize((width, height))
    blotches = Image.effect_noise((width // 4, height // 4), 40).resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 12)
    return Image.merge(
        "RGB",
        (
            Image.blend(gradient, blotches, 0.5),
            Image.blend(blotches, grain, 0.5),
            Image.blend(gradient.transpose(Image.Transpose.ROTATE_180), grain, 0.3),
        ),
    )


def _variant_of(photo, index: int) -> bytes:
    """``photo`` with a patch of its own, encoded as a phone would: every file has different bytes and pixels."""
    from PIL import Image

    rng = random.Random(index)  # noqa: S311 (test data)
    copy = photo.copy()
    patch = Image.effect_noise((256, 256), 30 + index % 50).convert("RGB")
    copy.paste(patch, (rng.randrange(photo.width - 256), rng.randrange(photo.height - 256)))
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=85)
    return out.getvalue()


def _run_workers(count: int, file_ids: list, tmp: Path) -> dict:
    """Start ``count`` workers, send every file's job, time until all derivatives are ready; then stop them."""
    from clinic.celery import app
    from files import conf
    from files.models import Derivative, File
    from files.tasks import enqueue_derivatives

    Derivative.objects.all().delete()
    File.all_objects.update(width=None, height=None, pages=None)
    shutil.rmtree(tmp / "files" / "derivatives", ignore_errors=True)
    _redis_flush()
    workers = [_start_worker(index, tmp) for index in range(count)]
    try:
        _wait_for_workers(app, count)
        expected = len(file_ids) * len(conf.derivative_variants())
        sampler = Sampler([worker.pid for worker in workers])
        sampler.start()
        started = time.perf_counter()
        enqueue_derivatives(file_ids)
        enqueued = time.perf_counter() - started
        done = Derivative.objects.exclude(state=Derivative.State.PENDING)
        while done.count() < expected:
            time.sleep(0.25)
        seconds = time.perf_counter() - started
        sampler.stop()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)  # warm shutdown: the current job finishes
        for worker in workers:
            worker.wait(timeout=60)
    failed = Derivative.objects.filter(state=Derivative.State.FAILED).count()
    result = {"seconds": seconds, "enqueue_seconds": enqueued, "files": len(file_ids), "failed": failed}
    result.update(sampler.summary(seconds))
    print(f"{count} worker(s): {len(file_ids) / seconds:.2f} files/s ({seconds:.1f} s), {failed} failed", flush=True)
    return result


def _start_worker(index: int, tmp: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "clinic", "worker", "--concurrency=1", "--loglevel=WARNING"]
    command += ["-n", f"bench{index}@%h", "--without-gossip", "--without-mingle"]
    log = open(tmp / f"worker-{index}.log", "ab")  # noqa: SIM115 (the worker holds it)
    return subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 (our own command)


def _wait_for_workers(app, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(app.control.ping(timeout=1)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} worker(s) did not answer a ping within 120 s")


def _redis_flush() -> None:
    import redis

    redis.Redis.from_url(BROKER).flushdb()


class Sampler(threading.Thread):
    """Every 0.2 s: each worker's processes' peak RSS (``VmHWM``) and CPU time; the machine's busy time."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.workers = {pid: psutil.Process(pid) for pid in pids}
        self.peaks: dict[int, dict[int, int]] = {pid: {} for pid in pids}  # worker -> process -> bytes
        self.cpu: dict[int, float] = {}  # process -> CPU seconds, last seen
        self.machine = psutil.cpu_times()
        self.own = time.process_time()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            self.sample()

    def stop(self) -> None:
        self.halt.set()
        self.join()
        self.sample()
        self.machine_busy = _busy(psutil.cpu_times()) - _busy(self.machine)
        self.own = time.process_time() - self.own

    def sample(self) -> None:
        for pid, worker in self.workers.items():
            try:
                processes = [worker, *worker.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for process in processes:
                try:
                    peak = _vm_hwm(process.pid)
                    times = process.cpu_times()
                except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
                    continue
                self.peaks[pid][process.pid] = max(peak, self.peaks[pid].get(process.pid, 0))
                self.cpu[process.pid] = times.user + times.system

    def summary(self, seconds: float) -> dict:
        workers_cpu = sum(self.cpu.values())
        capacity = seconds * psutil.cpu_count()
        return {
            "peak_rss": [
                {"main": peaks[pid], "pool": [value for child, value in peaks.items() if child != pid]}
                for pid, peaks in self.peaks.items()
            ],
            "workers_cpu_share": workers_cpu / capacity,
            "other_cpu_share": max(0.0, self.machine_busy - workers_cpu - self.own) / capacity,
        }


def _vm_hwm(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _busy(times) -> float:
    return sum(times) - times.idle - getattr(times, "iowait", 0)


def _report_workers(results: dict) -> None:
    print("\nworkers | files/s | seconds | peak RSS per worker (main / pool process) | CPU: workers, other work")
    for count, result in results.items():
        peaks = "; ".join(
            f"{entry['main'] / MB:.1f} / {max(entry['pool'], default=0) / MB:.1f} MB"
            + (f" ({len(entry['pool'])} pool processes)" if len(entry["pool"]) > 1 else "")
            for entry in result["peak_rss"]
        )
        failed = f" | {result['failed']} FAILED" if result["failed"] else ""
        print(
            f"{count} | {result['files'] / result['seconds']:.2f} | {result['seconds']:.1f} | {peaks}"
            f" | {result['workers_cpu_share']:.0%}, {result['other_cpu_share']:.0%}{failed}"
        )
    if 1 in results and 2 in results:
        speedup = results[1]["seconds"] / results[2]["seconds"]
        print(f"speed-up, 2 workers over 1: {speedup:.2f}x")
    enqueued = ", ".join(f"{result['enqueue_seconds']:.2f} s" for result in results.values())
    print(f"sending the jobs (inside the times): {enqueued}")


def _downloads(user, patient, photo, per_round: int) -> dict:
    """µs per signed download through ``clinic.wsgi.application``, in-process: a thumbnail, a 10 KiB original."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from clinic.wsgi import application
    from files import signing
    from files.services import file_attach

    body = _pdf_of_size(10 * 1024)
    original = file_attach(owner=patient, upload=SimpleUploadedFile("bench-10k.pdf", body), category="document")
    thumbnail = photo.derivatives.get(variant="thumbnail")
    paths = {
        "thumbnail": _signed(signing, photo, thumbnail.extension, user),
        "original 10 KiB": _signed(signing, original, original.extension, user),
    }
    sizes = {"thumbnail": thumbnail.size, "original 10 KiB": original.size}
    for label, path in paths.items():  # every row checked: 200 and the file's size
        status, length = _get(application, path)
        if status != "200 OK" or length != sizes[label]:
            raise RuntimeError(f"{label}: {status}, {length} bytes (expected {sizes[label]})")
    timings = {label: [] for label in paths}
    for _ in range(5):  # rounds, interleaved: a burst of other work on the machine hits both rows
        for label, path in paths.items():
            started = time.perf_counter()
            for _ in range(per_round):
                _get(application, path)
            timings[label].append((time.perf_counter() - started) / per_round * 1e6)
    _check_audit_trail(served=len(paths) * (1 + 5 * per_round))
    return {label: (statistics.median(times), min(times), max(times), sizes[label]) for label, times in timings.items()}


def _check_audit_trail(*, served: int) -> None:
    """Every download served is on the audit trail (written now: the database is dropped before exit)."""
    from files import audit
    from files.models import AuditEvent

    audit.stop_writer()
    written = AuditEvent.objects.filter(action="download", status=200).count()
    if written < served:
        raise RuntimeError(f"audit trail: {written} download events for {served} downloads served")


def _pdf_of_size(size: int) -> bytes:
    """A valid one-page PDF of exactly ``size`` bytes (uploads are checked by content: random bytes are refused)."""
    from demo import samples

    return samples.pdf_bytes("x" * (size - len(samples.pdf_bytes(""))))


def _signed(signing, file, extension: str, user) -> str:
    query = signing.sign(
        file_id=str(file.pk), entity_id=str(file.entity_id), extension=extension, issued_to=str(user.pk)
    )
    return f"/static/{file.entity_id}/{file.pk}{extension}?{query}"


def _get(application, path_and_query: str) -> tuple[str, int]:
    path, _, query = path_and_query.partition("?")
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = status

    chunks = application(environ, start_response)
    try:
        length = sum(len(chunk) for chunk in chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answer["status"], length


def _report_downloads(rows: dict) -> None:
    print("\nsigned download, in-process, clinic.wsgi.application | µs/request median (min-max, 5 rounds) | bytes")
    for label, (median, low, high, size) in rows.items():
        print(f"{label} | {median:.0f} ({low:.0f}-{high:.0f}) | {size:,}")


if __name__ == "__main__":
    main()
