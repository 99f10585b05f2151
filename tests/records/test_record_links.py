"""A record links only to records its user may link to (an appointment's patient and doctor).

A doctor may change their appointments; pointing one at another patient
would make that patient, and every file of theirs, reachable to them, and
move the appointment's files to that patient. Every relation to a record
that owns files asks the access policy; an id the user may not link to, and
one that does not exist, get the same 403.
"""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.relations import RelatedField

from appointments.models import Appointment
from appointments.serializers import AppointmentSerializer
from clinic.serializers import LinkedRecordField
from doctors.serializers import DoctorSerializer
from files.models import FileOwner
from patients.serializers import PatientSerializer
from tests.factories import AppointmentFactory, DoctorFactory, FileFactory, PatientFactory
from tests.records.conftest import APPOINTMENTS

UNKNOWN_ID = "01900000-0000-7000-8000-000000000000"
DENIED = {"detail": "Permission denied"}


@pytest.fixture
def appointment(doctor_user):
    """An appointment of the doctor ``doctor_user`` is linked to, with a file."""
    doctor = DoctorFactory(user=doctor_user)
    appointment = AppointmentFactory(doctor=doctor)
    FileFactory(owner=appointment, name="prescription.png")
    return appointment


def _unchanged(appointment: Appointment) -> bool:
    return Appointment.objects.filter(
        pk=appointment.pk, patient_id=appointment.patient_id, doctor_id=appointment.doctor_id
    ).exists()


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("target", ["another patient", "no patient"])
def test_doctor_pointing_their_appointment_at_a_patient_they_do_not_reach_gets_403(
    client_for, doctor_user, appointment, method, target
):
    patient_id = str(PatientFactory().pk) if target == "another patient" else UNKNOWN_ID
    body = {"patient": patient_id}
    if method == "put":
        body |= {"doctor": str(appointment.doctor_id), "scheduled_at": "2026-03-04T09:30:00Z"}

    response = getattr(client_for(doctor_user), method)(APPOINTMENTS.detail_url(appointment.pk), body, format="json")

    # The same answer whether the patient exists or not.
    assert (response.status_code, response.json()) == (403, DENIED)
    assert _unchanged(appointment)
    assert client_for(doctor_user).get(f"/api/patients/{patient_id}/").status_code in {403, 404}


def test_doctor_cannot_move_their_appointment_and_its_files_to_another_of_their_patients(
    client_for, doctor_user, appointment
):
    their_other_patient = AppointmentFactory(doctor=appointment.doctor).patient

    response = client_for(doctor_user).patch(
        APPOINTMENTS.detail_url(appointment.pk), {"patient": str(their_other_patient.pk)}, format="json"
    )

    assert (response.status_code, response.json()) == (403, DENIED)
    assert _unchanged(appointment)


@pytest.mark.parametrize("target", ["another doctor", "no doctor"])
def test_doctor_cannot_hand_their_appointment_to_another_doctor(client_for, doctor_user, appointment, target):
    doctor_id = str(DoctorFactory().pk) if target == "another doctor" else UNKNOWN_ID

    response = client_for(doctor_user).patch(
        APPOINTMENTS.detail_url(appointment.pk), {"doctor": doctor_id}, format="json"
    )

    assert (response.status_code, response.json()) == (403, DENIED)
    assert _unchanged(appointment)


def test_doctor_still_changes_their_appointment_naming_its_own_patient_and_doctor(client_for, doctor_user, appointment):
    body = {"patient": str(appointment.patient_id), "doctor": str(appointment.doctor_id), "reason": "Follow-up"}

    response = client_for(doctor_user).patch(APPOINTMENTS.detail_url(appointment.pk), body, format="json")

    assert response.status_code == 200
    assert Appointment.objects.get(pk=appointment.pk).reason == "Follow-up"


@pytest.mark.parametrize("role", ["admin", "receptionist"])
def test_staff_reaching_every_record_may_move_an_appointment_to_another_patient(client_for, request, appointment, role):
    other = PatientFactory()

    response = client_for(request.getfixturevalue(role)).patch(
        APPOINTMENTS.detail_url(appointment.pk), {"patient": str(other.pk)}, format="json"
    )

    assert response.status_code == 200
    assert Appointment.objects.get(pk=appointment.pk).patient_id == other.pk


def test_receptionist_is_told_an_unknown_patient_does_not_exist(client_for, receptionist, appointment):
    # They reach every record: the answer tells them nothing they could not list.
    response = client_for(receptionist).patch(
        APPOINTMENTS.detail_url(appointment.pk), {"patient": UNKNOWN_ID}, format="json"
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "does_not_exist"


def test_a_doctor_given_the_right_to_add_appointments_may_not_create_one_for_a_patient_they_do_not_reach(
    client_for, doctor_user, appointment
):
    doctor_user.user_permissions.add(Permission.objects.get(codename="add_appointment"))
    body = {"doctor": str(appointment.doctor_id), "scheduled_at": "2026-03-04T09:30:00Z"}

    stranger = client_for(doctor_user).post(APPOINTMENTS.url, {**body, "patient": str(PatientFactory().pk)})
    own = client_for(doctor_user).post(APPOINTMENTS.url, {**body, "patient": str(appointment.patient_id)})

    assert (stranger.status_code, stranger.json()) == (403, DENIED)
    assert own.status_code == 201
    assert Appointment.objects.filter(doctor=appointment.doctor).count() == 2


@pytest.mark.parametrize("serializer_class", [PatientSerializer, DoctorSerializer, AppointmentSerializer])
def test_every_relation_of_a_record_to_a_record_that_owns_files_asks_the_policy(serializer_class):
    fields = serializer_class().fields.values()
    relations = [f for f in fields if isinstance(f, RelatedField) and issubclass(f.get_queryset().model, FileOwner)]

    assert all(isinstance(field, LinkedRecordField) for field in relations)
    if serializer_class is AppointmentSerializer:
        assert {field.field_name for field in relations} == {"patient", "doctor"}
