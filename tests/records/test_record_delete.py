"""Deleting a record deletes its files only as the file-delete rule allows, named to the user who did it.

One service (``files.services.owner_delete``) serves the API, the admin's
single and bulk deletes and the ORM cascade: the user must be allowed to
delete every live file that would go, cascaded records' files included; the
audit trail and ``deleted_by`` name them; a refusal changes nothing.
"""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import models
from django.test import Client

from appointments.models import Appointment
from demo import samples
from doctors.models import Doctor
from files.models import AuditEvent, File
from files.services import owners
from patients.models import Patient
from tests.factories import AppointmentFactory, FileFactory, UserFactory
from tests.records.conftest import APPOINTMENTS, PATIENTS


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def prescription(db):
    """A prescription of an appointment, uploaded by its doctor."""
    return FileFactory(owner=AppointmentFactory(), name="prescription.pdf", content=samples.pdf_bytes())


def staff(role: str) -> Client:
    user = UserFactory(role=role, is_staff=True)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def _unchanged(file: File, storage) -> bool:
    return File.objects.filter(pk=file.pk, deleted_at__isnull=True).exists() and storage.exists(file.storage_name)


def _deletions(file: File) -> list[tuple]:
    return list(
        AuditEvent.objects.filter(action="delete", file_id=file.pk).values_list("outcome", "user_id", "username", "via")
    )


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# The API.


def test_receptionist_deleting_an_appointment_with_files_gets_403_and_nothing_changes(
    receptionist, client_for, prescription, storage, commit
):
    # A receptionist may delete appointments but not files: deleting the appointment would trash its prescription.
    with commit():
        response = client_for(receptionist).delete(APPOINTMENTS.detail_url(prescription.entity_id))

    assert response.status_code == 403
    assert response.json() == {"detail": "Permission denied"}
    assert Appointment.objects.filter(pk=prescription.entity_id).exists()
    assert _unchanged(prescription, storage)


def test_a_refused_record_deletion_is_on_the_audit_trail_under_its_user(receptionist, client_for, prescription):
    client_for(receptionist).delete(APPOINTMENTS.detail_url(prescription.entity_id))

    event = AuditEvent.objects.get(action="delete", outcome="refused")
    assert (event.user_id, event.status, event.record_type) == (str(receptionist.pk), 403, "appointments.appointment")
    assert event.record_id == prescription.entity_id
    assert event.detail == "Permission denied"


def test_receptionist_deletes_an_appointment_without_files(receptionist, client_for, db):
    appointment = AppointmentFactory()

    response = client_for(receptionist).delete(APPOINTMENTS.detail_url(appointment.pk))

    assert response.status_code == 204
    assert not Appointment.objects.filter(pk=appointment.pk).exists()


def test_api_record_deletion_names_the_user_on_each_file_and_in_the_audit_trail(
    admin, admin_client, prescription, commit
):
    with commit():
        assert admin_client.delete(APPOINTMENTS.detail_url(prescription.entity_id)).status_code == 204

    assert File.all_objects.get(pk=prescription.pk).deleted_by == admin
    assert _deletions(prescription) == [("allowed", str(admin.pk), admin.username, "token")]


# The admin: single and bulk deletes.


