"""Trash, restore, purge and legal hold: a deleted file is gone for users, recoverable for operators."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from files.exceptions import FileNotRestorable, FileOnHold
from files.models import File
from files.reconcile import files_reconcile
from files.services import file_delete, file_purge, file_restore, files_purge_expired, owner_delete
from files.tasks import purge_expired_trash
from tests.factories import FileFactory, UserFactory


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """``with commit():`` runs what waits for the transaction's commit, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def trashed(file) -> File:
    return File.all_objects.get(pk=file.pk)


def test_deleted_file_is_unreachable_but_kept_in_the_trash(admin_client, png_file, storage, commit, admin):
    with commit():
        assert admin_client.delete(f"/static/delete_file/{png_file.id}").status_code == 200

    assert admin_client.get(f"/static/{png_file.path}").status_code == 404
    assert admin_client.get(f"/api/files/{png_file.id}/").status_code == 404
    assert admin_client.get(f"/api/patients/{png_file.entity_id}/").json()["files"] == []
    assert not storage.exists(png_file.storage_name)
    assert storage.exists(png_file.trash_name)
    assert trashed(png_file).deleted_by == admin


def test_restore_brings_the_file_back(admin_client, png_file, storage, commit):
    with commit():
        file_delete(file=png_file)

    with commit():
        file_restore(file=trashed(png_file))

    assert admin_client.get(f"/static/{png_file.path}").status_code == 200
    assert File.objects.filter(pk=png_file.pk).exists()
    assert not storage.exists(png_file.trash_name)


def test_restore_of_a_live_file_is_refused(png_file):
    with pytest.raises(FileNotRestorable, match="not in the trash"):
        file_restore(file=png_file)


def test_restore_after_the_record_was_deleted_is_refused(png_file, commit, admin):
    with commit():
        owner_delete(owner=png_file.entity, deleted_by=admin)

    with pytest.raises(FileNotRestorable, match="no longer exists"):
        file_restore(file=trashed(png_file))


def test_purge_removes_row_and_trashed_bytes(png_file, storage, commit):
    with commit():
        file_delete(file=png_file)

    with commit():
        file_purge(file=trashed(png_file))

    assert not File.all_objects.filter(pk=png_file.pk).exists()
    assert not storage.exists(png_file.trash_name)


def test_purge_of_a_live_file_is_refused(png_file, storage):
    with pytest.raises(File.DoesNotExist):
        file_purge(file=png_file)

    assert storage.exists(png_file.storage_name)


def test_no_retention_deletes_at_once(png_file, storage, settings, commit):
    settings.FILES_TRASH_RETENTION_DAYS = 0

    with commit():
        file_delete(file=png_file)

    assert not File.all_objects.filter(pk=png_file.pk).exists()
    assert not storage.exists(png_file.storage_name)
    assert not storage.exists(png_file.trash_name)


def test_delete_rolled_back_by_the_callers_transaction_leaves_the_file_live_and_cleanup_brings_its_bytes_back(
    png_file, storage, commit
):
    # The bytes left the live name inside the delete's own transaction, which committed into the caller's:
    # its rollback restores the row, and the bytes stay out of reach (never the other way round).
    with commit(), pytest.raises(RuntimeError), transaction.atomic():
        file_delete(file=png_file)
        raise RuntimeError

    assert File.objects.filter(pk=png_file.pk).exists()
    assert (storage.exists(png_file.storage_name), storage.exists(png_file.trash_name)) == (False, True)

    report = files_reconcile(dry_run=False)

    assert report.misplaced_blobs == [png_file.trash_name]
    assert (storage.exists(png_file.storage_name), storage.exists(png_file.trash_name)) == (True, False)


def test_purge_job_removes_only_expired_trash_not_on_hold(patient, settings, commit):
    settings.FILES_TRASH_RETENTION_DAYS = 30
    old, recent, held = (FileFactory(owner=patient) for _ in range(3))
    with commit():
        for file in (old, recent, held):
            file_delete(file=file)
    File.all_objects.filter(pk__in=[old.pk, held.pk]).update(deleted_at=timezone.now() - timedelta(days=31))
    File.all_objects.filter(pk=held.pk).update(legal_hold=True)

    with commit():
        purged = files_purge_expired()

    assert purged == 1
    assert set(File.all_objects.values_list("pk", flat=True)) == {recent.pk, held.pk}


def test_purge_command_reports_what_it_did(patient, commit, capsys):
    file = FileFactory(owner=patient)
    with commit():
        file_delete(file=file)
    File.all_objects.filter(pk=file.pk).update(deleted_at=timezone.now() - timedelta(days=365))

    with commit():
        call_command("files_purge")

    assert "Purged 1 file(s) deleted more than 30 day(s) ago." in capsys.readouterr().out


