"""Real servers for the tests over real HTTP: a process on a loopback port, and the test database they share.

The shipped gunicorn config (gunicorn.conf.py) serves the tests' database
only when it is PostgreSQL: another process cannot reach the test's SQLite
database. The ``database_url`` fixture (tests/conftest.py) gives its address.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The shipped config, run from the project's folder.
GUNICORN_COMMAND = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "clinic.wsgi"]
# Few threads, so that the slow clients' attack (test_slow_clients.py) stops a bare gunicorn with a handful of
# connections; no access log; a stopped server is gone within a second.
GUNICORN_ENV = {
    "GUNICORN_WORKERS": "1",
    "GUNICORN_THREADS": "4",
    "GUNICORN_ACCESS_LOG": "",
    "GUNICORN_GRACEFUL_TIMEOUT": "1",
}


def gunicorn_env(*, port: int, database_url: str, **settings: str) -> dict[str, str]:
    """The shipped gunicorn.conf.py's environment on loopback ``port``, serving the test database, plus ``settings``."""
    return {
        **os.environ,
        **GUNICORN_ENV,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        **settings,
    }


# How long a request may take before it counts as unanswered; every wait of the tests is bounded.
GIVE_UP_AFTER = 3.0
STARTUP_SECONDS = 30


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}


def skip_outside_ci(reason: str) -> None:
    """Skip here, fail in CI: there a skip may not stand in for the test."""
    if in_ci():
        pytest.fail(f"{reason} (CI must run this test)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def connections_to(port: int) -> set[int]:
    """The TCP connections to ``port`` on this machine that the kernel still knows (open or in TIME_WAIT).

    Each is named by its other end's port; read from /proc/net/tcp (Linux),
    which lists every process's sockets.
    """
    ends = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        local_port, remote_port = int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)
        if state == _LISTEN:
            continue
        if remote_port == port:
            ends.add(local_port)
        elif local_port == port:
            ends.add(remote_port)
    return ends


_LISTEN = "0A"  # include/net/tcp_states.h


@dataclass
class Answer:
    status: int | None  # None: no answer within the timeout
    body: bytes
    seconds: float


def get(port: int, path: str, *, timeout: float = GIVE_UP_AFTER) -> Answer:
    """One GET on a new connection, timed."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return Answer(response.status, body, time.perf_counter() - started)
    except OSError:  # a timeout, or a refused or reset connection
        return Answer(None, b"", time.perf_counter() - started)
    finally:
        conn.close()


@contextmanager
def running(command: list[str], *, env: dict[str, str], log: Path, port: int) -> Iterator[subprocess.Popen]:
    """A server process, answering ``/healthz`` on ``port`` before the block runs; stopped after it."""
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (fixed arguments: this machine's nginx, this venv's gunicorn)
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_answering(process, port, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the server and its workers only
            process.wait(timeout=10)


def wait_until_answering(process: subprocess.Popen, port: int, log: Path) -> None:
    """Until ``/healthz`` answers 200 on ``port``; a failure if ``process`` exits or STARTUP_SECONDS pass first."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()}")
        if get(port, "/healthz", timeout=1).status == 200:
            return
        time.sleep(0.2)
    pytest.fail(f"{process.args[0]} did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")
