"""Thumbnails and previews: made from images, PDFs and Word files, tracked as rows, served like the originals.

Jobs run here without a broker (the quick start's mode: in this process,
once the upload's transaction commits); ``test_jobs.py`` runs them on a real
Celery worker.
"""

import io
import threading
import tracemalloc
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import UploadedFile
from django.core.management import call_command
from PIL import ExifTags, Image

from demo import samples
from files import derivatives
from files.derivatives import file_derivatives_make
from files.models import Derivative, File
from files.reconcile import files_reconcile
from files.services import file_attach, file_delete, file_purge, file_restore
from tests.factories import FileFactory, PatientFactory
from tests.files.pdfs import MiB, Zeros, large_pdf
from tests.files.test_upload import named, upload_url


def stored_names(storage, folder: str = "") -> set[str]:
    try:
        folders, names = storage.listdir(folder)
    except FileNotFoundError:
        return set()
    return {folder + name for name in names}.union(*(stored_names(storage, f"{folder}{sub}/") for sub in folders))


def derivative_blobs(storage) -> set[str]:
    return {name for name in stored_names(storage) if "derivatives/" in name}


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def sideways_jpeg(width: int = 80, height: int = 40) -> bytes:
    """A JPEG stored ``width`` x ``height`` whose EXIF says: turn it a quarter to the right to show it."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def get_file(client, file: File) -> dict:
    return client.get(f"/api/files/{file.pk}/").json()


def test_photo_uploaded_through_the_api_shows_thumbnail_and_preview_urls_without_a_broker(
    admin_client, django_capture_on_commit_callbacks
):
    patient = PatientFactory()
    with django_capture_on_commit_callbacks(execute=True):
        created = admin_client.post(upload_url(patient), {"file": named("photo.jpg", samples.jpeg_bytes(300, 200))})
    file = File.objects.get(pk=created.json()[0]["id"] if isinstance(created.json(), list) else created.json()["id"])

    shown = get_file(admin_client, file)

    assert urlsplit(shown["thumbnail_url"]).path == f"/static/{file.entity_id}/{file.pk}.thumbnail.webp"
    assert urlsplit(shown["preview_url"]).path == f"/static/{file.entity_id}/{file.pk}.preview.webp"
    assert (shown["width"], shown["height"], shown["pages"]) == (300, 200, None)
    assert [shown[name] for name in ("id", "type", "mime_type", "entity_id")] == [
        str(file.pk),
        "document",
        ".jpg",
        str(file.entity_id),
    ]


def test_urls_are_null_while_derivatives_are_not_made(admin_client, png_file):
    shown = get_file(admin_client, png_file)

    assert (shown["thumbnail_url"], shown["preview_url"], shown["width"]) == (None, None, None)


def test_thumbnail_is_upright_fits_its_box_and_carries_no_metadata(storage, patient):
    from tests.files.photos import phone_jpeg

    sideways = FileFactory(owner=patient, name="sideways.jpg", content=sideways_jpeg(800, 400))
    phone = FileFactory(owner=patient, name="phone.jpg", content=phone_jpeg())

    for file in (sideways, phone):
        file_derivatives_make(file_id=file.pk)

    sideways.refresh_from_db()
    assert (sideways.width, sideways.height) == (400, 800)  # as shown, turned upright
    thumbnail = sideways.derivatives.get(variant="thumbnail")
    image = picture(storage.open(thumbnail.storage_name).read())
    assert (image.format, image.size, (thumbnail.width, thumbnail.height)) == ("WEBP", (128, 256), (128, 256))
    assert (sideways.derivatives.get(variant="preview").width, sideways.derivatives.get(variant="preview").height) == (
        400,
        800,
    )  # never enlarged
    for derivative in phone.derivatives.all():
        data = storage.open(derivative.storage_name).read()
        assert not {"exif", "icc_profile", "xmp"} & set(picture(data).info)
        assert b"SN-4711" not in data and b"Phone" not in data


def test_pdf_gets_a_picture_of_page_one_and_its_page_count(storage, patient):
    pdf = FileFactory(owner=patient, name="report.pdf", content=samples.pdf_bytes())

    file_derivatives_make(file_id=pdf.pk)

    pdf.refresh_from_db()
    assert pdf.pages == 1
    thumbnail = pdf.derivatives.get(variant="thumbnail")
    assert thumbnail.state == "ready" and max(thumbnail.width, thumbnail.height) == 256
    assert picture(storage.open(thumbnail.storage_name).read()).format == "WEBP"


LONG = Zeros(24 * MiB)


def test_pdf_picture_reads_only_what_page_one_needs_from_storage(on_local_disk, settings, patient, tmp_path):
    settings.FILES_MAX_UPLOAD_SIZE = 100 * MiB
    # Streams nothing on page 1 shows.
    path = large_pdf(
        tmp_path / "large.pdf",
        {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"}
        | {3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>", 4: LONG, 5: LONG, 6: LONG},
    )
    with open(path, "rb") as handle:
        upload = UploadedFile(handle, "large.pdf", size=path.stat().st_size)
        pdf = file_attach(owner=patient, upload=upload, category="document")

    tracemalloc.start()
    try:
        file_derivatives_make(file_id=pdf.pk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    pdf.refresh_from_db()
    assert pdf.pages == 1
    assert set(pdf.derivatives.values_list("state", flat=True)) == {"ready"}
    assert pdf.size > 72 * MiB
    assert peak < 16 * MiB


def test_word_file_gets_an_icon(patient):
    letter = FileFactory(owner=patient, name="letter.docx", content=samples.docx_bytes())

    file_derivatives_make(file_id=letter.pk)

    assert sorted(letter.derivatives.values_list("variant", "state")) == [("preview", "ready"), ("thumbnail", "ready")]


def test_image_over_the_pixel_limit_is_marked_failed_with_the_reason(settings, patient):
    photo = FileFactory(owner=patient, name="big.png", content=samples.png_bytes(100, 100))
    settings.FILES_MAX_IMAGE_PIXELS = 5_000

    file_derivatives_make(file_id=photo.pk)

    assert {(d.state, d.reason, d.attempts) for d in photo.derivatives.all()} == {
        ("failed", "The image has more than 5000 pixels", 1)
    }


def test_files_derivatives_command_tries_failed_ones_again_only_when_asked(settings, patient, capsys):
    photo = FileFactory(owner=patient, name="big.png", content=samples.png_bytes(100, 100))
    settings.FILES_MAX_IMAGE_PIXELS = 5_000
    file_derivatives_make(file_id=photo.pk)
    settings.FILES_MAX_IMAGE_PIXELS = 50_000

    call_command("files_derivatives")
    assert set(photo.derivatives.values_list("state", flat=True)) == {"failed"}
    call_command("files_derivatives", "--failed")

    assert {(d.state, d.reason, d.attempts) for d in photo.derivatives.all()} == {("ready", "", 2)}
    assert "1/1" in capsys.readouterr().err


def test_files_derivatives_command_makes_missing_ones_in_batches(patient, storage, capsys):
    files = [FileFactory(owner=patient) for _ in range(5)]

    call_command("files_derivatives", "--batch-size", "2")

    assert Derivative.objects.filter(file__in=files, state="ready").count() == 10
    assert "Made the derivatives of 5 file(s)." in capsys.readouterr().out
    call_command("files_derivatives", "--all")
    assert len(derivative_blobs(storage)) == 10  # remade: the old bytes are gone


# serialized_rollback: a transactional test flushes the tables, the role groups of the data migration with them.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_making_the_same_derivative_leave_one_row_and_one_blob(storage, monkeypatch):
    photo = FileFactory(owner=PatientFactory())
    both_encoded = threading.Barrier(2)
    encode = derivatives._encoded

    def encode_then_wait(*args):
        result = encode(*args)
        both_encoded.wait(timeout=10)  # both have their bytes before either publishes
        return result

    monkeypatch.setattr(derivatives, "_encoded", encode_then_wait)
    errors = []

    def worker():
        try:
            file_derivatives_make(file_id=photo.pk)
        except Exception as error:
            errors.append(error)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    rows = list(photo.derivatives.all())
    assert sorted((row.variant, row.state) for row in rows) == [("preview", "ready"), ("thumbnail", "ready")]
    assert derivative_blobs(storage) == {row.storage_name for row in rows}


@pytest.fixture
def made(patient, django_capture_on_commit_callbacks):
    photo = FileFactory(owner=patient)
    file_derivatives_make(file_id=photo.pk)
    return photo


def test_trash_restore_and_purge_take_the_derivatives_along(made, storage, django_capture_on_commit_callbacks):
    live = derivative_blobs(storage)
    assert len(live) == 2

    with django_capture_on_commit_callbacks(execute=True):
        file_delete(file=made)
    assert derivative_blobs(storage) == {"trash/" + name for name in live}

    made.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        file_restore(file=made)
    assert derivative_blobs(storage) == live

    made.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        file_delete(file=made)
    made.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        file_purge(file=made)
    assert derivative_blobs(storage) == set()
    assert not Derivative.objects.filter(file_id=made.pk).exists()


def test_deleting_a_file_without_retention_removes_its_derivatives(
    made, storage, settings, django_capture_on_commit_callbacks
):
    settings.FILES_TRASH_RETENTION_DAYS = 0

    with django_capture_on_commit_callbacks(execute=True):
        file_delete(file=made)

    assert derivative_blobs(storage) == set()


def test_cleanup_keeps_derivatives_and_remakes_missing_ones(made, storage):
    thumbnail = made.derivatives.get(variant="thumbnail")
    storage.delete(thumbnail.storage_name)

    report = files_reconcile(dry_run=False, grace=__import__("datetime").timedelta(0))

    assert report.orphan_blobs == []
    assert report.missing_derivatives == [f"{made.pk} thumbnail ({thumbnail.storage_name})"]
    assert len(derivative_blobs(storage)) == 1
    call_command("files_derivatives")
    assert made.derivatives.get(variant="thumbnail").state == "ready"


def test_files_verify_finds_a_corrupted_thumbnail(made, storage, capsys):
    thumbnail = made.derivatives.get(variant="thumbnail")
    storage.delete(thumbnail.storage_name)
    storage.save(thumbnail.storage_name, io.BytesIO(b"not the thumbnail"))

    with pytest.raises(Exception, match="1 file"):
        call_command("files_verify")

    assert f"corrupted: {thumbnail.pk} ({thumbnail.storage_name})" in capsys.readouterr().out


# --- served like the originals ---------------------------------------------------------------------------------


@pytest.fixture
def urls(made, admin_client):
    shown = get_file(admin_client, made)
    return {name: shown[f"{name}_url"].removeprefix("http://testserver") for name in ("thumbnail", "preview")}


def test_thumbnail_downloads_by_signed_url_on_both_paths_with_validators(fetch, urls, made, storage):
    answer = fetch(urls["thumbnail"])

    assert answer.status == 200
    assert answer.body == storage.open(made.derivatives.get(variant="thumbnail").storage_name).read()
    assert answer["Content-Type"] == "image/webp"
    assert answer["Content-Disposition"].startswith("inline")
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert fetch(urls["thumbnail"], **{"If-None-Match": answer["ETag"]}).status == 304
    partial = fetch(urls["thumbnail"], Range="bytes=0-9")
    assert (partial.status, partial.body) == (206, answer.body[:10])


def test_thumbnail_opens_with_a_token_and_is_audited_as_a_download_of_its_file(fetch, made, admin):
    from files.models import AuditEvent

    answer = fetch(f"/static/{made.entity_id}/{made.pk}.thumbnail.webp", token=admin.auth_token.key)

    assert answer.status == 200
    event = AuditEvent.objects.filter(action="download").latest("id")
    assert (event.file_id, event.status, event.user_id) == (made.pk, 200, str(admin.pk))


def test_a_thumbnail_signature_opens_neither_the_preview_nor_the_original(fetch, urls, made):
    path, query = urls["thumbnail"].split("?")

    for other in (".preview.webp", made.extension, ".thumbnail.jpg"):
        assert fetch(f"{path.rsplit(str(made.pk), 1)[0]}{made.pk}{other}?{query}").status == 403


def test_thumbnail_without_credentials_is_401_and_of_a_trashed_file_404(
    fetch, made, admin, django_capture_on_commit_callbacks
):
    path = f"/static/{made.entity_id}/{made.pk}.thumbnail.webp"
    assert fetch(path).status == 401

    with django_capture_on_commit_callbacks(execute=True):
        file_delete(file=made)

    assert fetch(path, token=admin.auth_token.key).status == 404


def test_a_variant_not_made_is_404(fetch, png_file, admin):
    for ending in (".thumbnail.webp", ".poster.webp"):
        assert fetch(f"/static/{png_file.entity_id}/{png_file.pk}{ending}", token=admin.auth_token.key).status == 404


def test_admin_file_list_shows_thumbnails_never_originals(client, made, admin):
    from django.contrib.auth import get_user_model

    superuser = get_user_model().objects.create_superuser("root", password="x")
    client.force_login(superuser)

    page = client.get("/admin/files/file/").content.decode()

    assert f'src="/static/{made.entity_id}/{made.pk}.thumbnail.webp"' in page
    assert f'src="/static/{made.entity_id}/{made.pk}{made.extension}"' not in page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_upload_answer_without_a_broker_gives_the_photos_size_beside_its_thumbnail(admin_client):
    patient = PatientFactory()

    # Committed for real: without a broker the derivatives are made as the upload commits, before the answer.
    answer = admin_client.post(upload_url(patient), {"file": named("photo.jpg", samples.jpeg_bytes(640, 480))})

    shown = answer.json()
    assert answer.status_code == 201
    assert shown["thumbnail_url"] and shown["preview_url"]
    assert (shown["width"], shown["height"], shown["pages"]) == (640, 480, None)