def test_file_on_legal_hold_cannot_be_deleted(admin_client, png_file, storage):
    File.objects.filter(pk=png_file.pk).update(legal_hold=True)

    response = admin_client.delete(f"/static/delete_file/{png_file.id}")

    assert response.status_code == 409
    assert response.json() == {"detail": "The file is under legal hold"}
    assert storage.exists(png_file.storage_name)


def test_record_on_legal_hold_keeps_its_files_and_itself(admin_client, png_file, storage):
    patient = png_file.entity
    patient.legal_hold = True
    patient.save()

    file_response = admin_client.delete(f"/static/delete_file/{png_file.id}")
    record_response = admin_client.delete(f"/api/patients/{patient.pk}/")

    assert (file_response.status_code, record_response.status_code) == (409, 409)
    assert record_response.json() == {"detail": "The record is under legal hold"}
    assert File.objects.filter(pk=png_file.pk).exists()
    assert type(patient).objects.filter(pk=patient.pk).exists()


def test_record_delete_puts_its_files_in_the_trash(admin_client, png_file, storage, commit):
    with commit():
        assert admin_client.delete(f"/api/patients/{png_file.entity_id}/").status_code == 204

    assert trashed(png_file).deleted_at is not None
    assert storage.exists(png_file.trash_name)


@pytest.fixture
def staff_client(client, db):
    user = UserFactory(role="admin", is_staff=True)
    client.force_login(user)
    return client


def test_admin_lists_the_trash_and_restores_from_it(staff_client, png_file, storage, commit):
    with commit():
        file_delete(file=png_file)

    listing = staff_client.get("/admin/files/file/", {"state": "trashed"})
    with commit():
        staff_client.post("/admin/files/file/", {"action": "restore_selected", "_selected_action": [str(png_file.pk)]})

    assert png_file.name in listing.content.decode()
    assert File.objects.filter(pk=png_file.pk).exists()
    assert storage.exists(png_file.storage_name)


def test_admin_purges_from_the_trash(staff_client, png_file, storage, commit):
    with commit():
        file_delete(file=png_file)

    with commit():
        staff_client.post("/admin/files/file/", {"action": "purge_selected", "_selected_action": [str(png_file.pk)]})

    assert not File.all_objects.filter(pk=png_file.pk).exists()
    assert not storage.exists(png_file.trash_name)


def test_admin_hold_blocks_deletion(staff_client, png_file):
    staff_client.post("/admin/files/file/", {"action": "hold_selected", "_selected_action": [str(png_file.pk)]})

    response = staff_client.post(f"/admin/files/file/{png_file.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert File.objects.get(pk=png_file.pk).legal_hold


def test_hold_check_names_the_rule(png_file):
    File.objects.filter(pk=png_file.pk).update(legal_hold=True)

    with pytest.raises(FileOnHold, match="legal hold"):
        file_delete(file=File.objects.get(pk=png_file.pk))


def test_record_with_a_file_on_hold_cannot_be_deleted(admin_client, png_file):
    File.objects.filter(pk=png_file.pk).update(legal_hold=True)

    response = admin_client.delete(f"/api/patients/{png_file.entity_id}/")

    assert response.status_code == 409
    assert response.json() == {"detail": "A file of the record is under legal hold"}
    assert File.objects.filter(pk=png_file.pk).exists()


def test_daily_purge_task_purges_expired_trash_and_leaves_held_and_recent_files(patient, commit, storage):
    old, recent, held = (FileFactory(owner=patient) for _ in range(3))
    with commit():
        for file in (old, recent, held):
            file_delete(file=file)
    File.all_objects.filter(pk__in=[old.pk, held.pk]).update(deleted_at=timezone.now() - timedelta(days=31))
    File.all_objects.filter(pk=held.pk).update(legal_hold=True)

    with commit():
        result = purge_expired_trash.apply()

    assert result.successful() and result.result == 1
    assert set(File.all_objects.values_list("pk", flat=True)) == {recent.pk, held.pk}
    assert not storage.exists(old.trash_name)
    assert storage.exists(held.trash_name)


def test_daily_purge_task_run_twice_purges_nothing_more(patient, commit):
    file = FileFactory(owner=patient)
    with commit():
        file_delete(file=file)
    File.all_objects.filter(pk=file.pk).update(deleted_at=timezone.now() - timedelta(days=365))

    with commit():
        first, second = purge_expired_trash.apply().result, purge_expired_trash.apply().result

    assert (first, second) == (1, 0)
