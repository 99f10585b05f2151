"""A delete, restore or purge is whole or nothing, and no worker serves a file whose row left.

Storage refuses for real: on local disk its folders are made immutable
(``chattr +i``: the tests run as root, who ignores permissions but not that
attribute); on S3 the storage is pointed at a loopback port where nothing
listens, as a store that stopped answering (the bucket and bytes stay on the
suite's local S3 server).
"""

import io
import logging
import subprocess
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client

from demo import samples
from files.exceptions import StorageUnavailable
from files.models import AuditEvent, File
from files.reconcile import files_reconcile
from files.services import file_delete, file_purge, file_restore, owner_delete
from tests.conftest import closed_port
from tests.factories import FileFactory
from tests.wsgi import wsgi_request

UNAVAILABLE = {"detail": "File storage is unavailable, try again later"}


@pytest.fixture(params=["local disk", "s3"])
def where(request):
    """Each test runs on local disk and on the suite's S3 server."""
    request.getfixturevalue("on_local_disk" if request.param == "local disk" else "on_s3")
    return request.param


@pytest.fixture
def refusing(where, settings):
    """``with refusing(file):`` storage refuses every write around ``file``: into, out of and within the trash."""

    @contextmanager
    def on_local_disk(file):
        root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
        folders = [root / "trash", root / "trash" / str(file.entity_id), root / str(file.entity_id)]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["chattr", "+i", *folders], check=True)  # noqa: S603, S607 (fixed arguments)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *folders], check=True)  # noqa: S603, S607

    return on_local_disk if where == "local disk" else (lambda file: s3_unreachable(settings))


@contextmanager
def s3_unreachable(settings):
    """The same bucket and prefix, reached at a loopback port where nothing listens: a store that stopped."""
    working = settings.STORAGES
    backend = working["default"]
    unreachable = {**backend["OPTIONS"], "endpoint_url": f"http://127.0.0.1:{closed_port()}"}
    settings.STORAGES = {**working, "default": {**backend, "OPTIONS": unreachable}}
    try:
        yield
    finally:
        settings.STORAGES = working


@pytest.fixture
def live_file(where, patient):
    return FileFactory(owner=patient, name="photo.png")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def row(file) -> File:
    return File.all_objects.get(pk=file.pk)


def served(file, user) -> int:
    return wsgi_request(f"/static/{file.path}", headers={"Authorization": f"Token {user.auth_token.key}"}).status


def test_a_delete_storage_refuses_answers_503_and_changes_nothing(
    admin, admin_client, live_file, storage, refusing, commit
):
    assert served(live_file, admin) == 200  # every cache of the download path warm

    with refusing(live_file), commit():
        response = admin_client.delete(f"/static/delete_file/{live_file.id}")

    assert (response.status_code, response.json(), response["Retry-After"]) == (503, UNAVAILABLE, "5")
    assert row(live_file).deleted_at is None
    assert (storage.exists(live_file.storage_name), storage.exists(live_file.trash_name)) == (True, False)
    deletes = AuditEvent.objects.filter(action="delete", file_id=live_file.pk)
    assert [(event.outcome, event.status) for event in deletes] == [("refused", 503)]
    assert served(live_file, admin) == 200


def test_a_deleted_file_is_no_longer_served_by_a_warm_worker(admin, admin_client, live_file, commit):
    assert served(live_file, admin) == 200

    with commit():
        assert admin_client.delete(f"/static/delete_file/{live_file.id}").status_code == 200

    assert served(live_file, admin) == 404


def test_a_restore_storage_refuses_raises_and_changes_nothing(admin, live_file, storage, refusing, commit):
    with commit():
        file_delete(file=live_file, deleted_by=admin)

    with refusing(live_file), commit(), pytest.raises(StorageUnavailable):
        file_restore(file=row(live_file), restored_by=admin)

    assert row(live_file).deleted_at is not None
    assert (storage.exists(live_file.storage_name), storage.exists(live_file.trash_name)) == (False, True)
    assert not AuditEvent.objects.filter(action="restore").exists()
    assert served(live_file, admin) == 404


