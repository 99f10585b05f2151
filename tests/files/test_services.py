"""The write services: all or nothing, bytes before rows, rows gone before bytes."""

import hashlib
import os

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from demo import samples
from files.exceptions import FileRejected, FileTooLarge, StorageUnavailable
from files.models import File
from files.services import clean_file_name, file_attach, file_delete, files_attach


class Boom(Exception):
    pass


def upload(name="photo.png", content=None):
    return SimpleUploadedFile(name, samples.png_bytes() if content is None else content)


def stored_names(storage, entity_id) -> list[str]:
    """The files stored under a record's folder, on any storage (an S3 prefix "exists" only as its objects' start)."""
    try:
        return storage.listdir(str(entity_id))[1]
    except FileNotFoundError:  # local disk: the record has no folder yet
        return []


def test_attach_stores_bytes_under_entity_and_file_id(patient, storage, admin):
    file = file_attach(owner=patient, upload=upload(), category="profile", uploaded_by=admin)

    assert file.storage_name == f"{patient.pk}/{file.pk}.png"
    assert storage.open(file.storage_name).read() == samples.png_bytes()
    assert (file.entity, file.category, file.uploaded_by) == (patient, "profile", admin)
    assert (file.extension, file.media_type, file.size) == (".png", "image/png", len(samples.png_bytes()))


def test_attach_records_sha256_of_the_bytes(patient):
    file = file_attach(owner=patient, upload=upload(), category="image")

    assert file.sha256 == hashlib.sha256(samples.png_bytes()).hexdigest()


def test_attach_ids_are_uuid7_and_time_ordered(patient):
    first = file_attach(owner=patient, upload=upload(), category="image")
    second = file_attach(owner=patient, upload=upload(), category="image")

    assert first.pk.version == 7
    assert first.pk < second.pk


def test_attach_many_is_all_or_nothing_when_one_is_rejected(patient, storage):
    with pytest.raises(FileRejected):
        files_attach(owner=patient, uploads=[upload(), upload("notes.txt", b"plain text")], category="document")

    assert not File.objects.exists()
    assert stored_names(storage, patient.pk) == []


def test_attach_removes_written_bytes_when_the_insert_fails(patient, storage, monkeypatch):
    # Stand-in for a database failure after the bytes are written (a broken connection, a constraint).
    def failing_bulk_create(*args, **kwargs):
        raise Boom

    monkeypatch.setattr(File.objects, "bulk_create", failing_bulk_create)

    with pytest.raises(Boom):
        files_attach(owner=patient, uploads=[upload(), upload()], category="document")

    assert stored_names(storage, patient.pk) == []


def test_attach_rejects_unknown_category(patient, storage):
    with pytest.raises(ValueError, match="category"):
        file_attach(owner=patient, upload=upload(), category="selfie")

    assert stored_names(storage, patient.pk) == []


def test_attach_rejects_file_over_the_limit(patient, settings):
    settings.FILES_MAX_UPLOAD_SIZE = 10

    with pytest.raises(FileTooLarge):
        file_attach(owner=patient, upload=upload(), category="document")


def test_delete_moves_the_bytes_out_of_reach_before_it_commits(png_file, storage, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        file_delete(file=png_file)
        assert not storage.exists(png_file.storage_name)

    assert callbacks == []  # nothing waits for the commit: there is nothing left to do
    assert not File.objects.filter(pk=png_file.pk).exists()
    assert storage.exists(png_file.trash_name)


def test_delete_rolled_back_by_the_caller_keeps_the_row_and_the_bytes_out_of_reach(
    png_file, storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom), transaction.atomic():
        file_delete(file=png_file)
        raise Boom

    assert callbacks == []
    assert File.objects.filter(pk=png_file.pk).exists()
    assert (storage.exists(png_file.storage_name), storage.exists(png_file.trash_name)) == (False, True)


def test_delete_of_a_deleted_file_raises_does_not_exist(png_file):
    file_delete(file=png_file)

    with pytest.raises(File.DoesNotExist):
        file_delete(file=png_file)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\Users\\me\\scan.PNG", "scan.PNG"),
        ("invoice.exe", "invoice.png"),
        ("scan.pdf", "scan.png"),
        ("blob", "blob.png"),
        ("Dr. Smith letter", "Dr. Smith letter.png"),
        ("photo.png.exe", "photo.png.png"),
        ("evil\u202egnp.exe.png", "evilgnp.exe.png"),
        ("line\r\nbreak.png", "linebreak.png"),
        ("  spaced   out .png ", "spaced out .png"),
        ("", "file.png"),
        ("...", "file.png"),
        ("a" * 300 + ".png", "a" * 251 + ".png"),
    ],
)
def test_clean_file_name(name, expected):
    assert clean_file_name(name, ".png") == expected


class DiskFullStorage(FileSystemStorage):
    """Stands in for a disk that fills up half-way through a write (which cannot be caused here safely)."""

    def _save(self, name, content):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as partial:
            partial.write(content.read(100))
        raise OSError(28, "No space left on device")


def test_storage_failing_mid_upload_leaves_no_row_and_no_partial_bytes(patient, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.files.test_services.DiskFullStorage", "OPTIONS": {"location": tmp_path / "full"}},
    }

    with pytest.raises(StorageUnavailable, match="No space left"):
        file_attach(owner=patient, upload=upload(), category="image")

    assert not File.objects.exists()
    assert [path for path in (tmp_path / "full").rglob("*") if path.is_file()] == []
