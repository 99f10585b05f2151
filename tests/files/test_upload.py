"""POST /api/{records}/{id}/files/: multipart uploads, typed by their bytes."""

import hashlib
import io
import uuid

import pytest

from demo import samples
from files.models import File
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, UserFactory
from tests.signed import SignedFileURL

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def named(name: str, content: bytes) -> io.BytesIO:
    part = io.BytesIO(content)
    part.name = name
    return part


def upload_url(record) -> str:
    return f"/api/{record._meta.app_label}/{record.pk}/files/"


@pytest.mark.parametrize(
    ("name", "content", "extension", "media_type"),
    [
        ("photo.png", samples.png_bytes(), ".png", "image/png"),
        ("scan.jpeg", samples.jpeg_bytes(), ".jpeg", "image/jpeg"),
        ("scan.JPG", samples.jpeg_bytes(), ".jpg", "image/jpeg"),
        ("report.pdf", samples.pdf_bytes(), ".pdf", "application/pdf"),
        ("letter.doc", samples.doc_bytes(), ".doc", "application/msword"),
        ("letter.docx", samples.docx_bytes(), ".docx", DOCX),
        ("blob", samples.pdf_bytes(), ".pdf", "application/pdf"),
    ],
)
def test_upload_one_file_returns_201_with_the_file_object(admin_client, patient, name, content, extension, media_type):
    response = admin_client.post(upload_url(patient), {"file": named(name, content), "type": "report"})

    assert response.status_code == 201
    data = response.json()
    file = File.objects.get()
    assert data == {
        "id": str(file.pk),
        "type": "report",
        "mime_type": extension,
        "entity_id": str(patient.pk),
        "url": SignedFileURL(file),
        "name": name,
        "size": len(content),
        "content_type": media_type,
        "created_at": data["created_at"],
    }
    assert file.sha256 == hashlib.sha256(content).hexdigest()


def test_uploaded_file_is_served_back_unchanged(admin_client, patient):
    content = samples.pdf_bytes("Discharge summary")
    url = admin_client.post(upload_url(patient), {"file": named("summary.pdf", content)}).json()["url"]

    response = admin_client.get(url)

    assert b"".join(response.streaming_content) == content


@pytest.mark.parametrize("factory", [PatientFactory, DoctorFactory, AppointmentFactory])
def test_upload_to_every_kind_of_record(admin_client, factory):
    record = factory()

    response = admin_client.post(upload_url(record), {"file": named("photo.png", samples.png_bytes())})

    assert response.status_code == 201
    assert response.json()["entity_id"] == str(record.pk)
    assert File.objects.get().entity == record


def test_upload_several_files_returns_201_with_the_list(admin_client, patient):
    parts = [named("a.png", samples.png_bytes()), named("b.pdf", samples.pdf_bytes())]

    response = admin_client.post(upload_url(patient), {"file": parts, "type": "scan"})

    assert response.status_code == 201
    assert [(item["name"], item["mime_type"], item["type"]) for item in response.json()] == [
        ("a.png", ".png", "scan"),
        ("b.pdf", ".pdf", "scan"),
    ]
    assert File.objects.count() == 2


def test_upload_without_type_files_a_document(admin_client, patient):
    response = admin_client.post(upload_url(patient), {"file": named("a.png", samples.png_bytes())})

    assert response.json()["type"] == "document"


def test_list_record_files(admin_client, patient):
    admin_client.post(upload_url(patient), {"file": [named("a.png", samples.png_bytes())] * 2})

    response = admin_client.get(upload_url(patient))

    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [str(pk) for pk in File.objects.values_list("pk", flat=True)]


def test_upload_without_file_part_returns_422(admin_client, patient):
    response = admin_client.post(upload_url(patient), {"type": "report"})

    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}]}


