"""What is particular to /api/appointments/: its patient, its doctor and its time."""

import datetime as dt

import pytest

from appointments.models import Appointment
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory

URL = "/api/appointments/"
UNKNOWN_ID = "019ec9e7-70fc-70e1-9be7-039fdb5efc3e"


@pytest.fixture
def payload(db):
    return {
        "patient": str(PatientFactory().pk),
        "doctor": str(DoctorFactory().pk),
        "scheduled_at": "2026-03-04T09:30:00Z",
        "reason": "Follow-up",
    }


def test_create_refers_to_patient_and_doctor_by_id(admin_client, payload):
    response = admin_client.post(URL, payload, format="json")

    assert response.status_code == 201
    appointment = Appointment.objects.get(pk=response.json()["id"])
    assert str(appointment.patient_id) == payload["patient"]
    assert str(appointment.doctor_id) == payload["doctor"]
    assert appointment.scheduled_at == dt.datetime(2026, 3, 4, 9, 30, tzinfo=dt.UTC)
    assert appointment.reason == "Follow-up"


def test_create_without_reason_stores_an_empty_one(admin_client, payload):
    del payload["reason"]

    response = admin_client.post(URL, payload, format="json")

    assert response.status_code == 201
    assert response.json()["reason"] == ""


@pytest.mark.parametrize("field", ["patient", "doctor"])
def test_create_with_an_unknown_id_returns_422_for_that_field(admin_client, payload, field):
    payload[field] = UNKNOWN_ID

    response = admin_client.post(URL, payload, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", field],
                "msg": f'Invalid pk "{UNKNOWN_ID}" - object does not exist.',
                "type": "does_not_exist",
            }
        ]
    }
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("field", ["patient", "doctor"])
@pytest.mark.parametrize(
    "value", ["not-a-uuid", "019ec9e7-70fc-70e1-9be7", ["019ec9e7-70fc-70e1-9be7-039fdb5efc3e"], 12, True]
)
def test_create_with_a_non_uuid_id_returns_422_uuid_parsing(admin_client, payload, field, value):
    payload[field] = value

    response = admin_client.post(URL, payload, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body", field], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}]
    }
    assert not Appointment.objects.exists()


def test_create_with_the_id_of_the_wrong_kind_of_record_returns_422(admin_client, payload):
    payload["patient"] = payload["doctor"]

    response = admin_client.post(URL, payload, format="json")

    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert (item["loc"], item["type"]) == (["body", "patient"], "does_not_exist")


@pytest.mark.parametrize("value", ["tomorrow at 10", "04/03/2026 09:30", "2026-13-01T09:30:00Z", "", 1772616600])
def test_create_with_scheduled_at_not_iso_8601_returns_422(admin_client, payload, value):
    payload["scheduled_at"] = value

    response = admin_client.post(URL, payload, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "scheduled_at"],
                "msg": "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
                "type": "invalid",
            }
        ]
    }
    assert not Appointment.objects.exists()


def test_create_reports_every_invalid_field_at_once(admin_client):
    response = admin_client.post(URL, {"patient": "x", "doctor": UNKNOWN_ID, "scheduled_at": "soon"}, format="json")

    assert response.status_code == 422
    assert [(item["loc"], item["type"]) for item in response.json()["detail"]] == [
        (["body", "patient"], "uuid_parsing"),
        (["body", "doctor"], "does_not_exist"),
        (["body", "scheduled_at"], "invalid"),
    ]


def test_scheduled_at_with_an_offset_is_stored_and_returned_in_utc(admin_client, payload):
    payload["scheduled_at"] = "2026-03-04T11:30:00+02:00"

    response = admin_client.post(URL, payload, format="json")

    assert response.status_code == 201
    assert response.json()["scheduled_at"] == "2026-03-04T09:30:00Z"
    stored = Appointment.objects.get(pk=response.json()["id"]).scheduled_at
    assert stored == dt.datetime(2026, 3, 4, 9, 30, tzinfo=dt.UTC)


def test_update_can_move_the_appointment_to_another_doctor(admin_client):
    appointment = AppointmentFactory()
    other = DoctorFactory()

    response = admin_client.patch(f"{URL}{appointment.pk}/", {"doctor": str(other.pk)}, format="json")

    assert response.status_code == 200
    assert response.json()["doctor"] == str(other.pk)
    appointment.refresh_from_db()
    assert appointment.doctor_id == other.pk


def test_update_to_an_unknown_patient_returns_422_and_changes_nothing(admin_client):
    appointment = AppointmentFactory()

    response = admin_client.patch(f"{URL}{appointment.pk}/", {"patient": UNKNOWN_ID}, format="json")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "patient"]
    appointment.refresh_from_db()
    assert str(appointment.patient_id) != UNKNOWN_ID


def test_list_is_ordered_by_scheduled_at(admin_client):
    start = dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.UTC)
    for hours in [3, 1, 2]:
        AppointmentFactory(scheduled_at=start + dt.timedelta(hours=hours))

    results = admin_client.get(URL).json()["results"]

    assert [item["scheduled_at"] for item in results] == [
        "2026-03-04T10:00:00Z",
        "2026-03-04T11:00:00Z",
        "2026-03-04T12:00:00Z",
    ]
