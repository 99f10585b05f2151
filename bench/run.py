"""The file-serving benchmark: the project against the usual ways of serving files.

Started by ``bash bench/run`` (which installs the tools first); see bench/README.md.

What it does, in order:

1. makes the data in a temp dir: valid PDFs of 10 KiB and 64 MiB of random
   bytes (the project accepts only real PDFs, PNGs, ...: every peer serves
   these same bytes), and a sparse 1 GiB PDF for the memory measurement;
2. loads each peer in turn, alone on the machine, with one server process:
   nginx (sendfile), WhiteNoise and Django's static.serve under gunicorn,
   Starlette's StaticFiles under uvicorn;
3. loads the project itself under gunicorn (PostgreSQL, files on local disk):
   a signed URL, a token, the 64 MiB file in ``stream`` mode (download audit
   events batched, the default; then the count of events written is checked
   against the requests served), the signed URL and the token again with
   ``FILES_AUDIT_FLUSH_SECONDS=0`` (each event INSERTed in the request), then
   in ``accel`` mode behind nginx (X-Accel-Redirect);
4. samples the peak RSS of the project's worker while it sends a 1 GiB file
   and while it receives one;
5. prints the table and the target ratios, writes the raw figures as JSON.

Every load run is checked first: one download with curl must answer 200 with
the right bytes, or the row is FAILED (never silently skipped); a run with
any non-2xx answer is FAILED too. Everything listens on 127.0.0.1 only, every
run is bounded in time, and everything started is stopped at the end.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO / "bench" / "peers"
BIN = Path(sys.executable).parent  # the project's .venv/bin: gunicorn, uvicorn
PYTHON = sys.executable

KIB, MIB, GIB = 1024, 1024**2, 1024**3
SIZES = {"10k": 10 * KIB, "64m": 64 * MIB}
BIG_SIZE = GIB

# wrk: one thread (two cores: one for wrk, one for the server), a short
# warm-up (first connections, page cache, lazy imports), then the measured run.
DURATION = os.environ.get("BENCH_DURATION", "10s")
WARMUP = os.environ.get("BENCH_WARMUP", "2s")
CONNECTIONS = {"10k": 16, "64m": 4}
WRK_TIMEOUT = {"10k": "5s", "64m": "30s"}  # a 64 MiB answer may take seconds on a slow peer

# The same worker settings for every gunicorn peer. wrk keeps its connections
# alive and gunicorn's default sync worker closes each one after a request, so
# the threaded worker (which keeps them) is the fair comparison.
GUNICORN_WORKER = ["--workers", "1", "--worker-class", "gthread", "--threads", "4", "--keep-alive", "5"]

# wrk on the first core, every server process (and the workers it forks) on the
# others: left to the scheduler, wrk and a Python server keep landing on the same
# core and trading caches, which moved the Python peers' 10 KB figures by a third
# from run to run. BENCH_PIN=0 leaves placement to the scheduler.
_PIN = (os.cpu_count() or 1) >= 2 and os.environ.get("BENCH_PIN", "1") != "0" and shutil.which("taskset") is not None
CLIENT_CPUS = ["taskset", "-c", "0"] if _PIN else []
SERVER_CPUS = ["taskset", "-c", f"1-{(os.cpu_count() or 2) - 1}"] if _PIN else []

DB_NAME = "clinic_bench"
PG = ["-h", "127.0.0.1", "-U", "postgres"]
RSS_LIMIT_MIB = 120
NOISY_PERCENT = 10  # other work using more of the machine than this makes a run suspect

PDF_HEADER = b"%PDF-1.4\n"
PDF_TRAILER = b"\n%%EOF\n"  # the project checks for %%EOF in the last 1024 bytes


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def make_pdf(path: Path, size: int, *, sparse: bool = False) -> str:
    """Write a valid-enough PDF of exactly ``size`` bytes; return its SHA-256.

    Random bytes make a gzip/brotli layer or a deduplicating cache useless;
    the sparse variant (zeros, no disk blocks) is for the 1 GiB file, whose
    bytes do not matter, only that they travel.
    """
    body = size - len(PDF_HEADER) - len(PDF_TRAILER)
    digest = hashlib.sha256(PDF_HEADER)
    with open(path, "wb") as handle:
        handle.write(PDF_HEADER)
        if sparse:
            handle.truncate(len(PDF_HEADER) + body)
            handle.seek(len(PDF_HEADER) + body)
            zeros = bytes(MIB)
            for _ in range(body // MIB):
                digest.update(zeros)
            digest.update(bytes(body % MIB))
        else:
            left = body
            while left:
                chunk = os.urandom(min(MIB, left))
                handle.write(chunk)
                digest.update(chunk)
                left -= len(chunk)
        handle.write(PDF_TRAILER)
    digest.update(PDF_TRAILER)
    if path.stat().st_size != size:
        raise RuntimeError(f"{path} has {path.stat().st_size} bytes, not {size}")
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Services:
    """The servers this run started; each in its own session so that its
    workers are stopped with it (by its process group id, nothing broader)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, argv: list, *, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
        log_path = self.logs / f"{name}.log"
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(  # noqa: S603 (our own command lines)
                [str(arg) for arg in [*SERVER_CPUS, *argv]],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc.name, proc.log_path = name, log_path
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait()
        # The group may outlive its leader for a moment (workers finishing).
        self._signal(proc, signal.SIGKILL)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            self.stop(proc)

    @staticmethod
    def _signal(proc: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


def log_tail(proc: subprocess.Popen, lines: int = 15) -> str:
    try:
        return "\n".join(proc.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_until_listening(proc: subprocess.Popen, base_url: str, timeout: float = 60) -> None:
    """Wait for any HTTP answer (a 404 will do) from a server just started."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with status {proc.returncode}:\n{log_tail(proc)}")
        try:
            urllib.request.urlopen(f"{base_url}/static/__bench_ready__", timeout=2).close()  # noqa: S310 (loopback)
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not answer on {base_url} within {timeout:.0f}s:\n{log_tail(proc)}")
        time.sleep(0.1)


def run(argv: list, *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    argv = [str(arg) for arg in argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)  # noqa: S603


# --------------------------------------------------------------------------- measuring


def check_download(url: str, headers: list[str], size: int, sha256: str, scratch: Path) -> str | None:
    """One download with curl: None when it answers 200 with exactly the expected bytes, else why not."""
    argv = ["curl", "-sS", "--max-time", "120", "-o", scratch, "-w", "%{http_code} %{size_download}"]
    for header in headers:
        argv += ["-H", header]
    try:
        result = run([*argv, url], timeout=150)
        if result.returncode != 0:
            return f"curl failed: {result.stderr.strip()}"
        status, downloaded = result.stdout.split()
        if status != "200":
            body = scratch.read_bytes()[:300].decode(errors="replace") if scratch.exists() else ""
            return f"HTTP {status}: {body}"
        if int(downloaded) != size:
            return f"got {downloaded} bytes, expected {size}"
        if sha256_of(scratch) != sha256:
            return "the bytes differ from the file's"
        return None
    finally:
        scratch.unlink(missing_ok=True)


_UNITS = {"": 1, "K": KIB, "M": MIB, "G": GIB, "T": 1024 * GIB}


def parse_wrk(output: str) -> dict:
    def number(pattern: str, default=None):
        match = re.search(pattern, output)
        return match.groups() if match else default

    figures = {"requests": None, "req_s": None, "mib_s": None, "non2xx": 0, "socket_errors": None}
    if match := number(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)([KMGT]?)B read"):
        figures["requests"] = int(match[0])
    if match := number(r"Requests/sec:\s+([\d.]+)"):
        figures["req_s"] = float(match[0])
    if match := number(r"Transfer/sec:\s+([\d.]+)([KMGT]?)B"):
        figures["mib_s"] = float(match[0]) * _UNITS[match[1]] / MIB  # wrk's units are binary
    if match := number(r"Non-2xx or 3xx responses: (\d+)"):
        figures["non2xx"] = int(match[0])
    if match := number(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        figures["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, match), strict=True))
    for percent in ("50", "99"):
        if match := number(rf"\n\s+{percent}%\s+([\d.]+\w+)"):
            figures[f"latency_p{percent}"] = match[0]
    return figures


def wrk(url: str, *, connections: int, duration: str, timeout: str, headers: list[str]) -> tuple[dict, str]:
    argv = [*CLIENT_CPUS, "wrk", "-t1", f"-c{connections}", f"-d{duration}", "--timeout", timeout, "--latency"]
    for header in headers:
        argv += ["-H", header]
    seconds = float(re.sub(r"[a-z]+$", "", duration)) * (60 if duration.endswith("m") else 1)
    result = run([*argv, url], timeout=seconds + 60)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {output.strip()}")
    return parse_wrk(output), output


class OtherLoad:
    """How busy the machine was with work that is neither wrk nor the server under test.

    Two cores are shared with whatever else runs (a test suite, an editor's
    language server...), and a busy machine skews every figure. This measures
    it instead of guessing: CPU time the whole machine spent in user and
    system mode, less what the server's processes and this script's children
    (wrk) spent, over the run's wall time and all cores.
    """

    def __init__(self, servers: list[subprocess.Popen]) -> None:
        self.servers = servers

    def _server_seconds(self) -> float:
        total = 0.0
        for server in self.servers:
            try:
                root = psutil.Process(server.pid)
                for proc in [root, *root.children(recursive=True)]:
                    times = proc.cpu_times()
                    total += times.user + times.system
            except psutil.Error:
                continue
        return total

    @staticmethod
    def _busy_seconds() -> float:
        times = psutil.cpu_times()
        return times.user + times.nice + times.system

    @staticmethod
    def _children_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> OtherLoad:
        self.start = (
            time.monotonic(),
            self._busy_seconds(),
            self._server_seconds(),
            self._children_seconds(),
            psutil.Process().cpu_times(),
        )
        return self

    def __exit__(self, *exc) -> None:
        wall, busy, server, children, mine = self.start
        me = psutil.Process().cpu_times()
        ours = (self._server_seconds() - server) + (self._children_seconds() - children)
        ours += (me.user + me.system) - (mine.user + mine.system)
        other = (self._busy_seconds() - busy) - ours
        self.percent = max(0.0, 100 * other / ((time.monotonic() - wall) * (os.cpu_count() or 1)))


class Bench:
    """The rows measured so far, and how each is measured."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.rows: list[dict] = []
        self.servers: list[subprocess.Popen] = []  # what is under test now, for OtherLoad

    def failed(self, peer: str, case: str, error: str, **extra) -> dict:
        row = {"peer": peer, "case": case, "status": "FAILED", "error": error, **extra}
        log(f"  {peer} {case}: FAILED: {error}")
        self.rows.append(row)
        return row

    def not_applicable(self, peer: str, case: str, why: str) -> dict:
        row = {"peer": peer, "case": case, "status": "n/a", "error": why}
        log(f"  {peer} {case}: n/a: {why}")
        self.rows.append(row)
        return row

    def load(self, peer: str, case: str, url: str, *, sha256: str, headers: list[str] = ()) -> dict:
        """Check one download, warm up, then the measured wrk run; record and return the row."""
        headers = list(headers)
        row = {"peer": peer, "case": case, "url": url, "connections": CONNECTIONS[case], "duration": DURATION}
        error = check_download(url, headers, SIZES[case], sha256, self.tmp / "check.bin")
        if error:
            return self.failed(peer, case, f"check download: {error}", url=url)
        options = {"connections": CONNECTIONS[case], "timeout": WRK_TIMEOUT[case], "headers": headers}
        try:
            warmup, _ = wrk(url, duration=WARMUP, **options)
            row["warmup_requests"] = warmup["requests"]
            with OtherLoad(self.servers) as other:
                figures, output = wrk(url, duration=DURATION, **options)
        except Exception as error:  # a broken run is a FAILED row, the others go on
            return self.failed(peer, case, str(error), url=url)
        row.update(figures, wrk_output=output, other_cpu_percent=round(other.percent, 1))
        if not figures["requests"]:
            return self.failed(peer, case, f"no request completed:\n{output}", url=url)
        if figures["non2xx"]:
            return self.failed(peer, case, f"{figures['non2xx']} answers were not 2xx/3xx", url=url, **figures)
        row["status"] = "ok"
        self.rows.append(row)
        shown = f"{figures['req_s']:,.0f} req/s" if case == "10k" else f"{figures['mib_s']:,.1f} MB/s"
        log(
            f"  {peer} {case}: {shown} (p50 {figures.get('latency_p50')}, p99 {figures.get('latency_p99')}; "
            f"other work on the machine: {other.percent:.0f}% CPU)"
        )
        return row

    def has(self, peer: str, case: str) -> bool:
        return any(row["peer"] == peer and row["case"] == case for row in self.rows)

    def value(self, peer: str, case: str) -> float | None:
        for row in self.rows:
            if row["peer"] == peer and row["case"] == case and row["status"] == "ok":
                return row["req_s"] if case == "10k" else row["mib_s"]
        return None


class PeakRss:
    """Peak RSS of one process while a ``with`` block runs.

    A thread reads VmRSS from /proc/<pid>/status every 20 ms; on top of that
    the kernel's own high-water mark (VmHWM) is reset at the start (writing 5
    to /proc/<pid>/clear_refs, as root) and read at the end, so a spike
    shorter than the polling interval is not missed either.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _status(self, field: str) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # kB
        raise RuntimeError(f"no {field} for {self.pid}")

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._status("VmRSS"))
            except (OSError, RuntimeError):
                return  # the process is gone: the caller sees it
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self.before_kib = self._status("VmRSS")
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.hwm_kib = self._status("VmHWM")
        peaks = [*self.samples, self.before_kib] + ([self.hwm_kib] if self.hwm_reset else [])
        self.peak_kib = max(peaks)

    def report(self) -> dict:
        return {
            "peak_mib": round(self.peak_kib / 1024, 1),
            "before_mib": round(self.before_kib / 1024, 1),
            "polled_peak_mib": round(max(self.samples, default=0) / 1024, 1),
            "vmhwm_mib": round(self.hwm_kib / 1024, 1),
            "vmhwm_reset": self.hwm_reset,
            "samples": len(self.samples),
        }


# --------------------------------------------------------------------------- peers


def nginx_conf(tmp: Path, name: str, server_block: str) -> Path:
    """A minimal nginx.conf: one worker, no access log, sendfile, every path inside the temp dir."""
    home = tmp / f"nginx-{name}"
    home.mkdir(exist_ok=True)
    conf = home / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process on;
worker_processes 1;
# Root, because the files are root's (the project keeps its files mode 0600).
user root root;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    types {{ application/pdf pdf; }}
    default_type application/octet-stream;
    client_body_temp_path {home}/client_body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
{server_block}
}}
""")
    return conf


def start_nginx(services: Services, tmp: Path, name: str, server_block: str) -> subprocess.Popen:
    conf = nginx_conf(tmp, name, server_block)
    home = conf.parent
    check = run(["nginx", "-t", "-q", "-p", home, "-e", home / "error.log", "-c", conf], timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t: {check.stdout}{check.stderr}")
    return services.start(f"nginx-{name}", ["nginx", "-p", home, "-e", home / "error.log", "-c", conf])


def peer_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FILES_"))}
    env["BENCH_DATA_DIR"] = str(data_dir)
    return env


def start_gunicorn_peer(services: Services, tmp: Path, name: str, app: str, port: int, data_dir: Path):
    # An explicit, empty config file: gunicorn would otherwise read a
    # ./gunicorn.conf.py of the directory it starts in.
    empty = tmp / "peer.gunicorn.conf.py"
    empty.write_text("# bench peers: every setting is on the command line\n")
    argv = [BIN / "gunicorn", "-c", empty, *GUNICORN_WORKER, "--chdir", PEERS, "--bind", f"127.0.0.1:{port}"]
    return services.start(name, [*argv, "--log-level", "warning", app], env=peer_env(data_dir), cwd=PEERS)


def uvicorn_defaults() -> dict:
    """What ``--http auto`` and ``--loop auto`` resolve to with the installed extras."""
    return {
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    }


def run_peers(bench: Bench, services: Services, tmp: Path, data_dir: Path, shas: dict) -> dict:
    uv = uvicorn_defaults()
    nginx_block = f"""
    server {{
        listen 127.0.0.1:{{port}};
        location /static/ {{ alias {data_dir}/; }}
    }}"""
    peers = [
        ("nginx", lambda port: start_nginx(services, tmp, "peer", nginx_block.replace("{port}", str(port)))),
        (
            "WhiteNoise",
            lambda port: start_gunicorn_peer(services, tmp, "whitenoise", "whitenoise_app:application", port, data_dir),
        ),
        (
            "Django static.serve",
            lambda port: start_gunicorn_peer(
                services, tmp, "django-static", "django_static:application", port, data_dir
            ),
        ),
        (
            "Starlette",
            lambda port: services.start(
                "starlette",
                [
                    BIN / "uvicorn",
                    "starlette_app:app",
                    "--app-dir",
                    PEERS,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    port,
                    "--workers",
                    "1",
                    "--no-access-log",
                    "--http",
                    uv["http"],
                    "--loop",
                    uv["loop"],
                    "--log-level",
                    "warning",
                ],
                env=peer_env(data_dir),
                cwd=PEERS,
            ),
        ),
    ]
    for peer, start in peers:
        log(f"peer: {peer}")
        port = free_port()
        proc = None
        try:
            proc = start(port)
            bench.servers = [proc]
            base = f"http://127.0.0.1:{port}"
            wait_until_listening(proc, base)
            for case in SIZES:
                bench.load(peer, case, f"{base}/static/bench-{case}.pdf", sha256=shas[case])
        except Exception as error:  # the peer did not start: its rows are FAILED
            for case in SIZES:
                if not bench.has(peer, case):
                    bench.failed(peer, case, str(error))
        finally:
            if proc is not None:
                services.stop(proc)
    return {"uvicorn": uv}


# --------------------------------------------------------------------------- the project


def project_env(tmp: Path, mode: str, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FILES_", "AWS_", "GUNICORN_"))}
    env.pop("DATABASE_URL", None)
    env.pop("SENDFILE", None)  # gunicorn reads it; the project's own setting is what is measured
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        DJANGO_SECRET_KEY="bench-secret",  # noqa: S106 (a throwaway database on loopback)
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="clinic.settings",
        CLINIC_VAR_DIR=str(tmp / "project-var"),  # nothing of the run lands in the repo's var/
        FILES_BACKEND="local",
        FILES_ROOT=str(tmp / "project-files"),
        FILES_UPLOAD_TEMP_DIR=str(tmp / "upload-tmp"),
        # The default limits are 50 MiB a file and 100 MiB a request; the benchmark
        # stores 64 MiB and 1 GiB files (the 1 GiB one uploaded alone in one request).
        FILES_MAX_UPLOAD_SIZE=str(2 * GIB),
        FILES_MAX_REQUEST_SIZE=str(2 * GIB),
        FILES_SERVE_MODE=mode,
        FILES_ACCEL_PREFIX="/_protected_files/",
        GUNICORN_ACCESS_LOG="",  # gunicorn.conf.py: empty turns the access log off
    )
    env.update(extra or {})  # e.g. FILES_AUDIT_FLUSH_SECONDS=0 for the "audit at once" rows
    return env


def project_gunicorn_argv(port: int) -> list:
    """gunicorn for the project: its own gunicorn.conf.py when it has one, and on the
    command line (which wins over the file) what must be the same as the peers'.

    - one gthread worker, 4 threads, keep-alive 5: the gunicorn peers' settings;
    - loopback only, whatever the file binds;
    - --max-requests 0: the file recycles a worker every few thousand requests,
      which with several workers in production is staggered and hidden, but with
      the single worker measured here would stop all serving for a restart
      several times in each 10 s run (and lose the worker whose RSS is sampled).

    The access log is turned off through the file's own knob (GUNICORN_ACCESS_LOG,
    see project_env), as every peer runs without one.
    """
    argv = [BIN / "gunicorn"]
    if (REPO / "gunicorn.conf.py").exists():
        argv += ["-c", "gunicorn.conf.py"]
    app = os.environ.get("BENCH_PROJECT_APP", "clinic.wsgi")  # another entry point, to compare variants
    argv += [*GUNICORN_WORKER, "--max-requests", "0", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    return [*argv, app]


_EFFECTIVE_CONFIG = """
import json, sys
from gunicorn.app.wsgiapp import WSGIApplication
# sys.argv is ["-c", <gunicorn's arguments>...]: "-c" stands for the program name.
cfg = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg
print(json.dumps({"accesslog": cfg.accesslog, "worker_class": cfg.worker_class_str, "workers": cfg.workers,
                  "threads": cfg.threads, "keepalive": cfg.keepalive, "sendfile": cfg.sendfile,
                  "bind": cfg.bind, "max_requests": cfg.max_requests}))
"""


def effective_gunicorn_config(argv: list, env: dict) -> dict:
    """What gunicorn will really run with (config file plus command line), for the report."""
    result = run([PYTHON, "-c", _EFFECTIVE_CONFIG, *argv], timeout=60, cwd=REPO, env=env)
    if result.returncode != 0:
        return {"error": result.stderr.strip()[-500:]}
    has_file = (REPO / "gunicorn.conf.py").exists()
    return {
        "config_file": "gunicorn.conf.py" if has_file else None,
        **json.loads(result.stdout.strip().splitlines()[-1]),
    }


def start_project(
    services: Services, tmp: Path, mode: str, extra: dict | None = None, name: str = ""
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = project_env(tmp, mode, extra)
    proc = services.start(f"project-{name or mode}", project_gunicorn_argv(port), env=env, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    wait_until_listening(proc, base)
    return proc, base


def gunicorn_worker(master: subprocess.Popen) -> int:
    """The one worker: the child of the gunicorn master."""
    for _ in range(50):
        children = psutil.Process(master.pid).children()
        if len(children) == 1:
            return children[0].pid
        time.sleep(0.1)
    raise RuntimeError(f"expected one gunicorn worker under {master.pid}, found {len(children)}")


def create_database() -> None:
    # A leftover of a killed run is dropped: every run starts from an empty database.
    run(["dropdb", *PG, "--if-exists", DB_NAME], timeout=60, check=True)
    run(["createdb", *PG, DB_NAME], timeout=60, check=True)


def drop_database() -> None:
    try:
        run(["dropdb", *PG, "--if-exists", "--force", DB_NAME], timeout=60)
    except Exception as error:  # cleanup: report, go on
        log(f"could not drop {DB_NAME}: {error}")


AUDIT_AT_ONCE = {"FILES_AUDIT_FLUSH_SECONDS": "0"}
AUDIT_WAIT = 2.0  # seconds: the batched mode writes every FILES_AUDIT_FLUSH_SECONDS (1 s by default)
AUDIT_LATE_WAIT = 10.0  # when the count is short: how much longer to watch, to tell late from lost


def count_download_events() -> int:
    """Successful downloads on the bench database's audit trail (refusals, uploads and the rest left out)."""
    sql = "SELECT count(*) FROM files_auditevent WHERE action = 'download' AND status = 200"
    result = run(["psql", *PG, "-d", DB_NAME, "-X", "-q", "-t", "-A", "-c", sql], timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"psql: {result.stderr.strip()}")
    return int(result.stdout.strip())


def served_by(bench: Bench, keys: list[tuple[str, str]]) -> dict:
    """What the rows' wrk runs reported as completed, and every 200 the server must have recorded."""
    measured = warmups = checks = 0
    for row in bench.rows:
        if (row["peer"], row["case"]) in keys and row.get("requests") is not None:
            measured += row["requests"]
            warmups += row.get("warmup_requests") or 0
            checks += 1  # the curl download that checked the bytes, before wrk
    return {
        "wrk_measured": measured,
        "wrk_warmup": warmups,
        "check_downloads": checks,
        "expected_at_least": measured + warmups + checks,
    }


def audit_check(bench: Bench, mode: str, keys: list[tuple[str, str]], before: int, wait: float) -> dict:
    """Were the downloads of ``keys``' rows all put on the audit trail? Counted ``wait`` s after the load."""
    out = {"mode": mode, "rows": [f"{peer} {case}" for peer, case in keys], "waited_s": wait}
    try:
        time.sleep(wait)
        out.update(served_by(bench, keys), before=before)
        written = count_download_events() - before
        out["written"] = written
        if out["wrk_measured"] == 0:
            out.update(status="FAILED", error="no wrk run completed: nothing to compare with")
        elif written >= out["expected_at_least"]:
            out["status"] = "ok"
        else:
            # Short: late (the batch not written yet) or lost? Watch a while longer to say which.
            deadline = time.monotonic() + AUDIT_LATE_WAIT
            later = written
            while later < out["expected_at_least"] and time.monotonic() < deadline:
                time.sleep(0.5)
                later = count_download_events() - before
            out["written_later"] = later
            why = "late: all written" if later >= out["expected_at_least"] else "events missing"
            out.update(
                status="FAILED",
                error=(
                    f"{written:,} events {wait:g} s after the load, fewer than the {out['expected_at_least']:,} "
                    f"downloads served (wrk measured {out['wrk_measured']:,} + warm-up {out['wrk_warmup']:,} "
                    f"+ {out['check_downloads']} checks); {later:,} after {AUDIT_LATE_WAIT:g} s more ({why})"
                ),
            )
    except Exception as error:
        out.update(status="FAILED", error=f"could not count: {error}")
    log(
        f"  audit events written ({mode}): {out.get('written')} for {out.get('expected_at_least')} downloads: "
        f"{out['status']}"
    )
    return out


def measure_rss(tmp: Path, master: subprocess.Popen, base: str, token: str, patient_id: str, big: dict) -> dict:
    """Peak RSS of the worker while curl downloads, then uploads, 1 GiB."""
    out: dict = {}
    auth = ["-H", f"Authorization: Token {token}"]
    try:
        pid = gunicorn_worker(master)
    except Exception as error:
        return {
            "download": {"status": "FAILED", "error": str(error)},
            "upload": {"status": "FAILED", "error": str(error)},
        }
    for what in ("download", "upload"):
        if what == "download":
            argv = ["curl", "-sS", "--max-time", "300", "-o", "/dev/null", *auth, f"{base}{big['path']}"]
            expected = "200"
        else:
            # Multipart, streamed from disk by curl: the whole GiB goes through the client.
            # "Expect:" off: curl would otherwise wait a second for a 100 Continue.
            argv = [
                "curl",
                "-sS",
                "--max-time",
                "300",
                "-o",
                tmp / "upload-answer.json",
                *auth,
                "-H",
                "Expect:",
                "-F",
                f"file=@{big['local_path']};filename=big.pdf",
                f"{base}/api/patients/{patient_id}/files/",
            ]
            expected = "201"
        argv += ["-w", "%{http_code} %{size_download} %{size_upload} %{time_total}"]
        log(f"  project RSS: {what} 1 GiB")
        try:
            with PeakRss(pid) as rss:
                result = run(argv, timeout=330)
            status, down, up, seconds = (result.stdout.split() + ["?"] * 4)[:4]
            row = {"http_status": status, "bytes_down": down, "bytes_up": up, "seconds": seconds, **rss.report()}
            moved = int(float(down if what == "download" else up)) if status != "?" else 0
            if result.returncode != 0 or status != expected or moved < BIG_SIZE:
                answer = ""
                if what == "upload" and (tmp / "upload-answer.json").exists():
                    answer = (tmp / "upload-answer.json").read_text(errors="replace")[:300]
                row.update(
                    status="FAILED", error=f"curl {result.returncode}, HTTP {status}: {result.stderr.strip()} {answer}"
                )
            else:
                row["status"] = "ok"
            log(f"  project RSS {what}: peak {row['peak_mib']} MB (before {row['before_mib']} MB), {row['status']}")
        except Exception as error:
            row = {"status": "FAILED", "error": str(error)}
            log(f"  project RSS {what}: FAILED: {error}")
        out[what] = row
    return out


def fresh_signed_url(base: str, token: str, patient_id: str, file_id: str) -> str | None:
    """The file's signed path and query from GET /api/patients/<id>/, or None when it is not signed."""
    request = urllib.request.Request(  # noqa: S310 (a loopback URL we built)
        f"{base}/api/patients/{patient_id}/", headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            detail = json.load(response)
    except (OSError, ValueError) as error:
        log(f"  GET /api/patients/{patient_id}/ through {base}: {error}")
        return None
    for item in detail.get("files", []):
        parts = urllib.parse.urlsplit(item.get("url") or "")
        if str(item.get("id")) == file_id and "signature=" in parts.query:
            return f"{parts.path}?{parts.query}"
    return None


def accel_server_block(upstream: str, port: int, files_root: Path) -> str:
    """nginx in front of the project for accel mode, as deploy/nginx.conf has it (same
    locations and headers), on loopback, with the benchmark's FILES_ROOT."""
    return f"""
    upstream clinic_app {{ server {upstream}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        location /_protected_files/ {{
            internal;
            alias {files_root}/;
            sendfile on;
            tcp_nopush on;
            etag off;
            add_header ETag $upstream_http_etag always;
            add_header X-Content-Type-Options $upstream_http_x_content_type_options always;
            add_header Content-Security-Policy $upstream_http_content_security_policy always;
            add_header Referrer-Policy $upstream_http_referrer_policy always;
        }}
        location / {{
            proxy_pass http://clinic_app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}"""


def run_project(bench: Bench, services: Services, tmp: Path, data: dict, shas: dict, info: dict) -> dict:
    """Load the project; ``info`` (the caller's, so that it survives a failure half-way) gathers the details."""
    env = project_env(tmp, "stream")
    (tmp / "upload-tmp").mkdir(exist_ok=True)
    create_database()
    log("project: migrate")
    migrate = run([PYTHON, "manage.py", "migrate", "--noinput"], timeout=300, cwd=REPO, env=env)
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{(migrate.stdout + migrate.stderr)[-2000:]}")
    info["gunicorn"] = effective_gunicorn_config(project_gunicorn_argv(0)[1:], env)
    log(f"project: gunicorn {info['gunicorn']}")
    if info["gunicorn"].get("sendfile") is False:
        # gunicorn's Config.sendfile is False whenever the setting is given at all,
        # even as True: only leaving it unset (or SENDFILE=1 in the environment) enables it.
        log("project: WARNING: gunicorn's effective sendfile is False: stream mode copies through Python")

    # --- stream mode (the default): the worker sends the bytes itself (sendfile).
    proc, base = start_project(services, tmp, "stream")
    bench.servers = [proc]
    log("project: prepare data (file_attach; hashing the 1 GiB file takes a few seconds)")
    prepared = run(
        [
            PYTHON,
            REPO / "bench" / "prepare_project.py",
            "--base-url",
            base,
            *(f"{label}={path}" for label, path in data.items()),
        ],
        timeout=600,
        cwd=REPO,
        env=env,
    )
    if prepared.returncode != 0:
        raise RuntimeError(f"prepare_project.py failed:\n{prepared.stderr[-3000:]}")
    project = json.loads(prepared.stdout.strip().splitlines()[-1])
    info["prepare"] = {k: v for k, v in project.items() if k != "token"}
    token_header = [f"Authorization: Token {project['token']}"]
    files = project["files"]
    log(f"project: patient detail: {project.get('patient_detail')}; url of 10k: {files['10k'].get('url')}")

    info["audit"] = audit = {}
    before = count_download_events()
    signed = files["10k"].get("signed_url")
    if signed:
        bench.load("project signed URL", "10k", f"{base}{signed}", sha256=shas["10k"])
    else:
        bench.not_applicable("project signed URL", "10k", f"the file's url is not signed: {files['10k'].get('url')}")
    bench.load("project token", "10k", f"{base}{files['10k']['path']}", sha256=shas["10k"], headers=token_header)
    bench.load("project token", "64m", f"{base}{files['64m']['path']}", sha256=shas["64m"], headers=token_header)
    # The batched mode must write every event, not drop them: count them while the server still runs.
    batched_keys = [("project signed URL", "10k"), ("project token", "10k"), ("project token", "64m")]
    audit["batched"] = audit_check(bench, "batched", batched_keys, before, AUDIT_WAIT)

    big = {**files["1g"], "local_path": data["1g"]}
    info["rss"] = measure_rss(tmp, proc, base, project["token"], project["patient_id"], big)
    services.stop(proc)

    # --- the audit trail's cost: the same 10 KB loads, each download INSERTing its event in the request.
    log("project: stream mode, FILES_AUDIT_FLUSH_SECONDS=0 (audit events written at once)")
    proc, base = start_project(services, tmp, "stream", AUDIT_AT_ONCE, name="stream-audit-at-once")
    bench.servers = [proc]
    before = count_download_events()
    signed = signed and fresh_signed_url(base, project["token"], project["patient_id"], files["10k"]["id"])
    if signed:
        bench.load("project signed URL, audit at once", "10k", f"{base}{signed}", sha256=shas["10k"])
    else:
        bench.not_applicable("project signed URL, audit at once", "10k", "the file's url is not signed")
    bench.load(
        "project token, audit at once",
        "10k",
        f"{base}{files['10k']['path']}",
        sha256=shas["10k"],
        headers=token_header,
    )
    at_once_keys = [("project signed URL, audit at once", "10k"), ("project token, audit at once", "10k")]
    audit["at_once"] = audit_check(bench, "at once", at_once_keys, before, 0)
    services.stop(proc)

    # --- accel mode: the project says yes, nginx sends the bytes (X-Accel-Redirect).
    log("project: accel mode behind nginx")
    proc, base = start_project(services, tmp, "accel")
    upstream = base.removeprefix("http://")
    port = free_port()
    front = start_nginx(services, tmp, "accel", accel_server_block(upstream, port, tmp / "project-files"))
    bench.servers = [proc, front]
    front_base = f"http://127.0.0.1:{port}"
    wait_until_listening(front, front_base)
    # A fresh signed URL, through nginx as a client would get it (a long BENCH_DURATION
    # could otherwise outlive the first one's 15 minutes).
    signed = signed and fresh_signed_url(front_base, project["token"], project["patient_id"], files["10k"]["id"])
    info["accel_10k_auth"] = "signed URL" if signed else "token"
    if signed:
        bench.load("project accel (nginx)", "10k", f"{front_base}{signed}", sha256=shas["10k"])
    else:
        bench.load(
            "project accel (nginx)",
            "10k",
            f"{front_base}{files['10k']['path']}",
            sha256=shas["10k"],
            headers=token_header,
        )
    bench.load(
        "project accel (nginx)", "64m", f"{front_base}{files['64m']['path']}", sha256=shas["64m"], headers=token_header
    )
    services.stop(front)
    services.stop(proc)
    return info


# --------------------------------------------------------------------------- report

PEER_ORDER = [
    "nginx",
    "WhiteNoise",
    "Django static.serve",
    "Starlette",
    "project signed URL",
    "project token",
    "project signed URL, audit at once",
    "project token, audit at once",
    "project accel (nginx)",
]


SIGNED_AT_ONCE = "project signed URL, audit at once"
TOKEN_AT_ONCE = "project token, audit at once"  # noqa: S105 (a row name)


def ratios(bench: Bench, rss: dict) -> list[dict]:
    v = bench.value
    checks = [
        ("signed 10 KB / Starlette", v("project signed URL", "10k"), v("Starlette", "10k"), 2.0, "must"),
        ("token 10 KB / Starlette", v("project token", "10k"), v("Starlette", "10k"), 1.0, "must"),
        ("stream 64 MB / nginx", v("project token", "64m"), v("nginx", "64m"), 0.9, "must"),
        ("accel 64 MB / nginx", v("project accel (nginx)", "64m"), v("nginx", "64m"), 0.95, "must"),
        ("signed 10 KB / WhiteNoise", v("project signed URL", "10k"), v("WhiteNoise", "10k"), 1.0, "aim"),
        ("token 10 KB / Django static.serve", v("project token", "10k"), v("Django static.serve", "10k"), 1.0, "aim"),
        # FILES_AUDIT_FLUSH_SECONDS=0: the same goals, for information (the musts are the default's).
        ("signed, audit at once / Starlette", v(SIGNED_AT_ONCE, "10k"), v("Starlette", "10k"), 2.0, "info"),
        ("token, audit at once / Starlette", v(TOKEN_AT_ONCE, "10k"), v("Starlette", "10k"), 1.0, "info"),
        ("signed, audit at once / WhiteNoise", v(SIGNED_AT_ONCE, "10k"), v("WhiteNoise", "10k"), 1.0, "info"),
        ("token, audit at once / static.serve", v(TOKEN_AT_ONCE, "10k"), v("Django static.serve", "10k"), 1.0, "info"),
        # The audit trail's cost: no goal, the figure is the point.
        ("signed: audit at once / batched", v(SIGNED_AT_ONCE, "10k"), v("project signed URL", "10k"), None, "cost"),
        ("token: audit at once / batched", v(TOKEN_AT_ONCE, "10k"), v("project token", "10k"), None, "cost"),
    ]
    out = []
    for name, mine, theirs, threshold, kind in checks:
        ratio = mine / theirs if mine is not None and theirs else None
        if threshold is None:
            verdict = "n/a" if ratio is None else "-"
        else:
            verdict = "n/a" if ratio is None else ("PASS" if ratio >= threshold else "MISS")
        out.append(
            {
                "name": name,
                "value": None if ratio is None else round(ratio, 3),
                "target": "-" if threshold is None else f">= {threshold}",
                "kind": kind,
                "verdict": verdict,
            }
        )
    for what in ("download", "upload"):
        row = rss.get(what) or {}
        peak = row.get("peak_mib") if row.get("status") == "ok" else None
        out.append(
            {
                "name": f"peak RSS, 1 GiB {what} (MB)",
                "value": peak,
                "target": f"<= {RSS_LIMIT_MIB}",
                "kind": "must",
                "verdict": "n/a" if peak is None else ("PASS" if peak <= RSS_LIMIT_MIB else "MISS"),
            }
        )
    return out


def cell(bench: Bench, peer: str, case: str) -> str:
    for row in bench.rows:
        if row["peer"] == peer and row["case"] == case:
            if row["status"] == "ok":
                return f"{row['req_s']:,.0f}" if case == "10k" else f"{row['mib_s']:,.1f}"
            return row["status"]
    return "-"


def print_report(bench: Bench, checks: list[dict], results: dict, rss: dict) -> None:
    uv = results.get("servers", {}).get("uvicorn", {})
    project = results.get("project", {})
    gunicorn = project.get("gunicorn", {})
    worker = f"{gunicorn.get('worker_class')}, {gunicorn.get('workers')} worker x {gunicorn.get('threads')} threads"
    if gunicorn.get("config_file"):
        worker += f" ({gunicorn['config_file']})"
    notes = {
        "nginx": "sendfile on, 1 worker",
        "WhiteNoise": "gunicorn gthread, 1 worker x 4 threads",
        "Django static.serve": "gunicorn gthread, 1 worker x 4 threads",
        "Starlette": f"uvicorn, 1 worker, http={uv.get('http')}, loop={uv.get('loop')}",
        "project signed URL": f"no header, stream mode; gunicorn {worker}",
        "project token": "Authorization: Token, stream mode",
        "project signed URL, audit at once": "as signed URL, FILES_AUDIT_FLUSH_SECONDS=0 (INSERT per download)",
        "project token, audit at once": "as token, FILES_AUDIT_FLUSH_SECONDS=0 (INSERT per download)",
        "project accel (nginx)": f"nginx -> gunicorn, X-Accel-Redirect; 10 KB with {project.get('accel_10k_auth')}",
    }
    print()
    print(f"{'peer':<34} {'10 KB req/s':>12} {'64 MB MB/s':>12}   notes")
    print(f"{'-' * 34} {'-' * 12} {'-' * 12}   {'-' * 40}")
    for peer in PEER_ORDER:
        print(f"{peer:<34} {cell(bench, peer, '10k'):>12} {cell(bench, peer, '64m'):>12}   {notes[peer]}")
    print()
    print(f"{'target':<38} {'value':>8} {'goal':>8}  {'':4}  verdict")
    print(f"{'-' * 38} {'-' * 8} {'-' * 8}  {'-' * 4}  -------")
    for check in checks:
        value = "-" if check["value"] is None else f"{check['value']:.2f}"
        print(f"{check['name']:<38} {value:>8} {check['target']:>8}  {check['kind']:<4}  {check['verdict']}")
    audit = project.get("audit") or {}
    if audit:
        print()
    for check in audit.values():
        if check.get("status") == "ok":
            print(
                f"audit events written ({check['mode']}): {check['written']:,} "
                f"(>= {check['expected_at_least']:,} downloads served: wrk measured {check['wrk_measured']:,} "
                f"+ warm-up {check['wrk_warmup']:,} + {check['check_downloads']} checks; "
                f"counted {check['waited_s']:g} s after the load): ok"
            )
        else:
            print(f"audit events written ({check['mode']}): FAILED: {check.get('error')}")
    noisy = [row for row in bench.rows if row.get("other_cpu_percent", 0) > NOISY_PERCENT]
    if noisy:
        print()
        print(f"WARNING: other work used more than {NOISY_PERCENT}% of the machine's CPU during {len(noisy)} run(s):")
        for row in noisy:
            print(f"  {row['peer']} {row['case']}: {row['other_cpu_percent']}%")
        print("  Those figures understate the server; run again on a quiet machine.")
    failures = [row for row in bench.rows if row["status"] != "ok"]
    failures += [{"peer": "project RSS", "case": k, **v} for k, v in rss.items() if v.get("status") != "ok"]
    failures += [
        {"peer": "project audit events", "case": k, **v}
        for k, v in (project.get("audit") or {}).items()
        if v.get("status") != "ok"
    ]
    if failures:
        print()
        for row in failures:
            error = str(row.get("error", ""))
            error = error if len(error) < 1500 else "..." + error[-1500:]  # a traceback's end says most
            print(f"{row['status']}: {row['peer']} {row['case']}: {error}")


def git_state() -> dict:
    def git(*args: str) -> str:
        # --no-optional-locks: reading status must not even refresh the index.
        result = run(["git", "--no-optional-locks", *args], timeout=30, cwd=REPO)
        return result.stdout.strip()

    changed = git("status", "--porcelain").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": changed}


# --------------------------------------------------------------------------- main


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on a kill
    tmp = Path(os.environ.get("BENCH_TMP") or tempfile.mkdtemp(prefix="clinic-bench."))
    services = Services(tmp / "logs")
    started = time.monotonic()
    results: dict = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg(),
        },
        "settings": {
            "duration": DURATION,
            "warmup": WARMUP,
            "connections": CONNECTIONS,
            "wrk_threads": 1,
            "gunicorn_peers": GUNICORN_WORKER,
            "cpu_pinning": {"wrk": CLIENT_CPUS[2:] or None, "servers": SERVER_CPUS[2:] or None},
        },
    }
    bench = Bench(tmp)
    rss: dict = {}
    # Before anything of ours runs: how busy is the machine already?
    results["machine"]["cpu_busy_percent_before"] = busy = psutil.cpu_percent(interval=2)
    if busy > NOISY_PERCENT:
        log(f"WARNING: the machine is already {busy:.0f}% busy with other work: the figures will be low and noisy")
    try:
        (tmp / "logs").mkdir(parents=True, exist_ok=True)
        data_dir, big_dir = tmp / "data", tmp / "big"
        data_dir.mkdir()
        big_dir.mkdir()
        log(f"data in {tmp}")
        shas = {case: make_pdf(data_dir / f"bench-{case}.pdf", size) for case, size in SIZES.items()}
        # The 1 GiB file lives apart: the peers index their directory (WhiteNoise at start).
        make_pdf(big_dir / "bench-1g.pdf", BIG_SIZE, sparse=True)

        results["servers"] = run_peers(bench, services, tmp, data_dir, shas)
        results["servers"]["nginx"] = run(["nginx", "-v"], timeout=10).stderr.strip()
        try:
            data = {
                "10k": data_dir / "bench-10k.pdf",
                "64m": data_dir / "bench-64m.pdf",
                "1g": big_dir / "bench-1g.pdf",
            }
            results["project"] = project = {}
            run_project(bench, services, tmp, data, shas, project)
            rss = project.get("rss", {})
        except Exception as error:  # the project broken: its rows are FAILED, the peers' figures stand
            log(f"project: FAILED: {error}")
            project["error"] = str(error)
            rss = project.get("rss", {})
            audit = project.setdefault("audit", {})
            for key, mode in (("batched", "batched"), ("at_once", "at once")):
                audit.setdefault(key, {"mode": mode, "status": "FAILED", "error": "the project did not run to it"})
            for peer, case in [
                ("project signed URL", "10k"),
                ("project token", "10k"),
                ("project token", "64m"),
                (SIGNED_AT_ONCE, "10k"),
                (TOKEN_AT_ONCE, "10k"),
                ("project accel (nginx)", "10k"),
                ("project accel (nginx)", "64m"),
            ]:
                if not bench.has(peer, case):
                    bench.failed(peer, case, f"project: ...{str(error)[-700:]}")
            for what in ("download", "upload"):
                rss.setdefault(what, {"status": "FAILED", "error": "the project did not run"})
        finally:
            services.stop_all()

        results["machine"]["loadavg_at_end"] = os.getloadavg()
        checks = ratios(bench, rss)
        results.update(rows=bench.rows, rss=rss, ratios=checks, seconds=round(time.monotonic() - started))
        print_report(bench, checks, results, rss)

        # The raw figures: in the temp dir, and a copy that outlives it.
        (tmp / "results.json").write_text(json.dumps(results, indent=2, default=str))
        kept = os.environ.get("BENCH_RESULTS")
        if not kept:
            handle, kept = tempfile.mkstemp(
                prefix=f"clinic-bench-results-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".json"
            )
            os.close(handle)
        shutil.copyfile(tmp / "results.json", kept)
        print(f"\nraw results: {kept}  ({results['seconds']} s)")
        return 0
    finally:
        services.stop_all()
        drop_database()
        if os.environ.get("BENCH_KEEP"):
            log(f"BENCH_KEEP: the temp dir stays: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
