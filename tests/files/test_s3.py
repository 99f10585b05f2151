"""Object storage: ranges go to the store, and the redirect mode (always on S3, whatever --storage says)."""

import urllib.request

import pytest

from demo import samples
from files.backends import open_blob
from tests.factories import FileFactory

PDF = samples.pdf_bytes("Radiology report " * 50)


@pytest.fixture
def s3_file(on_s3, patient):
    return FileFactory(owner=patient, name="report.pdf", content=PDF)


def test_range_read_fetches_only_those_bytes_from_the_store(s3_file, storage):
    part = open_blob(storage, s3_file.storage_name).slice(10, 19)

    assert part.read() == PDF[10:20]
    assert part.read() == b""


def test_ranged_download_from_s3(admin_client, s3_file):
    response = admin_client.get(f"/static/{s3_file.path}", HTTP_RANGE="bytes=5-14")

    assert response.status_code == 206
    assert b"".join(response.streaming_content) == PDF[5:15]


def test_redirect_mode_sends_a_short_lived_presigned_url_of_the_store(admin_client, s3_file, settings):
    settings.FILES_SERVE_MODE = "redirect"
    settings.FILES_REDIRECT_LIFETIME = 30

    response = admin_client.get(f"/static/{s3_file.path}")

    assert response.status_code == 302
    location = response["Location"]
    assert "X-Amz-Expires=30" in location
    assert "X-Amz-Signature=" in location
    with urllib.request.urlopen(location, timeout=10) as stored:  # noqa: S310 (the loopback test store)
        assert stored.read() == PDF
        assert stored.headers["Content-Type"] == "application/pdf"
        assert stored.headers["Content-Disposition"] == 'inline; filename="report.pdf"'


def test_redirect_mode_answers_conditionals_itself(admin_client, s3_file, settings):
    settings.FILES_SERVE_MODE = "redirect"

    response = admin_client.get(f"/static/{s3_file.path}", HTTP_IF_NONE_MATCH=f'"{s3_file.sha256}"')

    assert response.status_code == 304


def test_deleted_file_on_s3_is_404(admin_client, s3_file, storage, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.delete(f"/static/delete_file/{s3_file.id}")

    assert not storage.exists(s3_file.storage_name)
    assert admin_client.get(f"/static/{s3_file.path}").status_code == 404


def test_accel_mode_on_s3_hands_nginx_a_presigned_path_of_the_store(admin_client, s3_file, settings, storage):
    settings.FILES_SERVE_MODE = "accel"

    response = admin_client.get(f"/static/{s3_file.path}")

    location = response["X-Accel-Redirect"]
    assert location.startswith(f"/_protected_files/clinic-files-test/{storage.location}/{s3_file.storage_name}?")
    assert "X-Amz-Signature=" in location
    assert response["Content-Type"] == "application/pdf"
