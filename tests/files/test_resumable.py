"""Resumable uploads over tus 1.0 at /api/{records}/{id}/uploads/: the bytes staged, the File made at the last one."""

import base64
import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from demo import samples
from files import conf
from files.models import AuditEvent, File, ResumableUpload
from files.resumable import staging_dir
from tests.factories import AppointmentFactory, DoctorFactory, UserFactory
from tests.files.test_services import stored_names

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


def uploads_url(record) -> str:
    return f"/api/{record._meta.app_label}/{record.pk}/uploads/"


def metadata(**pairs: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


def create(client, record, length: int, **pairs: str):
    pairs = pairs or {"filename": "scan.pdf", "type": "scan"}
    return client.post(
        uploads_url(record), HTTP_UPLOAD_LENGTH=str(length), HTTP_UPLOAD_METADATA=metadata(**pairs), **TUS
    )


def patch(client, url: str, offset: int, body: bytes, **extra):
    return client.generic(
        "PATCH",
        url,
        body,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=str(offset),
        **{**TUS, **extra},
    )


def chunks_of(content: bytes, count: int) -> list[tuple[int, bytes]]:
    size = -(-len(content) // count)
    return [(start, content[start : start + size]) for start in range(0, len(content), size)]


class DroppedConnection(io.BytesIO):
    """A request body whose client goes away after ``after`` bytes."""

    def __init__(self, content: bytes, after: int) -> None:
        super().__init__(content[:after])

    def read(self, size=-1) -> bytes:
        data = super().read(size)
        if not data:
            raise OSError("connection reset by peer")
        return data


@pytest.fixture
def pdf() -> bytes:
    return samples.pdf_bytes("Lab report " * 20_000)  # some 200 KB


@pytest.mark.parametrize("record_factory", [None, DoctorFactory, AppointmentFactory])
def test_upload_in_three_patches_makes_the_file_with_the_same_bytes(admin_client, patient, pdf, record_factory):
    record = record_factory() if record_factory else patient
    created = create(admin_client, record, len(pdf))
    assert created.status_code == 201
    assert created["Tus-Resumable"] == "1.0.0"
    url = created["Location"]
    assert url.startswith(uploads_url(record))

    for start, chunk in chunks_of(pdf, 3):
        response = patch(admin_client, url, start, chunk)
        assert response.status_code == 204, response.content
        assert response["Upload-Offset"] == str(start + len(chunk))

    file = File.objects.get()
    assert (file.entity_id, file.category, file.name, file.size) == (record.pk, "scan", "scan.pdf", len(pdf))
    assert file.sha256 == hashlib.sha256(pdf).hexdigest()
    assert conf.storage().open(file.storage_name).read() == pdf
    assert response["X-File-Id"] == str(file.pk)
    assert response["Link"] == f'</api/files/{file.pk}/>; rel="related"'
    head = admin_client.head(url, **TUS)
    assert head.status_code == 200
    assert (head["Upload-Offset"], head["X-File-Id"]) == (str(len(pdf)), str(file.pk))
    assert list(staging_dir().iterdir()) == []  # the staged bytes went with the upload


def test_upload_resumes_after_a_dropped_connection_from_the_offset_head_gives(admin_client, patient, pdf):
    url = create(admin_client, patient, len(pdf))["Location"]
    patch(admin_client, url, 0, pdf[:1000])

    # The connection drops 50000 bytes into the second chunk: what arrived is kept.
    dropped = DroppedConnection(pdf[1000:], after=50_000)
    patch(admin_client, url, 1000, b"", **{"wsgi.input": dropped, "CONTENT_LENGTH": str(len(pdf) - 1000)})
    head = admin_client.head(url, **TUS)
    assert head.status_code == 200
    assert (head["Upload-Offset"], head["Upload-Length"]) == ("51000", str(len(pdf)))
    assert head["Cache-Control"] == "no-store"
    assert not File.objects.exists()

    response = patch(admin_client, url, 51000, pdf[51000:])

    assert response.status_code == 204
    assert File.objects.get().sha256 == hashlib.sha256(pdf).hexdigest()


def test_bytes_past_the_saved_offset_are_cut_off_on_the_next_write(admin_client, patient, pdf):
    """A request that wrote bytes and failed before saving its offset leaves them behind: they do not count."""
    url = create(admin_client, patient, len(pdf))["Location"]
    patch(admin_client, url, 0, pdf[:1000])
    (upload,) = ResumableUpload.objects.all()
    with (staging_dir() / upload.staging_name).open("ab") as staged:
        staged.write(b"garbage of a failed request")

    patch(admin_client, url, 1000, pdf[1000:])

    assert File.objects.get().sha256 == hashlib.sha256(pdf).hexdigest()


def upload_checksum(algorithm: str, chunk: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, chunk).digest()).decode()}"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
def test_chunks_with_their_checksums_make_the_file(admin_client, patient, pdf, algorithm):
    url = create(admin_client, patient, len(pdf))["Location"]

    for start, chunk in chunks_of(pdf, 2):
        response = patch(admin_client, url, start, chunk, HTTP_UPLOAD_CHECKSUM=upload_checksum(algorithm, chunk))
        assert response.status_code == 204

    assert File.objects.get().sha256 == hashlib.sha256(pdf).hexdigest()


