"""The Files API over a real HTTP connection (Django's live server, urllib as the client)."""

import json
import urllib.error
import urllib.request

import pytest

from demo import samples
from tests.factories import FileFactory, PatientFactory, UserFactory

# serialized_rollback: a transactional test flushes the tables, the role groups of the data migration with them.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def request(url: str, *, token: str | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, method=method)  # noqa: S310 (the test's own live server)
    if token:
        req.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def token():
    return UserFactory(role="admin").auth_token.key


def test_file_url_from_record_json_serves_the_bytes(live_server, token):
    patient = PatientFactory()
    FileFactory(owner=patient, name="report.pdf", content=samples.pdf_bytes())

    _, _, record = request(f"{live_server.url}/api/patients/{patient.pk}/", token=token)
    [file] = json.loads(record)["files"]
    status, headers, body = request(file["url"], token=token)

    assert file["url"].startswith(live_server.url)
    assert status == 200
    assert body == samples.pdf_bytes()
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Length"] == str(len(body))
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_delete_then_url_is_404(live_server, token, storage):
    file = FileFactory()

    status, _, body = request(f"{live_server.url}/static/delete_file/{file.id}", token=token, method="DELETE")
    after, _, after_body = request(f"{live_server.url}/static/{file.path}", token=token)

    assert (status, body) == (200, b'"File deleted successfully"')
    assert (after, json.loads(after_body)) == (404, {"detail": "File not found"})
    assert not storage.exists(file.storage_name)


def test_without_token_is_401(live_server):
    file = FileFactory()

    status, headers, _ = request(f"{live_server.url}/static/{file.path}")

    assert status == 401
    assert headers["WWW-Authenticate"] == "Token"
