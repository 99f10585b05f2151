"""The clinic's access policy (accounts/access.py), through every path that reads or changes files.

The clinic: Dr Adams sees Pat One (an appointment), Dr Brown sees Pat Two.
Each record holds a file the receptionist uploaded.
"""

import io
from dataclasses import dataclass

import pytest
from django.test import Client
from rest_framework.test import APIClient

from demo import samples
from files.models import File
from tests.factories import AppointmentFactory, DoctorFactory, FileFactory, PatientFactory, UserFactory
from tests.signed import SignedFileURL
from tests.wsgi import wsgi_request

DENIED = {"detail": "Permission denied"}


@dataclass
class Clinic:
    adams: object
    brown: object
    one: object
    two: object
    adams_one: object
    brown_two: object
    files: dict
    users: dict


@pytest.fixture
def clinic(db) -> Clinic:
    receptionist = UserFactory(role="receptionist")
    users = {
        "admin": UserFactory(role="admin"),
        "receptionist": receptionist,
        "dr_adams": UserFactory(role="doctor"),
        "pat_one": UserFactory(role="patient"),
        "unlinked_doctor": UserFactory(role="doctor"),
        "unlinked_patient": UserFactory(role="patient"),
        "no_role": UserFactory(),
    }
    adams = DoctorFactory(user=users["dr_adams"])
    brown = DoctorFactory()
    one = PatientFactory(user=users["pat_one"])
    two = PatientFactory()
    adams_one = AppointmentFactory(doctor=adams, patient=one)
    brown_two = AppointmentFactory(doctor=brown, patient=two)
    records = {"adams": adams, "brown": brown, "one": one, "two": two, "adams_one": adams_one, "brown_two": brown_two}
    files = {name: FileFactory(owner=record, uploaded_by=receptionist) for name, record in records.items()}
    return Clinic(adams, brown, one, two, adams_one, brown_two, files, users)


def png_part(name: str) -> io.BytesIO:
    part = io.BytesIO(samples.png_bytes())
    part.name = name
    return part


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")
    return client


def ids(items) -> set[str]:
    return {item["id"] for item in items}


# Which files each user reaches (their role's view permission, narrowed to the records they reach).
REACHES = {
    "admin": {"adams", "brown", "one", "two", "adams_one", "brown_two"},
    "receptionist": {"adams", "brown", "one", "two", "adams_one", "brown_two"},
    "dr_adams": {"adams", "one", "adams_one"},
    "pat_one": {"one"},
    "unlinked_doctor": set(),
    "unlinked_patient": set(),
    "no_role": set(),
}
EVERY_FILE = sorted(REACHES["admin"])


def _user_file_pairs():
    for user, reached in REACHES.items():
        for name in EVERY_FILE:
            yield pytest.param(
                user, name, name in reached, id=f"{user}-{name}-{'allowed' if name in reached else '403'}"
            )


@pytest.mark.parametrize(("user", "name", "allowed"), list(_user_file_pairs()))
def test_download_by_token_follows_the_records_the_user_reaches(clinic, user, name, allowed):
    file = clinic.files[name]
    token = clinic.users[user].auth_token.key

    fast = wsgi_request(f"/static/{file.path}", headers={"Authorization": f"Token {token}"})
    django = api(clinic.users[user]).get(f"/static/{file.path}")

    assert fast.status == django.status_code == (200 if allowed else 403)
    if not allowed:
        assert django.json() == DENIED


@pytest.mark.parametrize(("user", "name", "allowed"), list(_user_file_pairs()))
def test_file_metadata_follows_the_records_the_user_reaches(clinic, user, name, allowed):
    file = clinic.files[name]

    response = api(clinic.users[user]).get(f"/api/files/{file.id}/")

    assert response.status_code == (200 if allowed else 403)


@pytest.mark.parametrize("user", sorted(REACHES))
def test_file_list_shows_only_files_of_records_the_user_reaches(clinic, user):
    response = api(clinic.users[user]).get("/api/files/", {"page_size": 100})

    if not REACHES[user] and user == "no_role":
        assert response.status_code == 403  # no permission to view files at all
        return
    assert response.status_code == 200
    assert ids(response.json()["results"]) == {str(clinic.files[name].id) for name in REACHES[user]}


def test_doctor_lists_only_their_own_record_patients_and_appointments(clinic):
    client = api(clinic.users["dr_adams"])

    assert ids(client.get("/api/doctors/").json()["results"]) == {str(clinic.adams.pk)}
    assert ids(client.get("/api/patients/").json()["results"]) == {str(clinic.one.pk)}
    assert ids(client.get("/api/appointments/").json()["results"]) == {str(clinic.adams_one.pk)}


def test_patient_lists_only_their_own_record_with_its_files(clinic):
    response = api(clinic.users["pat_one"]).get("/api/patients/")

    [record] = response.json()["results"]
    assert record["id"] == str(clinic.one.pk)
    assert [file["url"] for file in record["files"]] == [SignedFileURL(clinic.files["one"])]