def test_admin_record_deletion_names_the_user(prescription, commit):
    client = staff("admin")

    with commit():
        response = client.post(f"/admin/appointments/appointment/{prescription.entity_id}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert File.all_objects.get(pk=prescription.pk).deleted_by == client.user
    assert _deletions(prescription) == [("allowed", str(client.user.pk), client.user.username, "admin")]


def test_admin_bulk_deletion_names_the_user_on_every_file(db, commit):
    client = staff("admin")
    files = [FileFactory(owner=AppointmentFactory()) for _ in range(2)]

    with commit():
        response = client.post(
            "/admin/appointments/appointment/",
            {"action": "delete_selected", "post": "yes", "_selected_action": [f.entity_id for f in files]},
        )

    assert response.status_code == 302
    assert not Appointment.objects.exists()
    for file in files:
        assert File.all_objects.get(pk=file.pk).deleted_by == client.user
        assert _deletions(file) == [("allowed", str(client.user.pk), client.user.username, "admin")]


def test_receptionist_in_the_admin_cannot_delete_an_appointment_with_files(prescription, storage, commit):
    client = staff("receptionist")

    with commit():
        response = client.post(
            f"/admin/appointments/appointment/{prescription.entity_id}/delete/", {"post": "yes"}, follow=True
        )

    assert response.status_code == 200
    assert any("prescription.pdf" in message for message in _messages(response))
    assert Appointment.objects.filter(pk=prescription.entity_id).exists()
    assert _unchanged(prescription, storage)


def test_admin_bulk_deletion_is_all_or_nothing_when_one_record_has_a_file_the_user_may_not_delete(
    prescription, storage, commit
):
    client = staff("receptionist")
    selected = [AppointmentFactory().pk, prescription.entity_id]  # the first one has no files

    with commit():
        response = client.post(
            "/admin/appointments/appointment/",
            {"action": "delete_selected", "post": "yes", "_selected_action": selected},
            follow=True,
        )

    assert response.status_code == 200
    assert any(message.startswith("Not deleted") for message in _messages(response))
    assert Appointment.objects.count() == 2
    assert _unchanged(prescription, storage)


@pytest.mark.parametrize("held", ["file", "record"])
@pytest.mark.parametrize("how", ["single", "bulk"])
def test_admin_deletion_of_a_record_on_hold_shows_an_error_and_changes_nothing(
    prescription, storage, commit, held, how
):
    if held == "file":
        File.objects.filter(pk=prescription.pk).update(legal_hold=True)
    else:
        Appointment.objects.filter(pk=prescription.entity_id).update(legal_hold=True)
    client = staff("admin")

    with commit():
        if how == "single":
            url, data = f"/admin/appointments/appointment/{prescription.entity_id}/delete/", {"post": "yes"}
        else:
            url = "/admin/appointments/appointment/"
            data = {"action": "delete_selected", "post": "yes", "_selected_action": [prescription.entity_id]}
        response = client.post(url, data, follow=True)

    assert response.status_code == 200
    assert any("legal hold" in message for message in _messages(response))
    assert Appointment.objects.filter(pk=prescription.entity_id).exists()
    assert _unchanged(prescription, storage)


@pytest.mark.parametrize("how", ["single", "bulk"])
def test_a_refused_deletion_in_the_admin_is_on_the_audit_trail_under_its_user(prescription, how):
    client = staff("receptionist")
    if how == "single":
        url, data = f"/admin/appointments/appointment/{prescription.entity_id}/delete/", {"post": "yes"}
    else:
        url = "/admin/appointments/appointment/"
        data = {"action": "delete_selected", "post": "yes", "_selected_action": [prescription.entity_id]}

    client.post(url, data)

    event = AuditEvent.objects.get(action="delete", outcome="refused")
    assert (event.user_id, event.status, event.via) == (str(client.user.pk), 403, "admin")
    assert (event.record_type, event.record_id) == ("appointments.appointment", prescription.entity_id)
    assert event.detail.startswith("Not deleted")


# Records the ORM deletes with the one asked for (a host app whose relations cascade).


@pytest.fixture
def appointments_cascade(monkeypatch):
    """Deleting a patient deletes their appointments (the clinic PROTECTs them; a host app may not)."""
    monkeypatch.setattr(Appointment._meta.get_field("patient").remote_field, "on_delete", models.CASCADE)


def test_cascade_deletes_the_cascaded_records_files_named_to_the_user(
    appointments_cascade, admin, admin_client, prescription, commit
):
    patient_id = Appointment.objects.get(pk=prescription.entity_id).patient_id

    with commit():
        response = admin_client.delete(PATIENTS.detail_url(patient_id))

    assert response.status_code == 204
    assert not Appointment.objects.filter(pk=prescription.entity_id).exists()
    assert File.all_objects.get(pk=prescription.pk).deleted_by == admin
    assert _deletions(prescription) == [("allowed", str(admin.pk), admin.username, "token")]


def test_cascade_is_refused_when_a_cascaded_records_file_may_not_be_deleted(
    appointments_cascade, client_for, prescription, storage, commit
):
    # A doctor allowed to delete patients, and the files they uploaded, but not the appointment's prescription.
    appointment = Appointment.objects.get(pk=prescription.entity_id)
    user = UserFactory(role="doctor")
    user.user_permissions.add(Permission.objects.get(codename="delete_patient"))
    Doctor.objects.filter(pk=appointment.doctor_id).update(user=user)
    own = FileFactory(owner=appointment.patient, uploaded_by=user)

    with commit():
        response = client_for(user).delete(PATIENTS.detail_url(appointment.patient_id))

    assert response.status_code == 403
    assert response.json() == {"detail": "Permission denied"}
    assert Patient.objects.filter(pk=appointment.patient_id).exists()
    assert Appointment.objects.filter(pk=appointment.pk).exists()
    assert _unchanged(prescription, storage)
    assert _unchanged(own, storage)


def test_cascade_is_refused_when_a_cascaded_records_file_is_on_hold(
    appointments_cascade, admin_client, prescription, storage, commit
):
    File.objects.filter(pk=prescription.pk).update(legal_hold=True)
    patient_id = Appointment.objects.get(pk=prescription.entity_id).patient_id

    with commit():
        response = admin_client.delete(PATIENTS.detail_url(patient_id))

    assert response.status_code == 409
    assert Patient.objects.filter(pk=patient_id).exists()
    assert _unchanged(prescription, storage)


def test_a_file_uploaded_after_the_check_is_checked_too_and_the_deletion_refused(
    receptionist, client_for, storage, monkeypatch
):
    # The timing of a concurrent upload, made certain: it lands right after owner_delete asked the policy
    # about the appointment's files (none then), before the ORM deletes the appointment.
    appointment = AppointmentFactory()
    landed = []
    check = owners._refuse_unpermitted_deletes

    def upload_lands_after_the_check(files, user):
        check(files, user)
        if not landed:
            landed.append(FileFactory(owner=appointment, name="late.pdf", content=samples.pdf_bytes()))

    monkeypatch.setattr(owners, "_refuse_unpermitted_deletes", upload_lands_after_the_check)

    response = client_for(receptionist).delete(APPOINTMENTS.detail_url(appointment.pk))

    assert response.status_code == 403
    assert Appointment.objects.filter(pk=appointment.pk).exists()
    assert _unchanged(landed[0], storage)
