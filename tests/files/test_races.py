"""Races, over real HTTP against the live server: concurrent deletes and uploads of one record's files."""

import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from demo import samples
from files.models import File
from tests.factories import FileFactory, PatientFactory, UserFactory

pytestmark = [
    # serialized_rollback: a transactional test flushes the tables, the role groups of the data migration with them.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    # Django's SQLite test database is one shared in-memory cache that refuses a second writer
    # ("database table is locked") rather than waiting: races are run where production runs, PostgreSQL (CI).
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"),
]


def send(url: str, token: str, *, method: str, body: bytes = b"", content_type: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body or None, method=method)  # noqa: S310 (the live server)
    request.add_header("Authorization", f"Token {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_twenty_concurrent_deletes_of_one_file_give_exactly_one_200(live_server):
    token = UserFactory(role="admin").auth_token.key
    file = FileFactory()
    url = f"{live_server.url}/static/delete_file/{file.id}"

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = sorted(status for status, _ in pool.map(lambda _: send(url, token, method="DELETE"), range(20)))

    assert statuses == [200] + [404] * 19
    assert not File.objects.filter(pk=file.pk).exists()


def test_concurrent_uploads_to_one_record_are_all_kept(live_server):
    token = UserFactory(role="admin").auth_token.key
    patient = PatientFactory()
    url = f"{live_server.url}/api/patients/{patient.pk}/files/"

    def upload(n: int) -> tuple[int, bytes]:
        body, content_type = multipart(f"scan-{n}.png", samples.png_bytes(color=(n, 100, 200)))
        return send(url, token, method="POST", body=body, content_type=content_type)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(upload, range(10)))

    assert [status for status, _ in answers] == [201] * 10
    ids = {json.loads(body)["id"] for _, body in answers}
    listed = json.loads(send(url, token, method="GET")[1])
    assert len(ids) == 10
    assert {item["id"] for item in listed} == ids


def test_delete_during_a_streaming_download_completes_it_and_then_404s(live_server):
    token = UserFactory(role="admin").auth_token.key
    content = samples.pdf_bytes("Scan " * 200_000)  # about 1 MB, so the download is still open when the delete lands
    file = FileFactory(name="scan.pdf", content=content)
    url = f"{live_server.url}/static/{file.path}"
    request = urllib.request.Request(url)  # noqa: S310 (the live server)
    request.add_header("Authorization", f"Token {token}")

    with urllib.request.urlopen(request, timeout=30) as download:  # noqa: S310
        first = download.read(1024)
        deleted, _ = send(f"{live_server.url}/static/delete_file/{file.id}", token, method="DELETE")
        rest = download.read()
    after, _ = send(url, token, method="GET")

    assert deleted == 200
    assert first + rest == content  # the open file outlives its move to the trash
    assert after == 404


def test_concurrent_finalizes_of_one_direct_upload_make_one_file(live_server, on_s3):
    token = UserFactory(role="admin").auth_token.key
    content = samples.pdf_bytes()
    url = f"{live_server.url}/api/patients/{PatientFactory().pk}/direct-uploads/"
    declared = json.dumps({"size": len(content)}).encode()
    started = json.loads(send(url, token, method="POST", body=declared, content_type="application/json")[1])
    requests.post(started["url"], data=started["fields"], files={"file": ("a.pdf", content)}, timeout=10)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: send(started["finalize_url"], token, method="POST"), range(10)))

    assert sorted(status for status, _ in answers) == [200] * 9 + [201]
    assert {json.loads(body)["id"] for _, body in answers} == {str(File.objects.get().pk)}
