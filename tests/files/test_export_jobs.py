"""Exports built in the background: asked for, built after commit, handed out by a signed link until they expire."""

import errno
import hashlib
import io
import json
import urllib.request
import zipfile
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from demo import samples
from files import conf
from files.download import config
from files.export import export_build
from files.models import AuditEvent, Export
from files.reconcile import files_reconcile
from tests.factories import FileFactory, PatientFactory, UserFactory
from tests.responses import body


@pytest.fixture
def portal(patient):
    """The patient's own portal account, with two files on their record."""
    user = UserFactory(role="patient")
    patient.user = user
    patient.save()
    FileFactory(owner=patient, name="photo.png", category="profile")
    FileFactory(owner=patient, name="lab.pdf", content=samples.pdf_bytes(), category="report")
    return user


def request_export(client, record_path: str, capture):
    with capture(execute=True):
        return client.post(f"/api/{record_path}/exports/")


def download(client, url: str):
    parts = urlsplit(url)
    response = client.get(f"{parts.path}?{parts.query}")
    return response, body(response)


def test_requested_export_is_built_and_its_signed_link_downloads_a_verified_zip(
    client_for, portal, patient, django_capture_on_commit_callbacks
):
    client = client_for(portal)
    response = request_export(client, f"patients/{patient.pk}", django_capture_on_commit_callbacks)
    assert response.status_code == 202
    assert (response.json()["state"], response.json()["url"]) == ("pending", None)

    state = client.get(f"/api/exports/{response.json()['id']}/").json()
    assert state["state"] == "ready" and state["progress"] == {"done": 2, "total": 2}

    answer, body = download(APIClient(), state["url"])
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    assert answer["Content-Disposition"].startswith("attachment;")
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert (len(body), hashlib.sha256(body).hexdigest()) == (state["size"], state["sha256"])
    archive = zipfile.ZipFile(io.BytesIO(body))
    entries = json.loads(archive.read("manifest.json"))["files"]
    assert len(entries) == 2
    for entry in entries:
        data = archive.read(entry["path"])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"])
    assert AuditEvent.objects.filter(action="export", detail="export download", user_id=str(portal.pk)).exists()


def test_export_is_stored_under_the_exports_prefix(client_for, portal, patient, django_capture_on_commit_callbacks):
    response = request_export(client_for(portal), f"patients/{patient.pk}", django_capture_on_commit_callbacks)

    export = Export.objects.get(pk=response.json()["id"])
    assert export.storage_name.startswith("exports/") and conf.storage().exists(export.storage_name)


def test_another_patient_may_not_request_an_export_of_the_record_403(
    client_for, patient, portal, django_capture_on_commit_callbacks
):
    other = PatientFactory()

    response = request_export(client_for(portal), f"patients/{other.pk}", django_capture_on_commit_callbacks)

    assert response.status_code == 403 and not Export.objects.exists()
    assert AuditEvent.objects.get(action="export").outcome == "refused"


def test_another_user_may_not_read_the_export_or_its_state_403(
    client_for, patient, portal, admin_client, django_capture_on_commit_callbacks
):
    response = request_export(admin_client, f"patients/{patient.pk}", django_capture_on_commit_callbacks)

    answer = client_for(portal).get(f"/api/exports/{response.json()['id']}/")

    assert answer.status_code == 403


def test_link_of_a_deactivated_requester_is_refused_403(
    client_for, patient, portal, django_capture_on_commit_callbacks
):
    client = client_for(portal)
    export_id = request_export(client, f"patients/{patient.pk}", django_capture_on_commit_callbacks).json()["id"]
    url = client.get(f"/api/exports/{export_id}/").json()["url"]
    portal.is_active = False
    portal.save()

    answer, _ = download(APIClient(), url)

    assert answer.status_code == 403


