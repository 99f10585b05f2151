"""What is particular to /api/doctors/: the optional specialty, the order of the list."""

from doctors.models import Doctor
from tests.factories import DoctorFactory

URL = "/api/doctors/"


def test_create_without_specialty_stores_an_empty_one(admin_client):
    response = admin_client.post(URL, {"first_name": "Sara", "last_name": "Khan"}, format="json")

    assert response.status_code == 201
    assert response.json()["specialty"] == ""
    assert Doctor.objects.get(pk=response.json()["id"]).specialty == ""


def test_create_with_a_blank_name_returns_422(admin_client):
    response = admin_client.post(URL, {"first_name": " ", "last_name": "Khan"}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body", "first_name"], "msg": "This field may not be blank.", "type": "blank"}]
    }
    assert not Doctor.objects.exists()


def test_list_is_ordered_by_last_then_first_name(admin_client):
    for first, last in [("Tomas", "Novak"), ("Sara", "Khan"), ("Adam", "Novak")]:
        DoctorFactory(first_name=first, last_name=last)

    results = admin_client.get(URL).json()["results"]

    assert [(item["last_name"], item["first_name"]) for item in results] == [
        ("Khan", "Sara"),
        ("Novak", "Adam"),
        ("Novak", "Tomas"),
    ]