def test_receptionist_lists_every_patient(clinic):
    response = api(clinic.users["receptionist"]).get("/api/patients/")

    assert ids(response.json()["results"]) == {str(clinic.one.pk), str(clinic.two.pk)}


@pytest.mark.parametrize("path", ["/api/patients/{two}/", "/api/patients/{two}/files/"])
@pytest.mark.parametrize("user", ["dr_adams", "pat_one", "unlinked_doctor"])
def test_a_record_the_user_does_not_reach_is_403(clinic, user, path):
    response = api(clinic.users[user]).get(path.format(two=clinic.two.pk))

    assert response.status_code == 403
    assert response.json() == DENIED


def test_a_doctor_reaches_a_patient_once_an_appointment_assigns_them(clinic):
    client = api(clinic.users["dr_adams"])
    assert client.get(f"/api/patients/{clinic.two.pk}/").status_code == 403

    AppointmentFactory(doctor=clinic.adams, patient=clinic.two)

    assert client.get(f"/api/patients/{clinic.two.pk}/").status_code == 200


# Uploads.


@pytest.mark.parametrize(
    ("user", "record", "allowed"),
    [
        ("admin", "two", True),
        ("receptionist", "two", True),
        ("dr_adams", "one", True),
        ("dr_adams", "adams_one", True),
        ("dr_adams", "adams", True),
        ("dr_adams", "two", False),
        ("dr_adams", "brown", False),
        ("pat_one", "one", False),  # patients view, they do not upload
        ("unlinked_doctor", "one", False),
    ],
)
def test_upload_follows_the_records_the_user_reaches(clinic, storage, user, record, allowed):
    owner = getattr(clinic, record)
    plural = {"one": "patients", "two": "patients", "adams": "doctors", "brown": "doctors"}.get(record, "appointments")
    before = File.objects.count()

    response = api(clinic.users[user]).post(f"/api/{plural}/{owner.pk}/files/", {"file": png_part("scan.png")})

    assert response.status_code == (201 if allowed else 403)
    if not allowed:
        assert response.json() == DENIED
        assert File.objects.count() == before
        assert storage.listdir(str(owner.pk))[1] == [clinic.files[record].path.split("/")[1]]


# Deletes.


def delete(user, file):
    return api(user).delete(f"/static/delete_file/{file.id}")


# dr_adams reaches Pat One, but the receptionist uploaded the file: a doctor deletes only their own uploads.
@pytest.mark.parametrize("user", ["receptionist", "dr_adams", "pat_one", "unlinked_doctor", "no_role"])
def test_delete_without_permission_returns_403_and_keeps_the_file(clinic, storage, user):
    file = clinic.files["one"]

    response = delete(clinic.users[user], file)

    assert response.status_code == 403
    assert response.json() == DENIED
    assert File.objects.filter(pk=file.pk).exists()
    assert storage.exists(file.storage_name)


def test_doctor_deletes_a_file_they_uploaded_on_their_patient(clinic):
    mine = FileFactory(owner=clinic.one, uploaded_by=clinic.users["dr_adams"])

    response = delete(clinic.users["dr_adams"], mine)

    assert response.status_code == 200
    assert response.json() == "File deleted successfully"
    assert not File.objects.filter(pk=mine.pk).exists()


def test_doctor_cannot_delete_their_own_upload_once_no_longer_assigned(clinic):
    mine = FileFactory(owner=clinic.two, uploaded_by=clinic.users["dr_adams"])

    response = delete(clinic.users["dr_adams"], mine)

    assert response.status_code == 403
    assert File.objects.filter(pk=mine.pk).exists()


def test_admin_deletes_any_file(clinic):
    response = delete(clinic.users["admin"], clinic.files["two"])

    assert response.status_code == 200


def test_delete_of_a_missing_file_is_404_even_for_a_user_reaching_nothing(clinic):
    missing = clinic.files["two"]
    File.objects.filter(pk=missing.pk).delete()

    response = delete(clinic.users["unlinked_doctor"], missing)

    assert response.status_code == 404


# A patient cannot reach another patient's file by any path.


def test_patient_cannot_reach_another_patients_file_by_any_path(clinic):
    # Signed URLs: tested by the lists above, which never hold another patient's file to sign.
    other = clinic.files["two"]
    user = clinic.users["pat_one"]
    session = Client()
    session.force_login(user)
    client = api(user)

    assert client.get(f"/static/{other.path}").status_code == 403
    assert session.get(f"/static/{other.path}").status_code == 403
    assert (
        wsgi_request(f"/static/{other.path}", headers={"Authorization": f"Token {user.auth_token.key}"}).status == 403
    )
    assert client.get(f"/api/files/{other.id}/").status_code == 403
    assert client.get("/api/files/", {"entity_id": str(clinic.two.pk)}).json()["results"] == []
    assert client.get(f"/api/patients/{clinic.two.pk}/").status_code == 403
    assert client.get(f"/api/patients/{clinic.two.pk}/files/").status_code == 403
    assert client.get(f"/api/appointments/{clinic.brown_two.pk}/").status_code == 403
    assert str(other.id) not in str(client.get("/api/patients/").json())
