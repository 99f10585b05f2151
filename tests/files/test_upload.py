"""POST /api/{records}/{id}/files/: multipart uploads, typed by their bytes."""

import hashlib
import io
import os
import uuid
from functools import partial

import pytest
from PIL import ExifTags, Image

from demo import samples
from files import conf
from files.exceptions import UploadTooLarge
from files.models import AuditEvent, File
from files.uploads import HashingUploadHandler
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, UserFactory
from tests.files import photos
from tests.files.test_detection import HOSTILE_DOCX, _docx, _png_with_chunk, _ztxt
from tests.responses import body
from tests.signed import SignedFileURL, version_json

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
        # Thumbnail and preview are made once the upload commits: not yet here.
        "thumbnail_url": None,
        "preview_url": None,
        "width": None,
        "height": None,
        "pages": None,
        "scan_status": "pending",  # scanning is off here (tests/files/test_scanning.py turns it on)
        "version": 1,
        "versions": [version_json(file)],
    }
    assert file.sha256 == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize(
    ("name", "stored_name"),
    [("invoice.exe", "invoice.pdf"), ("blob", "blob.pdf"), ("report.PDF", "report.PDF"), ("x.html", "x.pdf")],
)
def test_stored_and_served_name_carries_the_extension_of_the_detected_kind(admin_client, patient, name, stored_name):
    data = admin_client.post(upload_url(patient), {"file": named(name, samples.pdf_bytes())}).json()

    response = admin_client.get(data["url"] + "&download=1")

    assert (data["name"], data["mime_type"]) == (stored_name, ".pdf")
    assert File.objects.get().name == stored_name
    assert f'filename="{stored_name}"' in response["Content-Disposition"]


def test_uploaded_file_is_served_back_unchanged(admin_client, patient):
    content = samples.pdf_bytes("Discharge summary")
    url = admin_client.post(upload_url(patient), {"file": named("summary.pdf", content)}).json()["url"]

    response = admin_client.get(url)

    assert body(response) == content


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


def test_upload_with_a_nul_in_its_type_returns_422_and_is_audited(admin_client, patient):
    # The refusal's message echoes the value: PostgreSQL refuses a NUL in text, which made this a 500.
    response = admin_client.post(
        upload_url(patient), {"file": named("a.png", samples.png_bytes()), "type": "report\x00"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "enum"
    event = AuditEvent.objects.get(action="upload", outcome="refused")
    assert "\x00" not in event.detail  # the writer drops what PostgreSQL refuses in text
    assert '"report" is not a valid choice' in event.detail


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
        ("photo.png", samples.png_bytes() + b"<html><script>alert(1)</script></html>", "polyglot_file"),
        ("program.png", b"MZ\x90\x00" + bytes(60), "unsupported_file_type"),
        ("program.pdf", b"\x7fELF\x02\x01\x01" + bytes(57), "unsupported_file_type"),
        ("script.pdf", samples.pdf_bytes("<script>alert(1)</script>"), "polyglot_file"),
        (
            "js.pdf",
            samples.pdf_bytes(catalog=b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >> "),
            "active_content",
        ),
        ("remote.docx", _docx(HOSTILE_DOCX["remote-template"][0]), "external_reference"),
        ("macro.docx", _docx(HOSTILE_DOCX["vba-relationship-under-another-name"][0]), "macro_document"),
        ("bomb.docx", _docx({"word/media/image1.png": bytes(20 * 1024 * 1024)}), "archive_bomb"),
        ("bomb.png", _png_with_chunk(b"zTXt", _ztxt(b"a" * 10_000_000)), "metadata_too_large"),
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

    parts = [named(f"{name}.png", samples.png_bytes()) for name in "abc"]

    response = admin_client.post(upload_url(patient), {"file": parts})

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "file"], "msg": "No more than 2 files may be uploaded at once", "type": "max_length"}
    ]
    assert not File.objects.exists()


def test_upload_of_as_many_files_as_allowed_stores_them_all(admin_client, patient, settings):
    settings.FILES_MAX_FILES_PER_REQUEST = 2
    parts = [named(f"{name}.png", samples.png_bytes()) for name in "ab"]

    response = admin_client.post(upload_url(patient), {"file": parts})

    assert response.status_code == 201
    assert File.objects.count() == 2


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
    settings.FILES_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
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


@pytest.mark.parametrize(
    ("category", "name", "content", "msg"),
    [
        ("profile", "cv.pdf", samples.pdf_bytes(), "A profile file must be a PNG or JPEG image"),
        ("image", "letter.docx", samples.docx_bytes(), "An image file must be a PNG or JPEG image"),
    ],
)
def test_upload_of_a_kind_the_category_does_not_allow_returns_422_and_stores_nothing(
    admin_client, patient, storage, category, name, content, msg
):
    response = admin_client.post(upload_url(patient), {"file": named(name, content), "type": category})

    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body", "file"], "msg": msg, "type": "unsupported_file_type"}]}
    assert not File.objects.exists()
    assert not storage.exists(str(patient.pk))


@pytest.mark.parametrize(
    ("category", "name", "content"),
    [
        ("document", "report.pdf", samples.pdf_bytes()),
        ("profile", "me.jpg", samples.jpeg_bytes()),
        ("image", "x-ray.png", samples.png_bytes()),
    ],
)
def test_upload_of_a_kind_the_category_allows_returns_201(admin_client, patient, category, name, content):
    response = admin_client.post(upload_url(patient), {"file": named(name, content), "type": category})

    assert response.status_code == 201
    assert File.objects.get().category == category


