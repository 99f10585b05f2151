"""The Django admin for files: lists, links, search, report, uploads and deletes through the services."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import resolve
from PIL import ExifTags, Image
from rest_framework.test import APIClient

from demo import samples
from files.derivatives import file_derivatives_make
from files.models import File
from tests.factories import AppointmentFactory, DoctorFactory, FileFactory, PatientFactory, UserFactory
from tests.files import photos
from tests.responses import body


@pytest.fixture
def staff_client(client, admin):
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    return client


def test_changelist_lists_files(staff_client, png_file):
    response = staff_client.get("/admin/files/file/")

    assert response.status_code == 200
    assert png_file.name in response.content.decode()


def test_change_page_shows_checksum_read_only(staff_client, png_file):
    response = staff_client.get(f"/admin/files/file/{png_file.pk}/change/")

    assert response.status_code == 200
    assert png_file.sha256 in response.content.decode()
    assert 'name="sha256"' not in response.content.decode()


def test_admin_delete_removes_row_and_bytes(staff_client, png_file, storage, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/files/file/{png_file.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not File.objects.filter(pk=png_file.pk).exists()
    assert not storage.exists(png_file.storage_name)


def test_admin_bulk_delete_goes_through_the_service(staff_client, patient, storage, django_capture_on_commit_callbacks):
    files = [FileFactory(owner=patient) for _ in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            "/admin/files/file/",
            {"action": "delete_selected", "_selected_action": [str(f.pk) for f in files], "post": "yes"},
        )

    assert not File.objects.exists()
    assert not any(storage.exists(f.storage_name) for f in files)


def test_admin_without_delete_permission_cannot_delete(client, png_file):
    client.force_login(UserFactory(role="receptionist", is_staff=True))  # views every file, deletes none

    response = client.post(f"/admin/files/file/{png_file.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert File.objects.filter(pk=png_file.pk).exists()


def test_patient_admin_shows_its_files(staff_client, png_file):
    response = staff_client.get(f"/admin/patients/patient/{png_file.entity_id}/change/")

    assert response.status_code == 200
    assert png_file.name in response.content.decode()


def test_changelist_shows_image_thumbnails_and_links_the_admins_session_opens(staff_client, patient):
    photo = FileFactory(owner=patient, name="photo.png")
    report = FileFactory(owner=patient, name="report.pdf", content=samples.pdf_bytes())
    FileFactory(owner=patient, name="waiting.png")  # its thumbnail is not made yet: no picture, never the original
    for file in (photo, report):
        file_derivatives_make(file_id=file.pk)

    html = staff_client.get("/admin/files/file/").content.decode()

    assert html.count('class="file-thumbnail"') == 2
    assert f'src="/static/{photo.entity_id}/{photo.pk}.thumbnail.webp"' in html
    assert f'src="/static/{report.entity_id}/{report.pk}.thumbnail.webp"' in html
    assert f'src="/static/{photo.path}"' not in html
    assert f'href="/static/{report.path}"' in html
    assert f'href="/static/{report.path}?download=1"' in html


def test_thumbnail_url_loads_the_image(staff_client, patient, client, storage):
    photo = FileFactory(owner=patient, name="photo.png")
    file_derivatives_make(file_id=photo.pk)
    html = staff_client.get("/admin/files/file/").content.decode()
    src = html.split('class="file-thumbnail" src="')[1].split('"')[0]

    response = staff_client.get(src)
    anonymous = APIClient().get(src)

    assert response.status_code == 200
    assert anonymous.status_code == 401
    thumbnail = photo.derivatives.get(variant="thumbnail")
    assert body(response) == storage.open(thumbnail.storage_name).read()
    assert photo.name in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "PAT-777"}, {"a.png"}),
        ({"q": "b.png"}, {"b.png"}),
        ({"size": "large"}, set()),
        ({"size": "small"}, {"a.png", "b.png"}),
    ],
)
def test_changelist_search_and_size_filter(staff_client, query, expected):
    FileFactory(owner=PatientFactory(reg_number="PAT-777"), name="a.png")
    FileFactory(owner=PatientFactory(reg_number="PAT-888"), name="b.png")

    html = staff_client.get("/admin/files/file/", query).content.decode()

    assert {name for name in ("a.png", "b.png") if f">{name}<" in html} == expected


def test_storage_report_sums_by_category_and_owner_type(staff_client, patient):
    FileFactory(owner=patient, name="r.pdf", category="report", content=samples.pdf_bytes())
    FileFactory(owner=patient, name="r.pdf", category="report", content=samples.pdf_bytes())

    response = staff_client.get("/admin/files/file/report/")

    assert response.status_code == 200
    by_category = dict(response.context["sections"])["By category"]["items"]
    assert by_category == [{"name": "report", "category": "report", "count": 2, "bytes": 2 * len(samples.pdf_bytes())}]


def test_record_page_uploads_through_the_service(staff_client, patient, storage):
    page = staff_client.get(f"/admin/patients/patient/{patient.pk}/change/")
    form = {**_inline_management(page), "reg_number": patient.reg_number, "first_name": "A", "last_name": "B"}
    prefix = _upload_prefix(page)
    form[f"{prefix}-0-upload_category"] = "scan"
    form[f"{prefix}-0-upload"] = SimpleUploadedFile("x-ray.jpg", samples.jpeg_bytes())

    response = staff_client.post(f"/admin/patients/patient/{patient.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    file = File.objects.get(entity_id=patient.pk)
    assert (file.name, file.category, file.media_type) == ("x-ray.jpg", "scan", "image/jpeg")
    assert storage.exists(file.storage_name)


def test_record_page_upload_stores_a_photo_without_its_location(staff_client, patient, storage):
    page = staff_client.get(f"/admin/patients/patient/{patient.pk}/change/")
    form = {**_inline_management(page), "reg_number": patient.reg_number, "first_name": "A", "last_name": "B"}
    prefix = _upload_prefix(page)
    form[f"{prefix}-0-upload_category"] = "image"
    form[f"{prefix}-0-upload"] = SimpleUploadedFile("wound.jpg", photos.phone_jpeg())

    staff_client.post(f"/admin/patients/patient/{patient.pk}/change/", form)

    with storage.open(File.objects.get(entity_id=patient.pk).storage_name) as stored:
        assert Image.open(stored).getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}


@pytest.mark.parametrize(
    ("category", "name", "content", "message"),
    [
        ("scan", "x-ray.jpg", b"<script>alert(1)</script>", "A scan file must be a PNG, JPEG, PDF, DOC or DOCX file"),
        ("profile", "photo.pdf", samples.pdf_bytes(), "A profile file must be a PNG or JPEG image"),
        ("profile", "photo.png", samples.png_bytes(), "File is larger than the limit of 100 bytes for profile files"),
        ("scan", "scan.pdf", samples.pdf_bytes(catalog=b"/OpenAction << /S /Launch /F (cmd.exe) >> "), "scripts"),
    ],
    ids=["disguised", "kind-not-allowed-for-category", "over-category-size", "pdf-active-content"],
)
def test_record_page_refuses_an_upload_the_api_would_refuse(
    staff_client, patient, settings, category, name, content, message
):
    settings.FILES_MAX_UPLOAD_SIZES = {"profile": 100 if "limit" in message else 10_000}
    page = staff_client.get(f"/admin/patients/patient/{patient.pk}/change/")
    form = {**_inline_management(page), "reg_number": patient.reg_number, "first_name": "A", "last_name": "B"}
    prefix = _upload_prefix(page)
    form[f"{prefix}-0-upload_category"] = category
    form[f"{prefix}-0-upload"] = SimpleUploadedFile(name, content)

    response = staff_client.post(f"/admin/patients/patient/{patient.pk}/change/", form)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not File.objects.exists()


def _inline_management(page) -> dict:
    """The management form fields of every inline on an admin change page."""
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            data[f"{inline.formset.prefix}-{name}"] = management[name].value()
    return data


def _upload_prefix(page) -> str:
    return next(f.formset.prefix for f in page.context["inline_admin_formsets"] if f.opts.verbose_name == "new file")


# Oversized forms: answered, never a 500. The client checks CSRF like a browser's: that check reads the body first.


@pytest.fixture
def csrf_client(admin):
    admin.is_staff = True
    admin.save()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    return client


def _record_page_form(client, patient, **uploads) -> tuple[str, dict]:
    url = f"/admin/patients/patient/{patient.pk}/change/"
    page = client.get(url)
    form = {**_inline_management(page), "reg_number": patient.reg_number, "first_name": "A", "last_name": "B"}
    form["csrfmiddlewaretoken"] = page.context["csrf_token"]
    prefix = _upload_prefix(page)
    form[f"{prefix}-0-upload_category"] = "document"
    form[f"{prefix}-0-upload"] = SimpleUploadedFile("scan.png", samples.png_bytes(256, 256))
    return url, {**form, **uploads}


def test_record_page_refuses_a_file_over_the_upload_limit_as_a_form_error(csrf_client, patient, settings, storage):
    settings.FILES_MAX_UPLOAD_SIZE = 100
    url, form = _record_page_form(csrf_client, patient)

    response = csrf_client.post(url, form)

    assert response.status_code == 200
    assert "File is larger than the limit of 100 bytes for document files" in response.content.decode()
    assert not File.objects.exists()
    assert PatientFactory._meta.model.objects.get(pk=patient.pk).first_name == patient.first_name


@pytest.mark.parametrize("page", ["record", "files"])
def test_admin_post_over_the_request_limit_is_400_and_changes_nothing(csrf_client, patient, settings, page):
    settings.FILES_MAX_REQUEST_SIZE = 100
    url, form = _record_page_form(csrf_client, patient)
    if page == "files":
        url = "/admin/files/file/"

    response = csrf_client.post(url, form)

    assert response.status_code == 400
    assert not File.objects.exists()


@pytest.mark.parametrize("limit", ["DATA_UPLOAD_MAX_NUMBER_FIELDS", "DATA_UPLOAD_MAX_NUMBER_FILES"])
def test_admin_form_with_too_many_fields_or_files_is_400(csrf_client, patient, settings, limit):
    setattr(settings, limit, 3)
    extra = {f"x{n}": SimpleUploadedFile(f"{n}.png", samples.png_bytes()) for n in range(5)}
    url, form = _record_page_form(csrf_client, patient, **extra)

    response = csrf_client.post(url, form)

    assert response.status_code == 400
    assert not File.objects.exists()


@pytest.mark.parametrize("limit", ["DATA_UPLOAD_MAX_NUMBER_FIELDS", "DATA_UPLOAD_MAX_NUMBER_FILES"])
def test_api_upload_with_too_many_fields_or_files_is_400(admin, patient, settings, limit):
    setattr(settings, limit, 3)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {admin.auth_token.key}")
    parts = {f"x{n}": "1" for n in range(5)} | {
        "file": [SimpleUploadedFile(f"{n}.png", samples.png_bytes()) for n in range(5)]
    }

    response = client.post(f"/api/patients/{patient.pk}/files/", parts)

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request"}
    assert not File.objects.exists()


def test_record_page_shows_its_files_thumbnails_never_originals(staff_client, png_file):
    file_derivatives_make(file_id=png_file.pk)

    page = staff_client.get(f"/admin/patients/patient/{png_file.entity_id}/change/").content.decode()

    assert f'src="/static/{png_file.entity_id}/{png_file.pk}.thumbnail.webp"' in page
    assert f'src="/static/{png_file.path}"' not in page


@pytest.mark.parametrize("factory", [PatientFactory, DoctorFactory, AppointmentFactory])
def test_record_page_offers_the_resumable_upload_widget_at_the_records_tus_endpoint(staff_client, factory):
    record = factory()
    opts = record._meta

    response = staff_client.get(f"/admin/{opts.app_label}/{opts.model_name}/{record.pk}/change/")

    widget = response.context["upload_widget"]
    assert widget["endpoint"] == f"/api/{opts.model_name}s/{record.pk}/uploads/"
    assert resolve(widget["endpoint"]).func.actions == {"post": "uploads", "options": "uploads"}
    page = response.content.decode()
    assert f'data-endpoint="{widget["endpoint"]}"' in page
    assert '<script type="module" src="/assets/files/upload.js">' in page


def test_record_page_shows_no_upload_widget_to_a_user_who_may_not_upload(client, patient):
    user = UserFactory(role="patient", is_staff=True)  # views their own record and its files, uploads nothing
    patient.user = user
    patient.save()
    client.force_login(user)

    response = client.get(f"/admin/patients/patient/{patient.pk}/change/")

    assert response.status_code == 200
    assert response.context["upload_widget"] is None
    assert "data-files-upload" not in response.content.decode()
    assert "files/upload.js" not in response.content.decode()


def test_widget_uploads_with_the_admins_session_and_the_pages_csrf_token(admin, patient):
    """What upload.js sends: the session cookie, and the page's CSRF token as ``X-CSRFToken`` (else 403)."""
    admin.is_staff = True
    admin.save()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin)
    page = browser.get(f"/admin/patients/patient/{patient.pk}/change/")
    endpoint, token = page.context["upload_widget"]["endpoint"], str(page.context["csrf_token"])
    tus = {"HTTP_TUS_RESUMABLE": "1.0.0", "HTTP_UPLOAD_LENGTH": "10"}

    assert browser.post(endpoint, **tus).status_code == 403
    assert browser.post(endpoint, HTTP_X_CSRFTOKEN=token, **tus).status_code == 201
