"""The clinic's roles: the groups accounts/migrations create, and what they allow through the API.

Which records each role reaches is tested in test_access.py; here each user
reaches the record acted on (a doctor through an appointment, a patient
through their own record), so only the model permissions decide.
"""

import pytest
from django.contrib.auth.models import Group, Permission

from appointments.models import Appointment
from doctors.models import Doctor
from patients.models import Patient
from tests.factories import AppointmentFactory, DoctorFactory, UserFactory
from tests.records.conftest import APPOINTMENTS, DOCTORS, PATIENTS, perform, record_json

ALL = {"add", "change", "delete", "view"}

# Written out here, not imported from the migration, so a change there shows up as a failure.
EXPECTED = {
    "admin": {
        "accounts.clinicaccess": {"reach_all_records", "link_accounts"},
        "files.auditevent": {"view"},
        "files.file": ALL | {"hold", "read_unscanned"},
        "patients.patient": ALL,
        "doctors.doctor": ALL,
        "appointments.appointment": ALL,
    },
    "doctor": {
        "files.file": {"add", "delete", "view"},
        "patients.patient": {"view"},
        "doctors.doctor": {"view"},
        "appointments.appointment": {"change", "view"},
    },
    "receptionist": {
        "accounts.clinicaccess": {"reach_all_records"},
        "files.file": {"add", "view"},
        "patients.patient": {"add", "change", "view"},
        "doctors.doctor": {"view"},
        "appointments.appointment": ALL,
    },
    "patient": {
        "files.file": {"view"},
        "patients.patient": {"view"},
    },
}


def _codenames(grants: dict[str, set[str]]) -> set[str]:
    result = set()
    for label, actions in grants.items():
        app_label, model = label.split(".")
        result |= {f"{app_label}.{action if model == 'clinicaccess' else f'{action}_{model}'}" for action in actions}
    return result


def member_reaching(role: str, record):
    """A user in ``role`` whose account reaches ``record``: a doctor through an appointment, a patient as its owner."""
    user = UserFactory(role=role)
    if role == "doctor":
        doctor = record if isinstance(record, Doctor) else DoctorFactory()
        Doctor.objects.filter(pk=doctor.pk).update(user=user)
        if isinstance(record, Patient):
            AppointmentFactory(patient=record, doctor=doctor)
        if isinstance(record, Appointment):
            Appointment.objects.filter(pk=record.pk).update(doctor=doctor)
    if role == "patient" and isinstance(record, Patient):
        Patient.objects.filter(pk=record.pk).update(user=user)
    return user


def test_migrations_create_exactly_the_four_role_groups(db):
    assert set(Group.objects.values_list("name", flat=True)) == {"admin", "doctor", "receptionist", "patient"}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_group_has_exactly_its_permissions(db, role):
    permissions = Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename")

    assert {f"{app_label}.{codename}" for app_label, codename in permissions} == _codenames(EXPECTED[role])


def test_only_admins_and_doctors_may_delete_files(db):
    # A doctor's deletes are narrowed to their own uploads by the access policy (test_access.py).
    delete_file = Permission.objects.get(content_type__app_label="files", codename="delete_file")

    assert set(delete_file.group_set.values_list("name", flat=True)) == {"admin", "doctor"}


@pytest.mark.parametrize("permission", ["patients.delete_patient", "doctors.delete_doctor", "doctors.add_doctor"])
def test_only_admin_may_delete_patients_and_doctors_or_add_doctors(db, permission):
    app_label, codename = permission.split(".")
    holders = Permission.objects.get(content_type__app_label=app_label, codename=codename).group_set

    assert list(holders.values_list("name", flat=True)) == ["admin"]


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_user_in_a_role_has_its_permissions_and_no_others(db, role):
    user = UserFactory(role=role)
    expected = _codenames(EXPECTED[role])
    every = _codenames(dict.fromkeys(EXPECTED["admin"], ALL)) | _codenames(EXPECTED["admin"])

    assert {perm for perm in every if user.has_perm(perm)} == expected


# Through the API: each role, each kind of record, each action.

STATUS_ALLOWED = {"list": 200, "retrieve": 200, "create": 201, "update": 200, "delete": 204}
ACTION_PERMISSION = {"list": "view", "retrieve": "view", "create": "add", "update": "change", "delete": "delete"}


def _matrix():
    for role, grants in sorted(EXPECTED.items()):
        for record_type in (PATIENTS, DOCTORS, APPOINTMENTS):
            label = f"{record_type.model._meta.app_label}.{record_type.model._meta.model_name}"
            for action, needed in ACTION_PERMISSION.items():
                allowed = needed in grants.get(label, ())
                yield pytest.param(
                    role,
                    record_type,
                    action,
                    allowed,
                    id=f"{role}-{action}-{record_type.plural}-{'allowed' if allowed else 'denied'}",
                )


@pytest.mark.parametrize(("role", "record_type", "action", "allowed"), list(_matrix()))
def test_role_may_do_only_what_its_permissions_allow(db, client_for, role, record_type, action, allowed):
    record = record_type.factory()
    client = client_for(member_reaching(role, record))
    before = record_json(record_type, record)
    count = record_type.model.objects.count()

    response = perform(client, record_type, action, record)

    if allowed:
        assert response.status_code == STATUS_ALLOWED[action]
    else:
        assert response.status_code == 403
        assert response.json() == {"detail": "Permission denied"}
        assert record_type.model.objects.count() == count
        assert record_json(record_type, record) == before


def test_receptionist_can_create_a_patient(client_for, receptionist):
    response = client_for(receptionist).post(
        PATIENTS.url, {"reg_number": "PAT-100", "first_name": "Jane", "last_name": "Roe"}, format="json"
    )

    assert response.status_code == 201
    assert PATIENTS.model.objects.filter(reg_number="PAT-100").exists()


def test_doctor_cannot_create_a_patient(client_for, doctor_user):
    response = client_for(doctor_user).post(
        PATIENTS.url, {"reg_number": "PAT-100", "first_name": "Jane", "last_name": "Roe"}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"detail": "Permission denied"}
    assert not PATIENTS.model.objects.exists()


def test_doctor_can_view_their_patients(db, client_for):
    patient = PATIENTS.factory()
    doctor_user = member_reaching("doctor", patient)

    listed = client_for(doctor_user).get(PATIENTS.url)
    shown = client_for(doctor_user).get(PATIENTS.detail_url(patient.pk))

    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["results"]] == [str(patient.pk)]
    assert shown.status_code == 200
    assert shown.json() == record_json(PATIENTS, patient)


def test_doctor_can_reschedule_their_appointment(db, client_for):
    appointment = APPOINTMENTS.factory()
    doctor_user = member_reaching("doctor", appointment)

    response = client_for(doctor_user).patch(
        APPOINTMENTS.detail_url(appointment.pk), {"scheduled_at": "2026-05-06T14:15:00Z"}, format="json"
    )

    assert response.status_code == 200
    appointment.refresh_from_db()
    assert appointment.scheduled_at.isoformat() == "2026-05-06T14:15:00+00:00"


@pytest.mark.parametrize(
    "role",
    ["doctor", "receptionist"],
)
def test_only_admin_may_delete_a_patient(db, client_for, role):
    patient = PATIENTS.factory()

    response = client_for(UserFactory(role=role)).delete(PATIENTS.detail_url(patient.pk))

    assert response.status_code == 403
    assert PATIENTS.model.objects.filter(pk=patient.pk).exists()
