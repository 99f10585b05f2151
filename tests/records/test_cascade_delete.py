"""Deleting a record deletes its files: the rows with the record, the bytes once the deletion commits."""

import pytest
from django.db import transaction

from demo import samples
from files.exceptions import UnattributedDelete
from files.models import File
from files.reconcile import files_reconcile
from files.services import file_delete, owner_delete
from tests.factories import AppointmentFactory, FileFactory
from tests.records.conftest import APPOINTMENTS, DOCTORS, PATIENTS


class Boom(Exception):
    """Raised to roll a transaction back."""


@pytest.fixture
def owned_files(record):
    """Three files of ``record``, of different kinds."""
    return [
        FileFactory(owner=record, name="photo.png"),
        FileFactory(owner=record, name="report.pdf", content=samples.pdf_bytes()),
        FileFactory(owner=record, name="letter.docx", content=samples.docx_bytes()),
    ]


def _exist(storage, files) -> list[bool]:
    return [storage.exists(file.storage_name) for file in files]


def _rows(files) -> int:
    return File.objects.filter(pk__in=[file.pk for file in files]).count()


def test_delete_record_returns_204_and_deletes_its_file_rows(admin_client, record_type, record, owned_files):
    response = admin_client.delete(record_type.detail_url(record.pk))

    assert response.status_code == 204
    assert _rows(owned_files) == 0
    assert not record_type.model.objects.filter(pk=record.pk).exists()


def test_delete_record_moves_its_bytes_to_the_trash_with_the_rows(
    admin_client, record_type, record, owned_files, storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.delete(record_type.detail_url(record.pk))

    assert response.status_code == 204
    assert _rows(owned_files) == 0
    assert callbacks == []  # nothing waits for the commit
    assert _exist(storage, owned_files) == [False, False, False]
    assert [storage.exists(file.trash_name) for file in owned_files] == [True, True, True]


def test_delete_record_leaves_other_records_files_alone(
    admin_client, record_type, record, owned_files, storage, django_capture_on_commit_callbacks
):
    others = [FileFactory(owner=other_type.factory()) for other_type in (PATIENTS, DOCTORS, APPOINTMENTS)]
    sibling = FileFactory(owner=record_type.factory())
    others.append(sibling)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.delete(record_type.detail_url(record.pk))

    assert _rows(others) == len(others)
    assert _exist(storage, others) == [True] * len(others)
    assert admin_client.get(record_type.detail_url(sibling.entity_id)).json()["files"][0]["id"] == str(sibling.pk)


def test_deleted_files_are_no_longer_served(
    admin_client, record_type, record, owned_files, django_capture_on_commit_callbacks
):
    url = admin_client.get(record_type.detail_url(record.pk)).json()["files"][0]["url"]
    assert admin_client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.delete(record_type.detail_url(record.pk))

    response = admin_client.get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


def test_deletion_rolled_back_by_the_caller_keeps_rows_and_cleanup_brings_the_bytes_back(
    record_type, record, owned_files, storage, django_capture_on_commit_callbacks, admin
):
    pk = record.pk
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom), transaction.atomic():
        owner_delete(owner=record, deleted_by=admin)
        assert _rows(owned_files) == 0  # deleted inside the transaction...
        raise Boom

    assert callbacks == []
    assert record_type.model.objects.filter(pk=pk).exists()
    assert _rows(owned_files) == len(owned_files)  # ...and back after the rollback
    # The bytes left their live names before the caller's rollback, which files.services cannot see: out of
    # reach (never the other way round) until files_cleanup moves them where the rows say.
    assert _exist(storage, owned_files) == [False, False, False]
    files_reconcile(dry_run=False)
    assert _exist(storage, owned_files) == [True, True, True]


@pytest.mark.parametrize("how", ["instance", "queryset"])
def test_orm_delete_of_a_record_with_files_outside_owner_delete_is_refused_and_changes_nothing(
    record_type, record, owned_files, storage, django_capture_on_commit_callbacks, how
):
    # Who deleted the files would be lost: a shell or a stray queryset.delete() must name the user.
    # The refusal comes from inside the ORM's deletion: it rolls back the transaction around it.
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(UnattributedDelete), transaction.atomic():
        if how == "instance":
            record.delete()
        else:
            record_type.model.objects.filter(pk=record.pk).delete()

    assert record_type.model.objects.filter(pk=record.pk).exists()
    assert _rows(owned_files) == 3
    assert _exist(storage, owned_files) == [True, True, True]


def test_orm_delete_of_a_record_without_live_files_needs_no_service(record_type, record, admin):
    trashed = FileFactory(owner=record)
    file_delete(file=trashed, deleted_by=admin)

    record_type.model.objects.filter(pk=record.pk).delete()

    assert not record_type.model.objects.filter(pk=record.pk).exists()
    assert File.all_objects.get(pk=trashed.pk).deleted_by == admin  # the trash keeps who deleted it


def test_record_without_files_is_deleted_without_touching_storage(
    admin_client, record_type, record, storage, django_capture_on_commit_callbacks
):
    other = FileFactory(owner=record_type.factory())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.delete(record_type.detail_url(record.pk))

    assert response.status_code == 204
    assert callbacks == []
    assert storage.exists(other.storage_name)


def test_delete_appointment_keeps_its_patients_and_doctors_files(
    admin_client, storage, django_capture_on_commit_callbacks
):
    appointment = AppointmentFactory()
    own = FileFactory(owner=appointment, name="prescription.pdf", content=samples.pdf_bytes())
    kept = [FileFactory(owner=appointment.patient), FileFactory(owner=appointment.doctor)]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.delete(APPOINTMENTS.detail_url(appointment.pk))

    assert response.status_code == 204
    assert _rows([own]) == 0
    assert not storage.exists(own.storage_name)
    assert _rows(kept) == 2
    assert _exist(storage, kept) == [True, True]


@pytest.mark.parametrize(
    ("record_type", "side"), [(PATIENTS, "patient"), (DOCTORS, "doctor")], ids=["patient", "doctor"]
)
def test_delete_record_with_appointments_returns_409_and_deletes_nothing(
    admin_client, storage, django_capture_on_commit_callbacks, record_type, side
):
    appointment = AppointmentFactory()
    record = getattr(appointment, side)
    files = [FileFactory(owner=record), FileFactory(owner=record, name="report.pdf", content=samples.pdf_bytes())]
    appointment_file = FileFactory(owner=appointment)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.delete(record_type.detail_url(record.pk))

    assert response.status_code == 409
    assert response.json() == {"detail": "The record is still referenced by other records"}
    assert callbacks == []
    assert record_type.model.objects.filter(pk=record.pk).exists()
    assert APPOINTMENTS.model.objects.filter(pk=appointment.pk).exists()
    assert _rows([*files, appointment_file]) == 3
    assert _exist(storage, [*files, appointment_file]) == [True, True, True]
    assert len(admin_client.get(record_type.detail_url(record.pk)).json()["files"]) == 2


def test_patient_can_be_deleted_once_its_appointments_are(admin_client, storage, django_capture_on_commit_callbacks):
    appointment = AppointmentFactory()
    patient = appointment.patient
    files = [FileFactory(owner=patient), FileFactory(owner=appointment)]

    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.delete(PATIENTS.detail_url(patient.pk)).status_code == 409
        assert admin_client.delete(APPOINTMENTS.detail_url(appointment.pk)).status_code == 204
        assert admin_client.delete(PATIENTS.detail_url(patient.pk)).status_code == 204

    assert _rows(files) == 0
    assert _exist(storage, files) == [False, False]