def test_upload_with_unknown_type_returns_422(admin_client, patient):
    response = admin_client.post(upload_url(patient), {"file": named("a.png", samples.png_bytes()), "type": "selfie"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "type"]
    assert response.json()["detail"][0]["type"] == "enum"
    assert not File.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "error_type"),
    [
        ("page.html", b"<html><script>alert(1)</script></html>", "unsupported_file_type"),
        ("photo.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "unsupported_file_type"),
        ("empty.pdf", b"", "empty_file"),
        ("cut.png", samples.png_bytes()[:40], "invalid_file"),
        ("cut.pdf", samples.pdf_bytes()[:-40], "invalid_file"),
        ("photo.pdf", samples.png_bytes(), "extension_mismatch"),
        ("macro.docx", samples.docx_bytes(with_macros=True), "macro_document"),
        ("sheet.doc", samples.doc_bytes(stream_name="Workbook"), "unsupported_file_type"),
    ],
)
def test_upload_rejected_by_content_returns_422_and_stores_nothing(
    admin_client, patient, storage, name, content, error_type
):
    response = admin_client.post(upload_url(patient), {"file": named(name, content)})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "file"]
    assert error["type"] == error_type
    assert error["msg"]
    assert not File.objects.exists()
    assert not storage.exists(str(patient.pk))


def test_upload_over_the_size_limit_returns_413(admin_client, patient, settings, storage):
    settings.FILES_MAX_UPLOAD_SIZE = 100

    response = admin_client.post(upload_url(patient), {"file": named("a.png", samples.png_bytes(256, 256))})

    assert response.status_code == 413
    assert "limit of 100 bytes" in response.json()["detail"]
    assert not File.objects.exists()


def test_upload_more_files_than_allowed_returns_422(admin_client, patient, settings):
    settings.FILES_MAX_FILES_PER_REQUEST = 2

    response = admin_client.post(upload_url(patient), {"file": [named("a.png", samples.png_bytes())] * 3})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]
    assert not File.objects.exists()


def test_upload_to_unknown_record_returns_404(admin_client, db):
    response = admin_client.post(f"/api/patients/{uuid.uuid4()}/files/", {"file": named("a.png", samples.png_bytes())})

    assert response.status_code == 404


def test_upload_to_non_uuid_record_returns_422(admin_client, db):
    response = admin_client.post("/api/patients/PAT-001/files/", {"file": named("a.png", samples.png_bytes())})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "id"]


def test_upload_without_credentials_returns_401(anonymous, patient):
    response = anonymous.post(upload_url(patient), {"file": named("a.png", samples.png_bytes())})

    assert response.status_code == 401
    assert not File.objects.exists()


def test_upload_without_add_permission_returns_403(client_for, patient):
    response = client_for(UserFactory()).post(upload_url(patient), {"file": named("a.png", samples.png_bytes())})

    assert response.status_code == 403
    assert not File.objects.exists()


def test_upload_as_receptionist_records_the_uploader(client_for, patient, receptionist):
    client_for(receptionist).post(upload_url(patient), {"file": named("a.png", samples.png_bytes())})

    assert File.objects.get().uploaded_by == receptionist


def test_upload_json_body_returns_415(admin_client, patient):
    response = admin_client.post(upload_url(patient), {"file": "x"}, format="json")

    assert response.status_code == 415
    assert isinstance(response.json()["detail"], str)


def test_upload_over_the_limit_leaves_no_temporary_file(admin_client, patient, settings, tmp_path):
    settings.FILES_MAX_UPLOAD_SIZE = 100
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()

    response = admin_client.post(upload_url(patient), {"file": named("a.png", samples.png_bytes(256, 256))})

    assert response.status_code == 413
    assert list((tmp_path / "uploads").iterdir()) == []


def test_browsable_api_offers_a_file_upload_form(client, patient, admin):
    client.force_login(admin)

    html = client.get(upload_url(patient), HTTP_ACCEPT="text/html").content.decode()

    assert 'enctype="multipart/form-data"' in html
    assert 'name="file"' in html
    assert 'type="file"' in html


def test_browsable_api_form_upload_with_a_session(client, patient, admin):
    client.force_login(admin)

    response = client.post(upload_url(patient), {"file": named("photo.png", samples.png_bytes()), "type": "profile"})

    assert response.status_code == 201
    assert File.objects.get().category == "profile"
