"""Slow clients cannot take the service down: the shipped nginx config in front of the shipped gunicorn config.

A real nginx runs deploy/nginx.conf, changed only where this machine differs
(the upstream's address, the listening port, the files' root, the body's
temporary folder: see ``tests.nginx.shipped_site``), in front of a real gunicorn running
gunicorn.conf.py with 1 worker of 4 threads, against the test database.
Sixty uploads sending their body a byte a second must not slow ``/healthz``
or a signed download; the control shows that twenty of them stop the same
gunicorn when nothing is in front of it.
"""

import http.client
import json
import os
import select
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from demo import samples
from files import signing
from tests.factories import FileFactory, PatientFactory, UserFactory
from tests.nginx import nginx_binary, shipped_site, write_main_conf
from tests.servers import GIVE_UP_AFTER, GUNICORN_COMMAND, Answer, free_port, get, gunicorn_env, running

# serialized_rollback: a transactional test flushes the tables, the role groups of the data migration with them.
# The rows must be committed: gunicorn, another process, reads them.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SLOW_UPLOADS = 60
ATTACK_SECONDS = 9
POLL_EVERY = 0.5
FAST_ENOUGH = 1.0


@pytest.fixture
def gunicorn(database_url, tmp_path, settings):
    """The shipped gunicorn.conf.py on a loopback port, serving the test database and this test's files."""
    port = free_port()
    env = gunicorn_env(
        port=port,
        database_url=database_url,
        FILES_BACKEND="local",
        FILES_ROOT=str(settings.STORAGES["default"]["OPTIONS"]["location"]),
        FILES_SERVE_MODE="accel",
        FILES_CLIENT_ADDRESS_HEADER="HTTP_X_REAL_IP",
    )
    with running(GUNICORN_COMMAND, env=env, log=tmp_path / "gunicorn.log", port=port):
        yield port


@pytest.fixture
def nginx(gunicorn, tmp_path, settings):
    """A real nginx with the shipped site config in front of ``gunicorn``."""
    port = free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    site = shipped_site(
        app_port=gunicorn,
        port=port,
        files_root=Path(settings.STORAGES["default"]["OPTIONS"]["location"]),
        body_temp=prefix / "body",
    )
    (prefix / "site.conf").write_text(site)
    main = write_main_conf(prefix, serve=True)
    command = [nginx_binary(), "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(main)]
    with running(command, env=dict(os.environ), log=prefix / "stdout.log", port=port):
        yield port


class SlowUploads:
    """``count`` authenticated uploads whose body comes a byte a second, sent from one thread; closed on exit."""

    def __init__(self, port: int, *, count: int, path: str, token: str) -> None:
        self.port, self.count, self.path, self.token = port, count, path, token
        self.sockets: list[socket.socket] = []
        self.bytes_sent: dict[int, int] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)

    def __enter__(self) -> "SlowUploads":
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Token {self.token}\r\n"
            "Content-Type: multipart/form-data; boundary=slow\r\nContent-Length: 1000000\r\n\r\n"
            '--slow\r\nContent-Disposition: form-data; name="file"; filename="scan.pdf"\r\n\r\n'
        ).encode()
        try:
            for _ in range(self.count):
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=GIVE_UP_AFTER)
                self.sockets.append(sock)
                sock.sendall(head)
                self.bytes_sent[sock.fileno()] = 0
        except BaseException:
            self._close()
            raise
        self._thread.start()
        return self

    def _drip(self) -> None:
        while not self._stop.wait(1.0):
            for sock in self.sockets:
                try:
                    sock.send(b"%")
                    self.bytes_sent[sock.fileno()] += 1
                except OSError as error:
                    self.errors.append(repr(error))

    def still_waiting(self) -> int:
        """How many connections have received nothing: not answered, refused or closed by the server."""
        readable, _, _ = select.select(self.sockets, [], [], 0)
        return len(self.sockets) - len(readable)

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._close()

    def _close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def upload_path():
    return f"/api/patients/{PatientFactory().pk}/files/"


@pytest.fixture
def user():
    return UserFactory(role="admin")


@pytest.fixture
def token(user):
    return user.auth_token.key


@pytest.fixture
def signed_download(user):
    """``(path and query, bytes)`` of a stored file's signed URL, as the API gives it to ``user``."""
    content = samples.pdf_bytes("Scan of a knee")
    file = FileFactory(name="knee.pdf", content=content)
    query = signing.sign(
        file_id=str(file.pk), entity_id=str(file.entity_id), extension=file.extension, issued_to=str(user.pk)
    )
    return f"/static/{file.path}?{query}", content