def test_chunk_that_does_not_have_its_checksum_is_460_and_not_kept(admin_client, patient, pdf):
    url = create(admin_client, patient, len(pdf))["Location"]
    patch(admin_client, url, 0, pdf[:1000])
    corrupted = pdf[1000:5000].replace(b"L", b"l", 1)

    response = patch(admin_client, url, 1000, corrupted, HTTP_UPLOAD_CHECKSUM=upload_checksum("sha1", pdf[1000:5000]))

    assert response.status_code == 460
    assert response.reason_phrase == "Checksum Mismatch"
    assert response.json() == {"detail": "The chunk's bytes do not have its Upload-Checksum (sha1); none were kept"}
    assert admin_client.head(url, **TUS)["Upload-Offset"] == "1000"
    assert patch(admin_client, url, 1000, pdf[1000:]).status_code == 204  # sent again, the upload goes on
    assert File.objects.get().sha256 == hashlib.sha256(pdf).hexdigest()


def test_chunk_cut_off_by_a_dropped_connection_fails_its_checksum_and_is_not_kept(admin_client, patient, pdf):
    url = create(admin_client, patient, len(pdf))["Location"]
    dropped = DroppedConnection(pdf, after=50_000)

    response = patch(
        admin_client,
        url,
        0,
        b"",
        HTTP_UPLOAD_CHECKSUM=upload_checksum("sha256", pdf),
        **{"wsgi.input": dropped, "CONTENT_LENGTH": str(len(pdf))},
    )

    assert response.status_code == 460
    assert ResumableUpload.objects.get().offset == 0


@pytest.mark.parametrize(
    "header", ["crc32 AAAA", "sha1 not*base64", "SHA1 " + base64.b64encode(b"x" * 20).decode(), "sha1"]
)
def test_upload_checksum_header_that_cannot_be_used_is_422_and_writes_nothing(admin_client, patient, pdf, header):
    url = create(admin_client, patient, len(pdf))["Location"]

    response = patch(admin_client, url, 0, pdf[:1000], HTTP_UPLOAD_CHECKSUM=header)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Upload-Checksum"]
    assert ResumableUpload.objects.get().offset == 0


@pytest.mark.parametrize("filename", [None, "", "..", "scans/.."])
def test_upload_without_a_usable_file_name_still_makes_its_file(admin_client, patient, pdf, filename):
    pairs = {"type": "scan"} if filename is None else {"filename": filename, "type": "scan"}
    url = create(admin_client, patient, len(pdf), **pairs)["Location"]

    response = patch(admin_client, url, 0, pdf)

    assert response.status_code == 204
    assert File.objects.get().name.endswith(".pdf")


