"""One error format for the whole API (clinic.errors)."""

import pytest
from django.db import IntegrityError
from django.test import override_settings

from clinic.errors import exception_handler, server_error
from tests.factories import AppointmentFactory, PatientFactory


def test_malformed_json_body_returns_422(admin_client, db):
    response = admin_client.post("/api/patients/", data="{not json", content_type="application/json")

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["type"] == "parse_error"


def test_nested_body_errors_carry_their_path(admin_client, db):
    response = admin_client.post("/api/patients/", {"reg_number": "", "first_name": "x" * 200}, format="json")

    assert response.status_code == 422
    assert {tuple(error["loc"]): error["type"] for error in response.json()["detail"]} == {
        ("body", "reg_number"): "blank",
        ("body", "first_name"): "max_length",
        ("body", "last_name"): "missing",
    }


def test_protected_record_delete_returns_409(admin_client, db):
    appointment = AppointmentFactory()

    response = admin_client.delete(f"/api/patients/{appointment.patient.pk}/")

    assert response.status_code == 409
    assert isinstance(response.json()["detail"], str)


def test_method_not_allowed_keeps_the_detail_format(admin_client, db):
    patient = PatientFactory()

    response = admin_client.post(f"/api/patients/{patient.pk}/")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}


@override_settings(DEBUG=False)
@pytest.mark.parametrize("path", ["/nowhere", "/api/nowhere/", "/static"])
def test_unknown_url_returns_json_404(client, db, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found"}


@override_settings(DEBUG=False, DATA_UPLOAD_MAX_NUMBER_FIELDS=5)
def test_request_refused_by_django_returns_json_400(admin_client, db):
    patient = PatientFactory()

    response = admin_client.post(f"/api/patients/{patient.pk}/files/", {f"field{n}": "x" for n in range(10)})

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request"}


def test_server_error_handler_returns_json_without_details(rf):
    response = server_error(rf.get("/api/patients/"))

    assert response.status_code == 500
    assert response.content == b'{"detail": "Internal server error"}'


def test_unique_value_lost_in_a_race_returns_409():
    # The insert's IntegrityError reaches the handler when another request took the value after validation.
    response = exception_handler(IntegrityError("duplicate key value"), {})

    assert response.status_code == 409
    assert response.data == {"detail": "The request conflicts with an existing record"}
