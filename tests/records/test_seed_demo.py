"""``manage.py seed_demo``: demo users with tokens, and records with real files, created once."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from appointments.models import Appointment
from doctors.models import Doctor
from files.models import File
from patients.models import Patient

ROLES = ["admin", "doctor", "patient", "receptionist"]
DEMO_PASSWORD = "demo-pass-123"
TOKEN_LINE = re.compile(r"^\s+(?P<role>\w+)\s+user (?P<username>\S+)\s+Authorization: Token (?P<key>\w+)$", re.M)


def seed(password: str | None = DEMO_PASSWORD) -> str:
    out = StringIO()
    if password is None:
        call_command("seed_demo", stdout=out)
    else:
        call_command("seed_demo", password=password, stdout=out)
    return out.getvalue()


def _counts() -> tuple[int, int, int, int, int]:
    return (
        Patient.objects.count(),
        Doctor.objects.count(),
        Appointment.objects.count(),
        File.objects.count(),
        get_user_model().objects.count(),
    )


def test_seed_creates_3_patients_2_doctors_1_appointment_6_files(db):
    seed()

    assert list(Patient.objects.values_list("reg_number", "first_name", "last_name")) == [
        ("PAT-001", "John", "Doe"),
        ("PAT-002", "Amina", "Okafor"),
        ("PAT-003", "Lena", "Fischer"),
    ]
    assert Doctor.objects.count() == 2
    appointment = Appointment.objects.get()
    assert appointment.patient.reg_number == "PAT-001"
    assert File.objects.count() == 6


def test_seed_attaches_the_files_to_their_records(db):
    seed()

    def names(owner) -> list[str]:
        return sorted(owner.files.values_list("name", flat=True))

    assert names(Patient.objects.get(reg_number="PAT-001")) == ["blood-test.pdf", "photo.png"]
    assert names(Patient.objects.get(reg_number="PAT-002")) == ["x-ray.jpg"]
    assert names(Patient.objects.get(reg_number="PAT-003")) == []
    assert names(Doctor.objects.get(last_name="Khan")) == ["portrait.png"]
    assert names(Doctor.objects.get(last_name="Novak")) == []
    assert names(Appointment.objects.get()) == ["prescription.pdf", "referral.docx"]
    assert set(File.objects.values_list("uploaded_by__username", flat=True)) == {"demo-receptionist"}


def test_seed_files_bytes_exist_in_storage_and_match_their_rows(db, storage):
    seed()

    files = list(File.objects.all())
    assert len(files) == 6
    for file in files:
        assert storage.exists(file.storage_name), file.name
        assert storage.size(file.storage_name) == file.size
    assert sorted(f.media_type for f in files) == [
        "application/pdf",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "image/jpeg",
        "image/png",
        "image/png",
    ]


def test_seed_prints_a_working_token_for_each_role_user(db, client_for):
    output = seed()

    lines = {match["role"]: match for match in TOKEN_LINE.finditer(output)}
    assert sorted(lines) == ROLES
    for role in ROLES:
        user = get_user_model().objects.get(username=f"demo-{role}")
        assert lines[role]["username"] == user.username
        assert lines[role]["key"] == Token.objects.get(user=user).key
        assert list(user.groups.values_list("name", flat=True)) == [role]


def test_seed_tokens_authenticate_against_the_api(db, anonymous):
    output = seed()
    keys = {match["role"]: match["key"] for match in TOKEN_LINE.finditer(output)}

    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {keys['receptionist']}")
    response = anonymous.get("/api/patients/")

    assert response.status_code == 200
    assert response.json()["count"] == 3
    first = response.json()["results"][0]
    assert [item["name"] for item in first["files"]] == ["photo.png", "blood-test.pdf"]


@pytest.mark.parametrize(
    ("role", "patients"),
    [("doctor", ["PAT-001"]), ("patient", ["PAT-001"]), ("admin", ["PAT-001", "PAT-002", "PAT-003"])],
)
def test_seed_links_the_doctor_and_patient_users_to_records_they_reach(db, anonymous, role, patients):
    keys = {match["role"]: match["key"] for match in TOKEN_LINE.finditer(seed())}

    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {keys[role]}")
    response = anonymous.get("/api/patients/")

    assert [record["reg_number"] for record in response.json()["results"]] == patients


def test_seeding_twice_keeps_the_links(db):
    seed()
    seed()

    assert Doctor.objects.get(last_name="Khan").user.username == "demo-doctor"
    assert Patient.objects.get(reg_number="PAT-001").user.username == "demo-patient"


def test_seed_sets_the_given_password_and_only_admin_is_staff(db):
    output = seed("s3cret-demo-password")

    assert "password: s3cret-demo-password" in output
    for role in ROLES:
        user = get_user_model().objects.get(username=f"demo-{role}")
        assert user.check_password("s3cret-demo-password")
        assert user.is_staff == (role == "admin")
        assert not user.is_superuser


def test_seed_without_password_generates_and_prints_one(db):
    output = seed(password=None)

    password = re.search(r"Demo users \(password: (\S+)\):", output)[1]
    assert len(password) >= 12
    assert get_user_model().objects.get(username="demo-admin").check_password(password)


def test_second_seed_creates_no_duplicates(db, storage):
    seed()
    before = _counts()
    stored = _stored_names(storage)

    output = seed()

    assert _counts() == before == (3, 2, 1, 6, 4)
    assert _stored_names(storage) == stored
    assert len(stored) == 6
    assert "Demo records exist already" in output


def test_second_seed_keeps_the_tokens_and_sets_the_new_password(db):
    first = {m["role"]: m["key"] for m in TOKEN_LINE.finditer(seed("first-password-1"))}

    second = {m["role"]: m["key"] for m in TOKEN_LINE.finditer(seed("second-password-2"))}

    assert second == first
    assert Token.objects.count() == 4
    assert get_user_model().objects.get(username="demo-doctor").check_password("second-password-2")


@pytest.mark.parametrize("role", ROLES)
def test_second_seed_keeps_each_user_in_exactly_its_role(db, role):
    seed()
    seed()

    user = get_user_model().objects.get(username=f"demo-{role}")
    assert list(user.groups.values_list("name", flat=True)) == [role]


def _stored_names(storage) -> list[str]:
    """Every name in storage, one folder (a record's id) deep."""
    folders, _ = storage.listdir("")
    return sorted(f"{folder}/{name}" for folder in folders for name in storage.listdir(folder)[1])
