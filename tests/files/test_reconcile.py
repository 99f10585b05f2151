"""files_cleanup: the database and storage reconciled, on local disk and S3 (the --storage=s3 run)."""

import logging
import os
import stat
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from files import conf
from files.models import File
from files.reconcile import files_reconcile
from files.services import file_delete
from files.tasks import reconciliation_report
from files.uploads import TEMP_PREFIX, TEMP_SUFFIX, HashingUploadHandler
from patients.models import Patient
from tests.factories import FileFactory, PatientFactory, UserFactory

ORPHAN = "01a22500-0000-7000-8000-000000000000/01a22500-0000-7000-8000-000000000001.png"


def upload_file_left_behind(*, age: timedelta, prefix: str = TEMP_PREFIX, suffix: str = TEMP_SUFFIX) -> Path:
    """A temporary upload file last written ``age`` ago, as a worker killed in the middle of an upload leaves it."""
    folder = conf.upload_temp_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.write(handle, b"half of a patient's scan")
    os.close(handle)
    written = time.time() - age.total_seconds()
    os.utime(name, (written, written))
    return Path(name)


@pytest.fixture
def drift(db, storage, django_capture_on_commit_callbacks):
    """One case of each kind of drift, and one healthy file."""
    healthy = FileFactory()
    storage.save(ORPHAN, ContentFile(b"bytes of an upload that never got its row"))
    misplaced = FileFactory()
    File.all_objects.filter(pk=misplaced.pk).update(deleted_at=timezone.now())  # crashed before its move
    missing = FileFactory()
    storage.delete(missing.storage_name)
    gone_owner = PatientFactory()
    ownerless = FileFactory(owner=gone_owner)
    Patient.objects.filter(pk=gone_owner.pk)._raw_delete(Patient.objects.db)  # behind the ORM's back
    expired = FileFactory()
    with django_capture_on_commit_callbacks(execute=True):
        file_delete(file=expired)
    File.all_objects.filter(pk=expired.pk).update(deleted_at=timezone.now() - timedelta(days=90))
    stale_upload = upload_file_left_behind(age=timedelta(hours=2))
    return {
        "healthy": healthy,
        "misplaced": misplaced,
        "missing": missing,
        "ownerless": ownerless,
        "expired": expired,
        "stale_upload": stale_upload,
    }


def expected_report(drift) -> dict:
    return {
        "orphan_blobs": [ORPHAN],
        "misplaced_blobs": [drift["misplaced"].storage_name],
        "missing_blobs": [f"{drift['missing'].pk} ({drift['missing'].storage_name})"],
        "ownerless_files": [str(drift["ownerless"].pk)],
        "expired_trash": [str(drift["expired"].pk)],
        "expired_exports": [],
        "stale_upload_files": [drift["stale_upload"].name],
        "missing_derivatives": [],
        "stale_multipart_uploads": [],
        "expired_resumable_uploads": [],
        "expired_direct_uploads": [],
        "stale_incoming_objects": [],
        "failed": [],
    }


def test_dry_run_reports_each_drift_exactly_and_changes_nothing(drift, storage):
    report = files_reconcile(dry_run=True, grace=timedelta(0))

    assert vars(report) == expected_report(drift)
    assert storage.exists(ORPHAN)
    assert File.objects.filter(pk=drift["ownerless"].pk).exists()
    assert File.all_objects.filter(pk=drift["expired"].pk).exists()
    assert drift["stale_upload"].exists()