def test_a_purge_whose_erasure_storage_refuses_is_logged_and_cleanup_erases_the_bytes(
    admin, live_file, storage, refusing, commit, caplog
):
    with commit():
        file_delete(file=live_file, deleted_by=admin)

    with refusing(live_file), commit(), caplog.at_level(logging.ERROR):
        file_purge(file=row(live_file), purged_by=admin)

    assert not File.all_objects.filter(pk=live_file.pk).exists()
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == [
        f"could not erase {live_file.trash_name} after its file was removed: files_cleanup removes it"
    ]
    assert storage.exists(live_file.trash_name)  # out of reach: no row, and never served from the trash
    report = files_reconcile(dry_run=False, grace=timedelta(0))
    assert report.orphan_blobs == [live_file.trash_name]
    assert not storage.exists(live_file.trash_name)


def test_a_record_deletion_refused_at_its_second_file_moves_the_first_one_back(
    admin, on_local_disk, patient, storage, settings, commit
):
    first, second = FileFactory(owner=patient, name="a.png"), FileFactory(owner=patient, name="b.png")
    # The second file's name in the trash is taken by a folder that is not empty: the rename is refused.
    taken = Path(settings.STORAGES["default"]["OPTIONS"]["location"]) / second.trash_name
    (taken / "kept").mkdir(parents=True)

    with commit(), pytest.raises(StorageUnavailable):
        owner_delete(owner=patient, deleted_by=admin)

    assert type(patient).objects.filter(pk=patient.pk).exists()
    assert [row(file).deleted_at for file in (first, second)] == [None, None]
    assert [storage.exists(file.storage_name) for file in (first, second)] == [True, True]
    assert not storage.exists(first.trash_name)
    assert not AuditEvent.objects.filter(action="delete", outcome="allowed").exists()


def test_a_record_deletion_on_an_unreachable_s3_changes_nothing(admin, on_s3, patient, settings, storage, commit):
    files = [FileFactory(owner=patient), FileFactory(owner=patient)]

    with s3_unreachable(settings), commit(), pytest.raises(StorageUnavailable):
        owner_delete(owner=patient, deleted_by=admin)

    assert type(patient).objects.filter(pk=patient.pk).exists()
    assert [row(file).deleted_at for file in files] == [None, None]
    assert [storage.exists(file.storage_name) for file in files] == [True, True]


def test_an_outage_of_s3_answers_a_download_503_with_retry_after(admin, on_s3, patient, settings, fetch):
    live_file = FileFactory(owner=patient)
    with s3_unreachable(settings):
        response = fetch(f"/static/{live_file.path}", token=admin.auth_token.key)

    assert (response.status, response["Retry-After"]) == (503, "5")
    assert response.body == b'{"detail": "File storage is unavailable, try again later"}'


def test_a_row_trashed_behind_the_bytes_back_is_not_served_past_the_auth_cache_time(
    admin, live_file, settings, storage
):
    # What a rollback files.services cannot see (the caller's own transaction around a restore) could leave.
    settings.FILES_AUTH_CACHE_SECONDS = 0.3
    assert served(live_file, admin) == 200
    File.objects.filter(pk=live_file.pk).update(deleted_at=row(live_file).created_at)
    assert storage.exists(live_file.storage_name)

    time.sleep(0.4)

    assert served(live_file, admin) == 404


def test_an_upload_storage_refuses_answers_503_and_stores_nothing(admin_client, patient, where, refusing):
    probe = FileFactory(owner=patient)  # only makes the record's folder exist, to be made immutable

    with refusing(probe):
        response = admin_client.post(
            f"/api/patients/{patient.pk}/files/", {"file": _png("new.png")}, format="multipart"
        )

    assert (response.status_code, response.json(), response["Retry-After"]) == (503, UNAVAILABLE, "5")
    assert list(File.objects.values_list("pk", flat=True)) == [probe.pk]


def test_an_admin_page_storage_refuses_answers_503_not_500(admin, live_file, refusing, commit):
    admin.is_staff = True
    admin.save()
    client = Client(raise_request_exception=False)
    client.force_login(admin)

    with refusing(live_file), commit():
        response = client.post(f"/admin/files/file/{live_file.pk}/delete/", {"post": "yes"})

    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert row(live_file).deleted_at is None


def _png(name: str) -> io.BytesIO:
    part = io.BytesIO(samples.png_bytes())
    part.name = name
    return part
