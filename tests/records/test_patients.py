"""What is particular to /api/patients/: the registration number."""

from patients.models import Patient
from tests.factories import PatientFactory

URL = "/api/patients/"


def test_create_with_a_taken_reg_number_returns_422_and_creates_nothing(admin_client):
    PatientFactory(reg_number="PAT-001")

    response = admin_client.post(
        URL, {"reg_number": "PAT-001", "first_name": "Jane", "last_name": "Roe"}, format="json"
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "reg_number"],
                "msg": "patient with this registration number already exists.",
                "type": "unique",
            }
        ]
    }
    assert Patient.objects.filter(reg_number="PAT-001").count() == 1


def test_update_to_another_patients_reg_number_returns_422_and_changes_nothing(admin_client):
    PatientFactory(reg_number="PAT-001")
    patient = PatientFactory(reg_number="PAT-002")

    response = admin_client.patch(f"{URL}{patient.pk}/", {"reg_number": "PAT-001"}, format="json")

    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert (item["loc"], item["type"]) == (["body", "reg_number"], "unique")
    patient.refresh_from_db()
    assert patient.reg_number == "PAT-002"


def test_update_keeping_its_own_reg_number_is_not_a_conflict(admin_client):
    patient = PatientFactory(reg_number="PAT-001")

    response = admin_client.put(
        f"{URL}{patient.pk}/", {"reg_number": "PAT-001", "first_name": "John", "last_name": "Doe"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["first_name"] == "John"


def test_create_with_a_blank_reg_number_returns_422(admin_client):
    response = admin_client.post(URL, {"reg_number": "", "first_name": "Jane", "last_name": "Roe"}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body", "reg_number"], "msg": "This field may not be blank.", "type": "blank"}]
    }


def test_create_with_a_reg_number_over_32_characters_returns_422(admin_client):
    response = admin_client.post(URL, {"reg_number": "P" * 33, "first_name": "Jane", "last_name": "Roe"}, format="json")

    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert (item["loc"], item["type"]) == (["body", "reg_number"], "max_length")


def test_list_is_ordered_by_reg_number(admin_client):
    for reg_number in ["PAT-003", "PAT-001", "PAT-002"]:
        PatientFactory(reg_number=reg_number)

    results = admin_client.get(URL).json()["results"]

    assert [item["reg_number"] for item in results] == ["PAT-001", "PAT-002", "PAT-003"]