def test_patch_at_another_offset_is_409_and_writes_nothing(admin_client, patient, pdf):
    url = create(admin_client, patient, len(pdf))["Location"]
    patch(admin_client, url, 0, pdf[:1000])

    response = patch(admin_client, url, 500, pdf[500:1500])

    assert response.status_code == 409
    assert response.json() == {"detail": "Upload-Offset must be 1000, the bytes received so far"}
    assert ResumableUpload.objects.get().offset == 1000


def test_patch_after_completion_is_409(admin_client, patient):
    content = samples.png_bytes()
    url = create(admin_client, patient, len(content), filename="a.png", type="image")["Location"]
    patch(admin_client, url, 0, content)

    assert patch(admin_client, url, len(content), b"more").status_code == 409
    assert File.objects.count() == 1


@pytest.mark.parametrize("method", ["post", "head", "patch", "delete"])
def test_request_without_tus_resumable_is_412(admin_client, patient, pdf, method):
    url = create(admin_client, patient, len(pdf))["Location"] if method != "post" else uploads_url(patient)

    response = getattr(admin_client, method)(url, HTTP_UPLOAD_LENGTH="10", HTTP_UPLOAD_OFFSET="0")

    assert response.status_code == 412
    assert (response["Tus-Resumable"], response["Tus-Version"]) == ("1.0.0", "1.0.0")
    assert ResumableUpload.objects.count() == (0 if method == "post" else 1)


def test_options_tells_the_version_extensions_and_max_size(anonymous, patient):
    response = anonymous.options(uploads_url(patient))

    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert response["Tus-Extension"] == "creation,termination,expiration,checksum"
    assert response["Tus-Max-Size"] == str(conf.max_upload_size())
    assert response["Tus-Checksum-Algorithm"] == "sha1,sha256,md5"


@pytest.mark.parametrize("method", ["head", "patch", "delete"])
def test_another_users_upload_is_404_to_them(admin_client, client_for, patient, pdf, method):
    url = create(admin_client, patient, len(pdf))["Location"]
    other = client_for(UserFactory(role="admin"))

    response = patch(other, url, 0, pdf[:1000]) if method == "patch" else getattr(other, method)(url, **TUS)

    assert response.status_code == 404
    assert ResumableUpload.objects.get().offset == 0


def test_user_without_upload_right_cannot_create_403(client_for, patient):
    assert create(client_for(UserFactory()), patient, 10).status_code == 403
    assert not ResumableUpload.objects.exists()


def test_continuing_after_losing_the_upload_right_is_403(admin, client_for, patient, pdf):
    client = client_for(admin)
    url = create(client, patient, len(pdf))["Location"]
    admin.groups.clear()

    assert patch(client, url, 0, pdf[:1000]).status_code == 403
    assert ResumableUpload.objects.get().offset == 0


def test_anonymous_cannot_create_or_patch_401(anonymous, admin_client, patient, pdf):
    url = create(admin_client, patient, len(pdf))["Location"]

    assert create(anonymous, patient, 10).status_code == 401
    assert patch(anonymous, url, 0, pdf[:1000]).status_code == 401


def test_creation_over_the_size_limit_is_413(admin_client, patient, settings):
    settings.FILES_MAX_UPLOAD_SIZE = 1000

    response = create(admin_client, patient, 1001)

    assert response.status_code == 413
    assert not ResumableUpload.objects.exists()


