"""What every part of the benchmark shares: paths, sizes, the CPU placement, running and stopping processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
PEERS = REPO / "bench" / "peers"
BIN = Path(sys.executable).parent  # the project's .venv/bin: gunicorn, uvicorn
PYTHON = sys.executable

KIB, MIB, GIB = 1024, 1024**2, 1024**3
SIZES = {"10k": 10 * KIB, "64m": 64 * MIB}
BIG_SIZE = GIB

# wrk on the first core, every server process (and the workers it forks) on the
# others: left to the scheduler, wrk and a Python server keep landing on the same
# core and trading caches, which moved the Python peers' 10 KB figures by a third
# from run to run. BENCH_PIN=0 leaves placement to the scheduler.
_PIN = (os.cpu_count() or 1) >= 2 and os.environ.get("BENCH_PIN", "1") != "0" and shutil.which("taskset") is not None
CLIENT_CPUS = ["taskset", "-c", "0"] if _PIN else []
SERVER_CPUS = ["taskset", "-c", f"1-{(os.cpu_count() or 2) - 1}"] if _PIN else []
ALL_CPUS = ["taskset", "-c", f"0-{(os.cpu_count() or 2) - 1}"] if _PIN else []

NOISY_PERCENT = 10  # other work using more of the machine than this makes a run suspect


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(argv: list, *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    argv = [str(arg) for arg in argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)  # noqa: S603


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

    def start(
        self, name: str, argv: list, *, env: dict | None = None, cwd: Path | None = None, cpus: list | None = None
    ) -> subprocess.Popen:
        """Start a server on the servers' cores (``cpus``: another ``taskset`` prefix)."""
        log_path = self.logs / f"{name}.log"
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(  # noqa: S603 (our own command lines)
                [str(arg) for arg in [*(SERVER_CPUS if cpus is None else cpus), *argv]],
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
