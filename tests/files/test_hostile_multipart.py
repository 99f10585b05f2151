"""Hostile multipart uploads to ``POST /api/patients/{id}/files/``, by an authorised user.

Each is refused with a 4xx in the API's error format (a 422 is
``{"detail": [{"loc", "msg", "type"}]}``, any other ``{"detail": "..."}``),
never a 5xx or a hang. It creates no File row, stores no bytes and leaves no
temporary upload file in ``FILES_UPLOAD_TEMP_DIR``. The bodies are written
byte by byte, as a hostile client sends them, not by the test client's
encoder. Clients that stop sending, reset the connection or send past their
Content-Length need a real socket: those run against the live server, which
runs in this process, so the test's settings apply to it too.
"""

import base64
import json
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from django.core.signals import request_finished

from demo import samples
from files.models import File
from files.uploads import HashingUploadHandler
from tests.factories import PatientFactory, UserFactory

BOUNDARY = "hostile-7MA4YWxkTrZu0gW"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
PNG = samples.png_bytes()
PDF = samples.pdf_bytes()

# Django's parser stops these before the view sees them (400, handler400): more fields than
# DATA_UPLOAD_MAX_NUMBER_FIELDS (1000), more files than DATA_UPLOAD_MAX_NUMBER_FILES (100), the
# files already streamed to disk then removed.
MANY_FIELDS = 5000
MANY_FILES = 1000

PARSE_ERROR = [(("body",), "parse_error")]
NO_FILE = [(("body", "file"), "missing")]
BAD_REQUEST = "Bad request"


def part(headers: str, content: bytes) -> bytes:
    """One body part: its header lines, a blank line, its content and the CRLF that ends it."""
    return f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"


def file_part(filename: str = "photo.png", content: bytes = PNG, *, headers: str = "") -> bytes:
    return part(f'Content-Disposition: form-data; name="file"; filename="{filename}"{headers}', content)


def field_part(name: str, value: str) -> bytes:
    return part(f'Content-Disposition: form-data; name="{name}"', value.encode())


def multipart(*parts: bytes, closed: bool = True) -> bytes:
    """The parts, then (unless ``closed`` is false) the closing delimiter."""
    return b"".join(parts) + (f"--{BOUNDARY}--\r\n".encode() if closed else b"")