def test_upload_allowed_kinds_follow_the_setting(admin_client, patient, settings):
    settings.FILES_ALLOWED_KINDS = {"profile": ["pdf"]}

    refused = admin_client.post(upload_url(patient), {"file": named("me.png", samples.png_bytes()), "type": "profile"})
    accepted = admin_client.post(upload_url(patient), {"file": named("cv.pdf", samples.pdf_bytes()), "type": "profile"})

    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == "A profile file must be a PDF file"
    assert accepted.status_code == 201


def test_upload_of_several_files_one_not_allowed_stores_none(admin_client, patient, storage):
    parts = [named("me.png", samples.png_bytes()), named("cv.pdf", samples.pdf_bytes())]

    response = admin_client.post(upload_url(patient), {"file": parts, "type": "profile"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "unsupported_file_type"
    assert not File.objects.exists()
    assert not storage.exists(str(patient.pk))


def test_upload_of_an_image_bomb_returns_422_and_stores_nothing(admin_client, patient, storage):
    bomb = named("bomb.png", samples.png_bomb_bytes(100_000, 100_000))

    response = admin_client.post(upload_url(patient), {"file": bomb, "type": "image"})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "file"], "image_too_large")
    assert "limit of 50000000 pixels" in error["msg"]
    assert not File.objects.exists()
    assert not storage.exists(str(patient.pk))


def test_upload_over_its_category_size_limit_returns_413_and_stores_nothing(admin_client, patient, settings, storage):
    content = samples.png_bytes()
    settings.FILES_MAX_UPLOAD_SIZES = {"profile": len(content) - 1}

    refused = admin_client.post(upload_url(patient), {"file": named("me.png", content), "type": "profile"})

    assert refused.status_code == 413
    assert refused.json() == {"detail": f"File is larger than the limit of {len(content) - 1} bytes for profile files"}
    assert not File.objects.exists()
    assert not storage.exists(str(patient.pk))
    # Other categories keep FILES_MAX_UPLOAD_SIZE.
    accepted = admin_client.post(upload_url(patient), {"file": named("me.png", content), "type": "document"})
    assert accepted.status_code == 201


def test_category_size_limits_default_and_never_exceed_the_overall_limit(settings):
    assert conf.max_upload_size_for("profile") == 5 * 1024 * 1024
    assert conf.max_upload_size_for("image") == 20 * 1024 * 1024
    assert conf.max_upload_size_for("report") == conf.max_upload_size()

    settings.FILES_MAX_UPLOAD_SIZE = 1024
    assert conf.max_upload_size_for("profile") == 1024


def test_upload_of_files_over_the_request_limit_returns_413_and_leaves_nothing(
    admin_client, patient, settings, storage, tmp_path
):
    content = samples.png_bytes()
    settings.FILES_MAX_REQUEST_SIZE = 2 * len(content) - 1  # each file fits, the two together do not
    settings.FILES_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()

    response = admin_client.post(upload_url(patient), {"file": [named("a.png", content), named("b.png", content)]})

    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The request's files are larger than the limit of {2 * len(content) - 1} bytes together"
    }
    assert list((tmp_path / "uploads").iterdir()) == []
    assert not File.objects.exists()
    assert not storage.exists(str(patient.pk))


def test_request_limit_stops_the_upload_while_it_streams_in(settings):
    settings.FILES_MAX_REQUEST_SIZE = 100
    handler = HashingUploadHandler()
    handler.new_file("file", "a.png", "image/png", 60)
    handler.receive_data_chunk(b"a" * 60, 0)
    handler.file_complete(60)
    handler.new_file("file", "b.png", "image/png", 60)
    handler.receive_data_chunk(b"b" * 30, 0)
    partial = handler.file.temporary_file_path()

    with pytest.raises(UploadTooLarge, match="limit of 100 bytes"):
        handler.receive_data_chunk(b"b" * 30, 30)

    assert not os.path.exists(partial)


def _stored(storage, file: File) -> bytes:
    with storage.open(file.storage_name) as stored:
        return stored.read()


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("photo.jpg", photos.phone_jpeg),
        ("progressive.jpg", partial(photos.phone_jpeg, progressive=True)),
        ("photo.png", photos.phone_png),
    ],
)
def test_phone_photo_is_stored_without_its_location_and_identifying_metadata(
    admin_client, patient, storage, name, make
):
    content = make()
    with Image.open(io.BytesIO(content)) as original:
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the sample does carry a position

    response = admin_client.post(upload_url(patient), {"file": named(name, content), "type": "image"})

    assert response.status_code == 201
    file = File.objects.get()
    stored = _stored(storage, file)
    with Image.open(io.BytesIO(stored)) as image:
        exif = image.getexif()
        assert exif.get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert dict(exif) == {ExifTags.Base.Orientation: photos.ORIENTATION_ROTATE_90}  # still shows upright
        assert image.info.get("icc_profile") == photos.ICC
    for secret in (photos.SERIAL.encode(), b"xmpmeta", b"Phone 15", b"tIME"):
        assert secret not in stored
    assert photos.pixels_of(stored) == photos.pixels_of(content)  # not re-encoded
    assert len(stored) < len(content)
    assert (file.size, file.sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
    assert (response.json()["size"], body(admin_client.get(response.json()["url"]))) == (
        len(stored),
        stored,
    )


def test_photo_without_orientation_is_stored_without_any_exif(admin_client, patient, storage):
    admin_client.post(upload_url(patient), {"file": named("a.jpg", photos.phone_jpeg(orientation=1))})

    stored = _stored(storage, File.objects.get())

    assert b"Exif\x00\x00" not in stored
    assert photos.pixels_of(stored) == photos.pixels_of(photos.phone_jpeg(orientation=1))