def poll_while(port: int, download: str) -> list[tuple[str, Answer]]:
    """``/healthz`` and a download every POLL_EVERY seconds for ATTACK_SECONDS."""
    answers = []
    deadline = time.monotonic() + ATTACK_SECONDS
    while time.monotonic() < deadline:
        answers.append(("healthz", get(port, "/healthz")))
        answers.append(("download", get(port, download)))
        time.sleep(POLL_EVERY)
    return answers


def test_sixty_slow_uploads_through_nginx_leave_healthz_and_downloads_answering_within_a_second(
    nginx, upload_path, token, signed_download
):
    download, content = signed_download

    with SlowUploads(nginx, count=SLOW_UPLOADS, path=upload_path, token=token) as attack:
        answers = poll_while(nginx, download)
        waiting = attack.still_waiting()

    # The attack ran all along: every connection open, unanswered, a byte a second.
    assert attack.errors == []
    assert waiting == SLOW_UPLOADS
    assert min(attack.bytes_sent.values()) >= ATTACK_SECONDS - 2
    expected = {"healthz": json.dumps({"status": "ok"}).encode(), "download": content}
    for name, answer in answers:
        assert (name, answer.status, answer.body) == (name, 200, expected[name])
    assert len(answers) >= 2 * ATTACK_SECONDS
    slowest = max(answer.seconds for _, answer in answers)
    assert slowest < FAST_ENOUGH, f"the slowest answer took {slowest:.3f} s"


def test_twenty_slow_uploads_stop_the_same_gunicorn_without_nginx(gunicorn, upload_path, token):
    # The control: what nginx protects against happens with the same settings.
    assert get(gunicorn, "/healthz").status == 200

    with SlowUploads(gunicorn, count=20, path=upload_path, token=token):
        time.sleep(1)  # the four threads take the first four uploads and wait for their bodies
        stalled = get(gunicorn, "/healthz")
    recovered = get(gunicorn, "/healthz")

    assert stalled.status is None, f"healthz answered {stalled.status} in {stalled.seconds:.3f} s"
    assert stalled.seconds >= GIVE_UP_AFTER - 0.1
    assert recovered.status == 200  # the threads came back when the slow clients left


def test_an_upload_through_nginx_reaches_the_app_whole(nginx, upload_path, token):
    content = samples.pdf_bytes("Lab report " * 30_000)
    assert len(content) > 128 * 1024  # over client_body_buffer_size: buffered in a temporary file
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="report.pdf"\r\n'
            f"Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    conn = http.client.HTTPConnection("127.0.0.1", nginx, timeout=30)
    conn.request(
        "POST",
        upload_path,
        body=body,
        headers={"Authorization": f"Token {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()

    assert response.status == 201, answer
    url = urlsplit(answer["url"])
    stored = get(nginx, f"{url.path}?{url.query}")
    assert (url.port, stored.status, stored.body) == (nginx, 200, content)


def test_a_body_over_nginx_limit_is_refused_413_in_the_apis_format(nginx, upload_path, token):
    with socket.create_connection(("127.0.0.1", nginx), timeout=GIVE_UP_AFTER) as sock:
        sock.sendall(
            f"POST {upload_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {200 * 1024**2}\r\n\r\n".encode()
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()

    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"detail": "Request body is too large"}


def raw_request(port: int, head: bytes) -> tuple[int, str, bytes]:
    """Send ``head`` as it is (it may be malformed) and read the answer: status, Content-Type, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP_AFTER) as sock:
        sock.sendall(head)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.getheader("Content-Type", ""), response.read()


LONG_LINE = b"GET /static/" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BIG_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n"
MALFORMED_LINE = b"GET /healthz\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
HOSTILE_HEADS = {
    "request line over the server's limit": (LONG_LINE, 414, "Request line is too long"),
    "a header over the server's limit": (BIG_HEADER, 400, "Bad request"),
    "a malformed request line": (MALFORMED_LINE, 400, "Bad request"),
}


@pytest.mark.parametrize(("head", "status", "detail"), HOSTILE_HEADS.values(), ids=HOSTILE_HEADS.keys())
def test_requests_nginx_cannot_take_are_answered_in_the_apis_format(nginx, head, status, detail):
    answer = raw_request(nginx, head)

    assert answer == (status, "application/json", json.dumps({"detail": detail}).encode())


@pytest.mark.parametrize("head", [head for head, _, _ in HOSTILE_HEADS.values()], ids=HOSTILE_HEADS.keys())
def test_a_bare_gunicorn_answers_such_requests_with_its_own_plain_page(gunicorn, head):
    # Documented in README (Production): without nginx in front these answers are gunicorn's, not the API's.
    status, content_type, _ = raw_request(gunicorn, head)

    assert status in {400, 414, 431}
    assert not content_type.startswith("application/json")