def cut_inside(body: bytes, content: bytes) -> bytes:
    """``body`` cut in the middle of ``content`` (its last occurrence): the client stopped there."""
    return body[: body.rindex(content) + len(content) // 2]


def unsupported(content_type: str) -> str:
    return f'Unsupported media type "{content_type}" in request.'


def upload_url(record) -> str:
    return f"/api/{record._meta.app_label}/{record.pk}/files/"


def api_error(status: int, body: dict):
    """The error, checked to be in the API's format: ``[(loc, type), ...]`` for a 422, else its detail."""
    assert list(body) == ["detail"]
    if status == 422:
        assert all(sorted(item) == ["loc", "msg", "type"] and item["msg"] for item in body["detail"])
        return [(tuple(item["loc"]), item["type"]) for item in body["detail"]]
    assert isinstance(body["detail"], str)
    return body["detail"]


def stored_blobs(storage, folder: str = "") -> list[str]:
    """Every name in the files' storage (a folder on disk, or an S3 prefix), trash included."""
    try:
        folders, names = storage.listdir(folder)
    except FileNotFoundError:  # nothing was ever stored on this disk
        return []
    found = [f"{folder}{name}" for name in names]
    for sub in folders:
        found += stored_blobs(storage, f"{folder}{sub}/")
    return found


def assert_left_nothing(storage, temp_dir: Path) -> None:
    assert not File.all_objects.exists()
    assert stored_blobs(storage) == []
    assert list(temp_dir.iterdir()) == []


@pytest.fixture
def upload_temp_dir(settings, tmp_path) -> Path:
    """``FILES_UPLOAD_TEMP_DIR``, empty: where every upload streams before it is stored."""
    path = tmp_path / "uploads"
    path.mkdir()
    settings.FILES_UPLOAD_TEMP_DIR = str(path)
    return path


REFUSED = [
    pytest.param("multipart/form-data", multipart(file_part()), 422, PARSE_ERROR, id="multipart-without-boundary"),
    pytest.param(
        'multipart/form-data; boundary="bad\x01boundary"',
        multipart(file_part()),
        422,
        PARSE_ERROR,
        id="control-char-boundary",
    ),
    pytest.param(
        f"multipart/form-data; boundary={'b' * 210}", multipart(file_part()), 422, PARSE_ERROR, id="210-char-boundary"
    ),
    pytest.param(
        f"multipart/form-data; boundary={'b' * 300}",
        multipart(file_part()),
        415,
        unsupported(f"multipart/form-data; boundary={'b' * 300}"),
        id="content-type-over-256-chars",
    ),
    pytest.param(MULTIPART, b"", 422, NO_FILE, id="empty-body"),
    pytest.param(MULTIPART, multipart(field_part("type", "report")), 422, NO_FILE, id="no-file-part-only-type"),
    pytest.param(
        MULTIPART,
        multipart(file_part()).replace(BOUNDARY.encode(), b"another-boundary"),
        422,
        PARSE_ERROR,
        id="body-with-another-boundary",
    ),
    pytest.param(
        MULTIPART,
        multipart(*(field_part(f"field{n}", "x") for n in range(MANY_FIELDS))),
        400,
        BAD_REQUEST,
        id="5000-form-fields",
    ),
    pytest.param(
        MULTIPART,
        multipart(*(file_part(f"photo{n}.png") for n in range(MANY_FILES))),
        400,
        BAD_REQUEST,
        id="1000-file-parts",
    ),
    pytest.param(MULTIPART, multipart(part("Content-Type: image/png", PNG)), 422, NO_FILE, id="no-content-disposition"),
    pytest.param(
        MULTIPART,
        multipart(part('Content-Disposition: form-data; filename="photo.png"', PNG)),
        422,
        NO_FILE,
        id="content-disposition-without-name",
    ),
    pytest.param(
        MULTIPART, multipart(file_part("a" * 100_000 + ".png")), 422, PARSE_ERROR, id="part-headers-over-the-limit"
    ),
    pytest.param(MULTIPART, multipart(file_part("")), 422, [(("body", "file", 0), "invalid")], id="empty-filename"),
    pytest.param(MULTIPART, multipart(file_part("..")), 422, NO_FILE, id="filename-of-dots"),
    pytest.param(MULTIPART, multipart(file_part("\x00\x01\x1f")), 422, NO_FILE, id="filename-of-control-chars"),
    pytest.param(
        MULTIPART,
        multipart(file_part("photo.png\x00.pdf")),
        422,
        [(("body", "file"), "extension_mismatch")],
        id="nul-smuggled-extension",
    ),
    pytest.param(MULTIPART, multipart(file_part(), closed=False), 422, PARSE_ERROR, id="missing-final-boundary"),
    pytest.param(
        MULTIPART,
        multipart(file_part("a.png"), file_part("b.png"), closed=False),
        422,
        PARSE_ERROR,
        id="missing-final-boundary-after-a-complete-file",
    ),
    pytest.param(
        MULTIPART,
        cut_inside(multipart(file_part("a.png"), file_part("b.pdf", PDF)), PDF),
        422,
        PARSE_ERROR,
        id="body-cut-inside-the-second-file",
    ),
    pytest.param(
        MULTIPART,
        cut_inside(multipart(file_part("a.png"), field_part("type", "prescription")), b"prescription"),
        422,
        PARSE_ERROR,
        id="body-cut-inside-a-form-field-after-a-complete-file",
    ),
    pytest.param(
        MULTIPART,
        cut_inside(multipart(file_part("a.png"), file_part("second-file.png")), b"second-file.png"),
        422,
        PARSE_ERROR,
        id="body-cut-inside-the-second-parts-headers",
    ),
    pytest.param(
        MULTIPART,
        multipart(file_part())[:-4],
        422,
        PARSE_ERROR,
        id="body-cut-inside-the-closing-delimiter",
    ),
    pytest.param(
        MULTIPART,
        multipart(file_part(content=b"!!not base64!!", headers="\r\nContent-Transfer-Encoding: base64")),
        422,
        PARSE_ERROR,
        id="invalid-base64-file",
    ),
    pytest.param(
        MULTIPART,
        multipart(file_part(content=base64.b64encode(PNG)[:-2], headers="\r\nContent-Transfer-Encoding: base64")),
        422,
        PARSE_ERROR,
        id="truncated-base64-file",
    ),
    pytest.param("application/json", b'{"type": "report"}', 415, unsupported("application/json"), id="json"),
    pytest.param("text/plain", b"type=report", 415, unsupported("text/plain"), id="text-plain"),
    pytest.param(
        "application/x-www-form-urlencoded",
        b"type=report",
        415,
        unsupported("application/x-www-form-urlencoded"),
        id="urlencoded-form",
    ),
    pytest.param("application/octet-stream", PNG, 415, unsupported("application/octet-stream"), id="raw-file-bytes"),
    pytest.param(
        f"multipart/mixed; boundary={BOUNDARY}",
        multipart(file_part()),
        415,
        unsupported(f"multipart/mixed; boundary={BOUNDARY}"),
        id="multipart-mixed",
    ),
]


@pytest.mark.parametrize(("content_type", "body", "status", "error"), REFUSED)
def test_hostile_multipart_is_refused_and_leaves_nothing(
    admin_client, patient, storage, upload_temp_dir, content_type, body, status, error
):
    response = admin_client.generic("POST", upload_url(patient), body, content_type=content_type)

    assert response.status_code == status, response.content
    assert api_error(response.status_code, response.json()) == error
    assert_left_nothing(storage, upload_temp_dir)


def test_an_upload_streams_through_the_temp_dir_and_leaves_it_empty(
    admin_client, patient, upload_temp_dir, monkeypatch
):
    """The control for every "no temporary file left" above: uploads really are written to that folder."""
    folders = []
    file_complete = HashingUploadHandler.file_complete

    def spy(handler, file_size):
        folders.append(Path(handler.file.temporary_file_path()).parent)
        return file_complete(handler, file_size)

    monkeypatch.setattr(HashingUploadHandler, "file_complete", spy)

    response = admin_client.generic("POST", upload_url(patient), multipart(file_part()), content_type=MULTIPART)

    assert response.status_code == 201
    assert folders == [upload_temp_dir]
    assert list(upload_temp_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("filename", "stored_name"),
    [
        pytest.param("../../etc/\x00pa\x01ss\x1fwd.png", "passwd.png", id="parent-dirs-nul-and-control-chars"),
        pytest.param("..\\..\\Windows\\System32\\evil.png", "evil.png", id="windows-parent-dirs"),
        pytest.param("C:\\Users\\nurse\\scan.png", "scan.png", id="windows-drive"),
        pytest.param("/var/lib/clinic/files/photo.png", "photo.png", id="absolute-path"),
        pytest.param("&#46;&#46;&#47;&#46;&#46;&#47;x.png", "x.png", id="html-escaped-parent-dirs"),
        pytest.param("report\u202egnp.png", "reportgnp.png", id="right-to-left-override"),
    ],
)
def test_hostile_file_name_is_sanitised_and_never_becomes_a_path(
    admin_client, patient, on_local_disk, storage, tmp_path, upload_temp_dir, filename, stored_name
):
    response = admin_client.generic("POST", upload_url(patient), multipart(file_part(filename)), content_type=MULTIPART)

    assert response.status_code == 201
    file = File.objects.get()
    assert response.json()["name"] == file.name == stored_name
    # The bytes are stored under ids only: the client's name never reaches the filesystem.
    assert file.storage_name == f"{patient.pk}/{file.pk}.png"
    assert sorted(path for path in tmp_path.rglob("*") if path.is_file()) == [Path(storage.path(file.storage_name))]


# A client on the wire. The live server reads the body 64 KiB at a time, so a file part much
# larger than that is one the server is still writing to its temporary file when the client stops.
live = pytest.mark.django_db(transaction=True, serialized_rollback=True)
STREAMED = PNG + bytes(300_000)


@pytest.fixture
def token():
    return UserFactory(role="admin").auth_token.key


@pytest.fixture
def request_done():
    """Set once the server has finished a request: its response closed, its uploaded files closed."""
    done = threading.Event()

    def finished(**kwargs):
        done.set()

    request_finished.connect(finished)
    yield done
    request_finished.disconnect(finished)


def send(live_server, patient, token, *, content_length: int, body: bytes) -> socket.socket:
    """Open a connection and send a POST whose headers announce ``content_length`` bytes, then ``body``."""
    host, port = live_server.thread.host, live_server.thread.port
    head = (
        f"POST {upload_url(patient)} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Authorization: Token {token}\r\n"
        f"Content-Type: {MULTIPART}\r\n"
        f"Content-Length: {content_length}\r\n"
        "Connection: close\r\n\r\n"
    )
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(head.encode() + body)
    return sock


def receive(sock: socket.socket) -> tuple[int, dict]:
    """Read the answer until the server closes the connection: its status and JSON body."""
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    sock.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the server did not get there in time"
        time.sleep(0.005)


def logged_answers(caplog) -> list[tuple[str, int]]:
    """What Django logged of its answers: 4xx as warnings, 5xx as errors (a 2xx logs nothing)."""
    return [(record.levelname, record.status_code) for record in caplog.records if record.name == "django.request"]


@live
@pytest.mark.parametrize(
    ("stop", "status"),
    [
        pytest.param("half-close", 422, id="half-closes"),
        pytest.param("close", 422, id="closes"),
        pytest.param("reset", 400, id="resets"),
    ],
)
def test_client_that_stops_sending_mid_file_is_refused_and_leaves_nothing(
    live_server, token, storage, upload_temp_dir, request_done, caplog, stop, status
):
    patient = PatientFactory()
    whole = multipart(file_part("a.png"), file_part("scan.png", STREAMED))
    sock = send(live_server, patient, token, content_length=len(whole), body=cut_inside(whole, STREAMED))
    # The first file is complete and the second is streaming to disk when the client stops.
    wait_until(lambda: len(list(upload_temp_dir.iterdir())) == 2)

    if stop == "half-close":
        sock.shutdown(socket.SHUT_WR)
        answer = receive(sock)
    else:
        if stop == "reset":  # the server's next read fails: a 400 no one can read, never a 500
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        answer = None

    assert request_done.wait(10)
    assert logged_answers(caplog) == [("WARNING", status)]
    if answer is not None:
        assert answer[0] == status
        assert api_error(*answer) == PARSE_ERROR
        assert answer[1]["detail"][0]["msg"].endswith("The body ended inside a file part, before the closing boundary")
    assert_left_nothing(storage, upload_temp_dir)


@live
def test_bytes_past_content_length_do_not_complete_a_cut_body(
    live_server, token, storage, upload_temp_dir, request_done
):
    patient = PatientFactory()
    whole = multipart(file_part())

    # Content-Length ends inside the file; the rest of the multipart follows it on the wire.
    sock = send(live_server, patient, token, content_length=len(cut_inside(whole, PNG)), body=whole)
    status, body = receive(sock)

    assert request_done.wait(10)
    assert status == 422
    assert api_error(status, body) == PARSE_ERROR
    assert_left_nothing(storage, upload_temp_dir)


@live
def test_bytes_past_content_length_never_reach_the_stored_file(
    live_server, token, storage, upload_temp_dir, request_done
):
    patient = PatientFactory()
    whole = multipart(file_part())

    sock = send(live_server, patient, token, content_length=len(whole), body=whole + b"X" * 1000)
    status, body = receive(sock)

    assert request_done.wait(10)
    assert status == 201
    file = File.objects.get()
    assert body["size"] == file.size == len(PNG)
    with storage.open(file.storage_name) as stored:
        assert stored.read() == PNG
    assert list(upload_temp_dir.iterdir()) == []


@live
def test_complete_body_shorter_than_its_content_length_is_refused(
    live_server, token, storage, upload_temp_dir, request_done
):
    patient = PatientFactory()
    whole = multipart(file_part())

    # Every part and the closing delimiter arrive, but fewer bytes than announced: the client went away.
    sock = send(live_server, patient, token, content_length=len(whole) + 100, body=whole)
    sock.shutdown(socket.SHUT_WR)
    status, body = receive(sock)

    assert request_done.wait(10)
    assert status == 422
    assert api_error(status, body) == PARSE_ERROR
    assert_left_nothing(storage, upload_temp_dir)
