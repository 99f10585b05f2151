"""Object storage: ranges go to the store, and the redirect mode (always on S3, whatever --storage says)."""

import urllib.request
from email.message import Message
from urllib.parse import unquote

import pytest
from django.test import Client

from demo import samples
from files import signing
from files.backends import open_blob
from files.derivatives import file_derivatives_make
from files.export import export_build, export_request
from tests.factories import FileFactory
from tests.responses import body

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
    assert body(response) == PDF[5:15]


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


@pytest.fixture
def named_file(on_s3, patient):
    """A PDF whose name says who it is about and what: it must never be in a URL of the store."""
    return FileFactory(owner=patient, name="Jane Doe - HIV test result.pdf", content=PDF)


def signed_path(file, user) -> str:
    """The path and query of ``file``'s signed URL issued to ``user``, as the API gives it."""
    query = signing.sign(
        file_id=str(file.pk), entity_id=str(file.entity_id), extension=file.extension, issued_to=str(user.pk)
    )
    return f"/static/{file.path}?{query}"


def store_answer(url: str) -> Message:
    """The headers the store sends for ``url`` (looked up by any case)."""
    with urllib.request.urlopen(url, timeout=10) as stored:  # noqa: S310 (the loopback test store)
        stored.read()
        return stored.headers


@pytest.mark.parametrize("download", [False, True], ids=["inline", "attachment"])
def test_the_store_url_and_its_answer_name_the_file_by_its_id_never_the_patients_name(
    admin_client, named_file, settings, download
):
    settings.FILES_SERVE_MODE = "redirect"

    location = admin_client.get(f"/static/{named_file.path}", {"download": 1} if download else {})["Location"]

    assert not {"Jane", "Doe", "HIV"} & set(unquote(location).replace("-", " ").replace('"', " ").split())
    disposition = "attachment" if download else "inline"
    assert store_answer(location)["Content-Disposition"] == f'{disposition}; filename="{named_file.pk}.pdf"'


def test_the_stores_answer_carries_the_files_type_disposition_and_cache_control(admin, named_file, settings):
    # What S3 can send: the URL's overrides. It cannot send nosniff, a CSP or Referrer-Policy (README, Downloads).
    settings.FILES_SERVE_MODE = "redirect"
    settings.FILES_REDIRECT_LIFETIME = 60
    signed = signed_path(named_file, admin)

    redirect = Client().get(signed)
    assert redirect.status_code == 302, redirect.content
    headers = store_answer(redirect["Location"])

    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == f'inline; filename="{named_file.pk}.pdf"'
    assert headers["Cache-Control"] == redirect["Cache-Control"] == "private, max-age=30"


def test_a_redirect_is_cached_at_most_half_its_targets_life_and_never_revalidated(admin, s3_file, settings):
    settings.FILES_SERVE_MODE = "redirect"
    settings.FILES_REDIRECT_LIFETIME = 40

    response = Client().get(signed_path(s3_file, admin))

    assert response.status_code == 302
    # A signed URL's download may be cached for 15 minutes; its target lives 40 s.
    assert response["Cache-Control"] == "private, max-age=20"
    # Revalidated with a 304, a cached 302 would be followed again to an expired URL.
    assert "ETag" not in response.headers
    assert "Last-Modified" not in response.headers


def test_a_tokens_redirect_is_not_stored(admin_client, s3_file, settings):
    settings.FILES_SERVE_MODE = "redirect"

    response = admin_client.get(f"/static/{s3_file.path}")

    assert response["Cache-Control"] == "no-store"


def test_objects_are_stored_with_their_kinds_type_an_attachment_disposition_and_no_store(named_file, storage):
    # What any URL of the object gets when it asks for no other headers: never shown, never cached, no name.
    stored = storage.bucket.Object(storage.key(named_file.storage_name))

    assert (stored.content_type, stored.content_disposition, stored.cache_control) == (
        "application/pdf",
        f'attachment; filename="{named_file.pk}.pdf"',
        "private, no-store",
    )


def test_what_the_service_writes_itself_is_stored_with_its_type_too(on_s3, patient, admin, storage):
    # Thumbnails, previews and exports have no upload kind; their objects still say what they are.
    photo = FileFactory(owner=patient, name="knee.png")
    file_derivatives_make(file_id=photo.pk)
    export = export_request(record=patient, requested_by=admin)
    export_build(export_id=export.pk)
    export.refresh_from_db()
    names = [*photo.derivatives.values_list("storage_name", flat=True), export.storage_name]

    stored = sorted(storage.bucket.Object(storage.key(name)).content_type for name in names)

    assert stored == ["application/zip", "image/webp", "image/webp"]


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
    # nginx sends the app's headers: the store's URL asks for none, and names no file.
    assert "response-content" not in location
    assert response["Content-Type"] == "application/pdf"
