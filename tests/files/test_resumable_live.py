"""A 50 MB resumable (tus) upload over real HTTP survives two dropped connections and its worker's death.

The shipped gunicorn config (gunicorn.conf.py, 1 worker of 4 threads) serves
the test database on a loopback port. The client speaks HTTP over a raw
socket, so that a PATCH announces every byte still missing in its
Content-Length and stops part-way through: once closing its connection (every
byte sent arrives), once resetting it as a dropped line does (the bytes still
in flight are lost). Each time HEAD gives the offset to go on from; between the
two, the worker is killed and gunicorn's master starts another. The last PATCH
completes the upload, and the file the API serves has the original's SHA-256.
"""

import base64
import hashlib
import http.client
import json
import os
import random
import signal
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from files.models import ResumableUpload
from files.resumable import staging_dir, staging_path
from tests.factories import PatientFactory, UserFactory
from tests.files.pdfs import MiB, large_pdf
from tests.servers import GUNICORN_COMMAND, free_port, get, gunicorn_env, running

# The rows must be committed: gunicorn, another process, reads them (serialized_rollback: see test_live_http.py).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

TUS = {"Tus-Resumable": "1.0.0"}
STREAMS = 5
STREAM_SIZE = 10_000_000  # five of them: a file of some 50 MB, under FILES_MAX_UPLOAD_SIZE (50 MiB)
CUT_AFTER = 15 * MiB  # more than loopback's socket buffers hold: most of it has reached the app at the cut
SEND_SIZE = MiB
# How long the app may take to handle a cut-off PATCH, or to start a new worker; every wait is bounded.
SETTLE_SECONDS = 20


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Server:
    port: int
    master: int  # gunicorn's master process


@pytest.fixture
def gunicorn(database_url, on_local_disk, settings, tmp_path):
    """The shipped gunicorn.conf.py on a loopback port, with this test's database, files and staging folder."""
    port = free_port()
    env = gunicorn_env(
        port=port,
        database_url=database_url,
        FILES_BACKEND="local",
        FILES_ROOT=str(settings.STORAGES["default"]["OPTIONS"]["location"]),
        FILES_UPLOAD_TEMP_DIR=str(settings.FILES_UPLOAD_TEMP_DIR),
    )
    with running(GUNICORN_COMMAND, env=env, log=tmp_path / "gunicorn.log", port=port) as process:
        yield Server(port, process.pid)