def test_bytes_past_upload_length_are_413_and_not_counted(admin_client, patient, pdf):
    url = create(admin_client, patient, 1000)["Location"]

    response = patch(admin_client, url, 0, pdf[:1001])

    assert response.status_code == 413
    assert ResumableUpload.objects.get().offset == 0


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"HTTP_UPLOAD_LENGTH": "ten"}, "Upload-Length"),
        ({"HTTP_UPLOAD_LENGTH": "0"}, "Upload-Length"),
        ({"HTTP_UPLOAD_LENGTH": "10", "HTTP_UPLOAD_METADATA": "filename %%%"}, "Upload-Metadata"),
        ({"HTTP_UPLOAD_LENGTH": "10", "HTTP_UPLOAD_METADATA": metadata(type="weapon")}, "Upload-Metadata"),
    ],
)
def test_creation_with_bad_headers_is_422(admin_client, patient, headers, field):
    response = admin_client.post(uploads_url(patient), **headers, **TUS)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", field]
    assert not ResumableUpload.objects.exists()


def test_patch_with_another_content_type_is_415(admin_client, patient, pdf):
    url = create(admin_client, patient, len(pdf))["Location"]

    response = admin_client.generic("PATCH", url, pdf, content_type="application/json", HTTP_UPLOAD_OFFSET="0", **TUS)

    assert response.status_code == 415


def test_hostile_file_is_refused_422_at_completion_and_nothing_stays(admin_client, patient, storage):
    html = b"<html><script>alert(1)</script></html>"
    url = create(admin_client, patient, len(html), filename="invoice.pdf", type="document")["Location"]

    response = patch(admin_client, url, 0, html)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]
    assert not File.objects.exists()
    assert not ResumableUpload.objects.exists()
    assert list(staging_dir().iterdir()) == []
    assert stored_names(storage, patient.pk) == []
    assert admin_client.head(url, **TUS).status_code == 404


def test_termination_removes_the_upload_and_its_bytes(admin_client, patient, pdf):
    url = create(admin_client, patient, len(pdf))["Location"]
    patch(admin_client, url, 0, pdf[:1000])

    response = admin_client.delete(url, **TUS)

    assert response.status_code == 204
    assert not ResumableUpload.objects.exists()
    assert list(staging_dir().iterdir()) == []
    assert patch(admin_client, url, 1000, pdf[1000:]).status_code == 404


def test_expired_upload_is_404_and_swept_by_files_cleanup(admin_client, patient, pdf):
    url = create(admin_client, patient, len(pdf))["Location"]
    patch(admin_client, url, 0, pdf[:1000])
    live_id = create(admin_client, patient, len(pdf))["Location"].rstrip("/").rsplit("/", 1)[1]
    ResumableUpload.objects.exclude(pk=live_id).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert admin_client.head(url, **TUS).status_code == 404
    call_command("files_cleanup", stdout=io.StringIO(), stderr=io.StringIO())

    (live,) = ResumableUpload.objects.all()
    assert str(live.pk) == live_id
    assert [path.name for path in staging_dir().iterdir()] == [live.staging_name]


def test_patch_moves_the_expiry_on(admin_client, patient, pdf, settings):
    settings.FILES_RESUMABLE_LIFETIME = 60
    url = create(admin_client, patient, len(pdf))["Location"]
    ResumableUpload.objects.update(expires_at=timezone.now() + timedelta(seconds=5))

    response = patch(admin_client, url, 0, pdf[:1000])

    assert ResumableUpload.objects.get().expires_at > timezone.now() + timedelta(seconds=50)
    assert response["Upload-Expires"]


def test_staging_folder_is_the_services_alone(admin_client, patient, pdf):
    create(admin_client, patient, len(pdf))

    assert staging_dir().stat().st_mode & 0o777 == 0o700


def test_refused_resumable_uploads_are_on_the_audit_trail(admin_client, client_for, patient, pdf):
    url = create(admin_client, patient, len(pdf))["Location"]
    create(client_for(UserFactory()), patient, 10)
    patch(client_for(UserFactory(role="admin")), url, 0, pdf[:1000])

    refused = AuditEvent.objects.filter(action="upload").exclude(status=None).order_by("id")
    assert [event.status for event in refused] == [403, 404]