def test_cleanup_repairs_what_it_can(drift, storage, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        files_reconcile(dry_run=False, grace=timedelta(0))

    assert not storage.exists(ORPHAN)
    assert storage.exists(drift["misplaced"].trash_name)
    assert File.all_objects.filter(pk=drift["missing"].pk).exists()  # reported, never deleted
    assert File.all_objects.get(pk=drift["ownerless"].pk).deleted_at is not None
    assert not File.all_objects.filter(pk=drift["expired"].pk).exists()
    assert storage.exists(drift["healthy"].storage_name)
    assert not drift["stale_upload"].exists()
    with django_capture_on_commit_callbacks(execute=True):
        second = files_reconcile(dry_run=True, grace=timedelta(0))
    assert vars(second) == {
        **{key: [] for key in vars(second)},
        "missing_blobs": expected_report(drift)["missing_blobs"],
    }


def test_young_orphans_are_left_alone(storage, db):
    storage.save(ORPHAN, ContentFile(b"an upload in flight"))

    report = files_reconcile(dry_run=False, grace=timedelta(hours=1))

    assert report.orphan_blobs == []
    assert storage.exists(ORPHAN)


def test_command_prints_each_action_and_a_summary(drift, capsys):
    call_command("files_cleanup", "--dry-run", "--grace-hours=0")

    out = capsys.readouterr().out
    assert f"would remove orphan bytes: {ORPHAN}" in out
    assert f"would remove temporary upload file left by a killed worker: {drift['stale_upload'].name}" in out
    assert out.strip().endswith(
        "Dry run: 1 orphan blobs, 1 misplaced blobs, 1 missing blobs, 1 ownerless files, 1 expired trash, "
        "0 expired exports, 1 stale upload files, 0 missing derivatives, 0 stale multipart uploads, "
        "0 expired resumable uploads, 0 expired direct uploads, 0 stale incoming objects, 0 failed."
    )
    assert drift["stale_upload"].exists()


def test_reconcile_on_empty_storage(db):
    assert vars(files_reconcile(dry_run=True)) == {
        "orphan_blobs": [],
        "misplaced_blobs": [],
        "missing_blobs": [],
        "ownerless_files": [],
        "expired_trash": [],
        "expired_exports": [],
        "stale_upload_files": [],
        "missing_derivatives": [],
        "stale_multipart_uploads": [],
        "expired_resumable_uploads": [],
        "expired_direct_uploads": [],
        "stale_incoming_objects": [],
        "failed": [],
    }


def test_admin_page_shows_the_dry_run_and_repairs_on_post(client, drift, storage, django_capture_on_commit_callbacks):
    client.force_login(UserFactory(role="admin", is_staff=True))

    page = client.get("/admin/files/file/cleanup/")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/files/file/cleanup/")

    assert page.status_code == 200
    assert "A dry run" in page.content.decode()
    assert str(drift["ownerless"].pk) in page.content.decode()
    assert drift["stale_upload"].name in page.content.decode()
    assert File.all_objects.get(pk=drift["ownerless"].pk).deleted_at is not None
    assert not drift["stale_upload"].exists()


def test_admin_page_needs_the_delete_permission(client, db):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_file"))
    client.force_login(viewer)

    assert client.get("/admin/files/file/cleanup/").status_code == 403


def test_ownerless_file_on_legal_hold_is_left_alone(db, storage, django_capture_on_commit_callbacks):
    gone_owner = PatientFactory()
    held = FileFactory(owner=gone_owner)
    File.objects.filter(pk=held.pk).update(legal_hold=True)
    Patient.objects.filter(pk=gone_owner.pk)._raw_delete(Patient.objects.db)

    with django_capture_on_commit_callbacks(execute=True):
        report = files_reconcile(dry_run=False, grace=timedelta(0))

    assert report.ownerless_files == []
    assert File.objects.get(pk=held.pk).deleted_at is None
    assert storage.exists(held.storage_name)


# Temporary upload files


def test_uploads_stream_to_the_services_own_folder_created_private_if_missing(settings, tmp_path):
    settings.FILES_UPLOAD_TEMP_DIR = tmp_path / "missing" / "uploads"
    handler = HashingUploadHandler()
    handler.new_file("file", "scan.png", "image/png", 10)
    handler.receive_data_chunk(b"0123456789", 0)

    path = Path(handler.file.temporary_file_path())

    assert path.parent == tmp_path / "missing" / "uploads"
    assert path.name.startswith(TEMP_PREFIX) and path.name.endswith(TEMP_SUFFIX)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    handler.file.close()


def test_cleanup_removes_only_stale_upload_files_and_counts_them(db):
    stale = [upload_file_left_behind(age=timedelta(hours=hours)) for hours in (2, 30)]
    young = upload_file_left_behind(age=timedelta(minutes=50))
    not_ours = [
        upload_file_left_behind(age=timedelta(hours=2), prefix="notes-"),
        upload_file_left_behind(age=timedelta(hours=2), suffix=".txt"),
    ]

    report = files_reconcile(dry_run=False)

    assert sorted(report.stale_upload_files) == sorted(path.name for path in stale)
    assert report.summary()["stale upload files"] == 2
    assert [path.exists() for path in (*stale, young, *not_ours)] == [False, False, True, True, True]


def test_cleanup_leaves_the_file_of_an_upload_in_progress_alone(db):
    handler = HashingUploadHandler()
    handler.new_file("file", "scan.png", "image/png", 10)
    handler.receive_data_chunk(b"01234", 0)

    report = files_reconcile(dry_run=False)
    handler.receive_data_chunk(b"56789", 5)

    assert report.stale_upload_files == []
    handler.file.seek(0)
    assert handler.file.read() == b"0123456789"
    handler.file.close()


def test_dry_run_only_reports_stale_upload_files(db):
    stale = upload_file_left_behind(age=timedelta(hours=2))

    assert files_reconcile(dry_run=True).stale_upload_files == [stale.name]
    assert stale.exists()


def test_cleanup_without_the_upload_folder_reports_nothing(db, settings, tmp_path):
    settings.FILES_UPLOAD_TEMP_DIR = tmp_path / "never-made"

    assert files_reconcile(dry_run=False).stale_upload_files == []


def upload_cut_off(storage, name: str) -> str:
    """A multipart upload of ``name`` started with one part sent, then never completed: an upload cut mid-way."""
    client = storage.connection.meta.client
    key = storage.key(name)
    upload = client.create_multipart_upload(Bucket=storage.bucket_name, Key=key)
    client.upload_part(
        Bucket=storage.bucket_name, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 5 * 1024 * 1024
    )
    return upload["UploadId"]


def incomplete_upload_ids(storage) -> list[str]:
    return [upload.upload_id for upload in storage.incomplete_uploads()]


def test_cleanup_aborts_a_stale_incomplete_multipart_upload_on_s3_and_reports_it(on_s3, storage, db, capsys):
    upload_cut_off(storage, ORPHAN)
    assert len(incomplete_upload_ids(storage)) == 1

    call_command("files_cleanup", "--grace-hours=0")

    out = capsys.readouterr().out
    assert f"did abort incomplete multipart upload: {ORPHAN} (started " in out
    assert out.strip().endswith(
        "1 stale multipart uploads, 0 expired resumable uploads, 0 expired direct uploads, 0 stale incoming objects, "
        "0 failed."
    )
    assert incomplete_upload_ids(storage) == []


def test_cleanup_leaves_a_multipart_upload_younger_than_the_grace_period_alone(on_s3, storage, db):
    upload_id = upload_cut_off(storage, ORPHAN)
    # The test server says every upload started on 2010-11-10 (moto's fixed value): a grace reaching back
    # further makes this one young.
    grace = timezone.now() - datetime(2010, 1, 1, tzinfo=UTC)

    report = files_reconcile(dry_run=False, grace=grace)

    assert report.stale_multipart_uploads == []
    assert incomplete_upload_ids(storage) == [upload_id]


def test_dry_run_only_reports_stale_multipart_uploads(on_s3, storage, db):
    upload_id = upload_cut_off(storage, ORPHAN)

    report = files_reconcile(dry_run=True, grace=timedelta(0))

    assert [item.split(" (")[0] for item in report.stale_multipart_uploads] == [ORPHAN]
    assert incomplete_upload_ids(storage) == [upload_id]


def test_daily_report_task_counts_the_drift_past_a_day_and_repairs_nothing(drift, storage, caplog):
    with caplog.at_level(logging.INFO, logger="files.tasks"):
        result = reconciliation_report.apply()

    # The default grace (a day) leaves the young orphan out: its upload may still be in flight.
    counts = {name: 0 for name in result.result}
    assert result.successful()
    assert result.result == {
        **counts,
        "misplaced blobs": 1,
        "missing blobs": 1,
        "ownerless files": 1,
        "expired trash": 1,
        "stale upload files": 1,
    }
    assert [record.report for record in caplog.records if record.msg == "reconciliation report"] == [result.result]
    assert storage.exists(ORPHAN)
    assert File.objects.filter(pk=drift["ownerless"].pk).exists()
    assert File.all_objects.filter(pk=drift["expired"].pk).exists()
    assert File.all_objects.get(pk=drift["misplaced"].pk).storage_name == drift["misplaced"].storage_name
    assert drift["stale_upload"].exists()