@pytest.fixture
def scan(tmp_path) -> Path:
    """A valid PDF of some 50 MB whose bytes differ all along: any byte lost, repeated or moved changes its SHA-256.

    Its streams hold random hexadecimal digits (zeros would hide bytes put in
    the wrong place), which never make a PDF name the content checks look for.
    """
    noise = random.Random(50)  # noqa: S311 (test data, not a secret)
    streams = {4 + index: _stream(noise.randbytes(STREAM_SIZE // 2).hex().encode()) for index in range(STREAMS)}
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return large_pdf(tmp_path / "scan.pdf", {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: pages, 3: page} | streams)


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def request(port: int, method: str, path: str, headers: dict[str, str]) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=SETTLE_SECONDS)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def patch_head(port: int, url: str, token: str, *, offset: int, length: int) -> bytes:
    """A PATCH's head announcing ``length`` bytes from ``offset``."""
    return (
        f"PATCH {url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Token {token}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def send_from(sock: socket.socket, scan: Path, *, offset: int, count: int) -> None:
    """Send ``count`` bytes of ``scan`` from ``offset`` on ``sock``."""
    with scan.open("rb") as content:
        content.seek(offset)
        while count:
            chunk = content.read(min(SEND_SIZE, count))
            sock.sendall(chunk)
            count -= len(chunk)


def patch_cut_off(port: int, url: str, token: str, scan: Path, *, offset: int, reset: bool) -> None:
    """A PATCH announcing every byte from ``offset`` to the end, whose connection ends after CUT_AFTER of them.

    Closed (``reset`` false), the bytes sent all arrive before the end of the
    stream; reset, those still in flight are thrown away.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=SETTLE_SECONDS) as sock:
        sock.sendall(patch_head(port, url, token, offset=offset, length=scan.stat().st_size - offset))
        send_from(sock, scan, offset=offset, count=CUT_AFTER)
        if reset:  # closing with a zero linger time sends a reset, not the stream's end
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def patch_rest(port: int, url: str, token: str, scan: Path, *, offset: int) -> Answer:
    """A PATCH of every byte from ``offset`` to the end, and its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=SETTLE_SECONDS) as sock:
        length = scan.stat().st_size - offset
        sock.sendall(patch_head(port, url, token, offset=offset, length=length))
        send_from(sock, scan, offset=offset, count=length)
        response = http.client.HTTPResponse(sock, method="PATCH")
        response.begin()
        return Answer(response.status, response.headers, response.read())


def head_offset(port: int, url: str, token: str) -> int:
    """The upload's offset, as HEAD gives it."""
    head = request(port, "HEAD", url, {"Authorization": f"Token {token}", **TUS})
    assert head.status == 200, head.body
    return int(head.headers["Upload-Offset"])


def offset_after_cut(port: int, url: str, token: str, *, before: int) -> int:
    """The offset HEAD gives once the app has handled a cut-off PATCH from ``before``.

    The app saves the offset once, when the body ends: the first other value HEAD gives is the one it kept.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while (kept := head_offset(port, url, token)) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    return kept


def workers(master: int) -> set[int]:
    """gunicorn's workers: the processes whose parent is its master (from Linux's /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (command) state ppid ...": the command may hold spaces and parentheses.
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):  # a process that ended meanwhile
            continue
        if parent == master:
            found.add(int(stat.parent.name))
    return found


def kill_the_worker(server: Server) -> None:
    """Kill gunicorn's one worker outright (no chance to tidy up) and wait until the master's new one answers."""
    (worker,) = workers(server.master)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + SETTLE_SECONDS
    while workers(server.master) in (set(), {worker}) or get(server.port, "/healthz").status != 200:
        assert time.monotonic() < deadline, "gunicorn started no new worker"
        time.sleep(0.1)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as content:
        while chunk := content.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def test_a_50_mb_upload_cut_off_twice_and_its_worker_killed_completes_with_the_same_bytes(gunicorn, scan):
    port, size = gunicorn.port, scan.stat().st_size
    token = UserFactory(role="admin").auth_token.key
    auth = {"Authorization": f"Token {token}"}
    metadata = f"filename {base64.b64encode(b'scan.pdf').decode()},type {base64.b64encode(b'scan').decode()}"
    created = request(
        port,
        "POST",
        f"/api/patients/{PatientFactory().pk}/uploads/",
        {**auth, **TUS, "Upload-Length": str(size), "Upload-Metadata": metadata},
    )
    assert created.status == 201, created.body
    url = created.headers["Location"]
    staged = staging_path(ResumableUpload.objects.get())

    # Cut 1: the connection closed a third of the way through; every byte sent was kept, on disk.
    patch_cut_off(port, url, token, scan, offset=0, reset=False)
    first = offset_after_cut(port, url, token, before=0)
    assert first == CUT_AFTER
    assert staged.stat().st_size == first

    # The worker dies; the offset is the new worker's too.
    kill_the_worker(gunicorn)
    assert head_offset(port, url, token) == first

    # Cut 2: the connection reset further on; what reached the app before it was kept.
    patch_cut_off(port, url, token, scan, offset=first, reset=True)
    second = offset_after_cut(port, url, token, before=first)
    assert first < second <= first + CUT_AFTER < size
    assert staged.stat().st_size == second

    done = patch_rest(port, url, token, scan, offset=second)

    assert done.status == 204, done.body
    assert done.headers["Upload-Offset"] == str(size)
    file_id = done.headers["X-File-Id"]
    assert done.headers["Link"] == f'</api/files/{file_id}/>; rel="related"'
    described = request(port, "GET", f"/api/files/{file_id}/", auth)
    assert described.status == 200, described.body
    signed = urlsplit(json.loads(described.body)["url"])
    served = request(port, "GET", f"{signed.path}?{signed.query}", {})
    assert served.status == 200
    assert (len(served.body), hashlib.sha256(served.body).hexdigest()) == (size, sha256_of(scan))
    assert get(port, "/healthz").body == b'{"status": "ok"}'
    assert list(staging_dir().iterdir()) == []