@pytest.mark.parametrize("tamper", ["signature", "expires", "id"])
def test_tampered_export_link_is_refused(
    client_for, patient, portal, admin_client, tamper, django_capture_on_commit_callbacks
):
    client = client_for(portal)
    mine = request_export(client, f"patients/{patient.pk}", django_capture_on_commit_callbacks).json()["id"]
    theirs = request_export(admin_client, f"patients/{patient.pk}", django_capture_on_commit_callbacks).json()["id"]
    url = client.get(f"/api/exports/{mine}/").json()["url"]
    if tamper == "signature":
        url = url[:-1] + ("0" if url[-1] != "0" else "1")
    elif tamper == "expires":
        url = url.replace("expires=", "expires=9")
    else:
        url = url.replace(mine, theirs)

    answer, _ = download(APIClient(), url)

    assert answer.status_code == 403


def test_expired_export_link_is_refused_403(client_for, patient, portal, django_capture_on_commit_callbacks):
    client = client_for(portal)
    export_id = request_export(client, f"patients/{patient.pk}", django_capture_on_commit_callbacks).json()["id"]
    Export.objects.filter(pk=export_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    url = client.get(f"/api/exports/{export_id}/").json()["url"]

    answer, _ = download(APIClient(), url)

    assert answer.status_code == 403 and "expired" in answer.json()["detail"]


def test_failed_build_is_marked_failed_with_the_reason(client_for, patient, portal, django_capture_on_commit_callbacks):
    client = client_for(portal)
    export = Export.objects.create(
        record_type_id=Export.record_type.field.related_model.objects.get_for_model(patient).pk,
        record_id=PatientFactory().pk,  # another patient's record: not theirs to export
        requested_by=portal,
        expires_at=timezone.now() + timedelta(hours=1),
    )

    export_build(export_id=export.pk)

    export.refresh_from_db()
    assert (export.state, export.error) == ("failed", "You may not export this record")
    assert client.get(f"/api/exports/{export.pk}/").json()["url"] is None


def test_a_second_build_of_a_built_export_changes_nothing(
    client_for, patient, portal, django_capture_on_commit_callbacks
):
    export_id = request_export(client_for(portal), f"patients/{patient.pk}", django_capture_on_commit_callbacks).json()[
        "id"
    ]
    before = Export.objects.get(pk=export_id)

    export_build(export_id=export_id)

    after = Export.objects.get(pk=export_id)
    assert (after.state, after.storage_name, after.sha256) == ("ready", before.storage_name, before.sha256)


def test_cleanup_sweeps_expired_exports_row_and_bytes(client_for, patient, portal, django_capture_on_commit_callbacks):
    client = client_for(portal)
    expired = request_export(client, f"patients/{patient.pk}", django_capture_on_commit_callbacks).json()["id"]
    live = request_export(client, f"patients/{patient.pk}", django_capture_on_commit_callbacks).json()["id"]
    name = Export.objects.get(pk=expired).storage_name
    Export.objects.filter(pk=expired).update(expires_at=timezone.now() - timedelta(seconds=1))

    report = files_reconcile(dry_run=False, grace=timedelta(0))

    assert report.expired_exports == [expired]
    assert not Export.objects.filter(pk=expired).exists() and not conf.storage().exists(name)
    assert conf.storage().exists(Export.objects.get(pk=live).storage_name)  # a live export's bytes are no orphan


def test_a_file_has_no_export_of_its_own_only_records_do(admin_client, db):
    # Exports are of records (their files); a file's id under /api/files/ offers none.
    file = FileFactory()

    response = admin_client.post(f"/api/files/{file.id}/exports/")

    assert response.status_code == 404


# The signed link serves the ZIP as a file's bytes are served: ranges, conditionals, HEAD, and outages contained.


@pytest.fixture
def link(client_for, portal, patient, django_capture_on_commit_callbacks):
    """A ready export of the patient's record, and its signed link's path and query."""
    client = client_for(portal)
    export_id = request_export(client, f"patients/{patient.pk}", django_capture_on_commit_callbacks).json()["id"]
    url = urlsplit(client.get(f"/api/exports/{export_id}/").json()["url"])
    return Export.objects.get(pk=export_id), f"{url.path}?{url.query}"


def stored_bytes(export: Export) -> bytes:
    with conf.storage().open(export.storage_name, "rb") as stored:
        return stored.read()


def test_a_download_of_the_link_resumes_from_a_range_206(link):
    export, path = link
    whole = stored_bytes(export)

    first = APIClient().get(path)
    response = APIClient().get(path, HTTP_RANGE="bytes=100-", HTTP_IF_RANGE=first["ETag"])

    assert (first.status_code, first["Accept-Ranges"]) == (200, "bytes")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-{export.size - 1}/{export.size}"
    assert body(response) == whole[100:]
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_range_in_the_middle_of_the_zip_is_exactly_those_bytes(link):
    export, path = link

    response = APIClient().get(path, HTTP_RANGE="bytes=10-109")

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 10-109/{export.size}"
    assert body(response) == stored_bytes(export)[10:110]


def test_a_range_past_the_end_of_the_zip_is_416(link):
    export, path = link

    response = APIClient().get(path, HTTP_RANGE=f"bytes={export.size}-")

    assert (response.status_code, response["Content-Range"]) == (416, f"bytes */{export.size}")


def test_the_link_revalidated_with_its_etag_is_304(link):
    export, path = link
    etag = APIClient().get(path)["ETag"]

    response = APIClient().get(path, HTTP_IF_NONE_MATCH=etag)

    assert etag == f'"{export.sha256}"'
    assert response.status_code == 304 and response.content == b""
    assert response["Cache-Control"] == "private, no-store"


def test_head_of_the_link_says_what_a_get_would_send_without_the_bytes(link, portal):
    export, path = link

    response = APIClient().head(path)

    assert response.status_code == 200 and response.content == b""
    assert (response["Content-Type"], response["Content-Length"]) == ("application/zip", str(export.size))
    assert response["Content-Disposition"].startswith("attachment;")
    assert AuditEvent.objects.filter(action="export", detail="export download", user_id=str(portal.pk)).exists()


def test_the_link_of_an_export_whose_bytes_are_gone_is_404_never_500(link):
    # Swept by files_cleanup, say, while its requester clicks.
    export, path = link
    conf.storage().delete(export.storage_name)

    response = APIClient().get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Export not found"}
    assert AuditEvent.objects.filter(action="export", outcome="refused", status=404).count() == 1


def test_the_link_while_storage_fails_is_503_with_retry_after(link, monkeypatch):
    _, path = link

    def failing(name):
        raise OSError(errno.EIO, "Input/output error", name)

    monkeypatch.setattr(config.current(), "open_blob", failing)
    response = APIClient().get(path)

    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert response.json() == {"detail": "File storage is unavailable, try again later"}
    assert AuditEvent.objects.filter(action="export", status=503).count() == 1


def test_refused_requests_for_export_links_from_one_address_are_answered_429_past_the_limit(link, settings):
    settings.FILES_REFUSAL_RATE = "3/day"
    settings.FILES_CLIENT_ADDRESS_HEADER = "HTTP_X_REAL_IP"
    _, path = link
    tampered = path[:-1] + ("0" if path[-1] != "0" else "1")
    client = APIClient(HTTP_X_REAL_IP="203.0.113.9")
    for _ in range(3):
        assert client.get(tampered).status_code == 403

    answer = client.get(tampered)

    assert answer.status_code == 429
    assert 0 < int(answer["Retry-After"]) <= 86400
    assert answer.json()["detail"].startswith("Request was throttled. Expected available in ")
    assert AuditEvent.objects.filter(action="export", status=429).exists()
    assert APIClient(HTTP_X_REAL_IP="203.0.113.10").get(tampered).status_code == 403  # another client
    assert client.get(path).status_code == 200  # its requester's own link, from behind the same address


def test_on_s3_in_redirect_mode_the_link_sends_the_store_s_url_never_stored(on_s3, link, settings):
    settings.FILES_SERVE_MODE = "redirect"
    export, path = link  # built after on_s3 (fixtures in order): its bytes are in the bucket

    response = APIClient().get(path)

    assert response.status_code == 302 and response["Cache-Control"] == "private, no-store"
    with urllib.request.urlopen(response["Location"], timeout=10) as stored:  # noqa: S310 (the loopback test store)
        assert stored.read() == stored_bytes(export)
        assert stored.headers["Cache-Control"] == "no-store"
        assert stored.headers["Content-Disposition"] == f'attachment; filename="{export.pk}.zip"'
