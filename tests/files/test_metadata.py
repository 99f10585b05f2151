"""GET /api/files/ and /api/files/{id}/: files' metadata, filtered and paginated."""

import uuid

import pytest
from django.contrib.auth.models import Permission

from tests.factories import DoctorFactory, FileFactory, UserFactory
from tests.signed import SignedFileURL


@pytest.fixture
def files(patient):
    doctor = DoctorFactory()
    return {
        "report": FileFactory(owner=patient, category="report"),
        "scan": FileFactory(owner=patient, category="scan"),
        "doctor": FileFactory(owner=doctor, category="report"),
    }


def ids(response) -> set[str]:
    return {item["id"] for item in response.json()["results"]}


def test_retrieve_returns_the_file_object(admin_client, png_file):
    response = admin_client.get(f"/api/files/{png_file.id}/")

    assert response.status_code == 200
    assert response.json()["id"] == str(png_file.id)
    assert response.json()["url"] == SignedFileURL(png_file)


def test_retrieve_unknown_returns_404(admin_client, db):
    response = admin_client.get(f"/api/files/{uuid.uuid4()}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


def test_retrieve_non_uuid_returns_422(admin_client, db):
    response = admin_client.get("/api/files/nope/")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["path", "id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}]
    }


def test_list_filters_by_entity_id(admin_client, files, patient):
    response = admin_client.get("/api/files/", {"entity_id": str(patient.pk)})

    assert ids(response) == {str(files["report"].id), str(files["scan"].id)}


def test_list_filters_by_type(admin_client, files):
    response = admin_client.get("/api/files/", {"type": "report"})

    assert ids(response) == {str(files["report"].id), str(files["doctor"].id)}


def test_list_filters_by_entity_and_type(admin_client, files, patient):
    response = admin_client.get("/api/files/", {"entity_id": str(patient.pk), "type": "scan"})

    assert ids(response) == {str(files["scan"].id)}


def test_list_is_paginated(admin_client, files):
    response = admin_client.get("/api/files/", {"page_size": 2})

    assert response.json()["count"] == 3
    assert len(response.json()["results"]) == 2
    assert response.json()["next"]


@pytest.mark.parametrize(
    ("query", "loc", "error_type"),
    [
        ({"entity_id": "PAT-001"}, ["query", "entity_id"], "uuid_parsing"),
        ({"type": "selfie"}, ["query", "type"], "enum"),
    ],
)
def test_list_with_invalid_query_returns_422(admin_client, db, query, loc, error_type):
    response = admin_client.get("/api/files/", query)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, error_type)


def test_list_shows_only_files_of_records_the_user_may_view(client_for, files):
    user = UserFactory()
    user.user_permissions.add(
        Permission.objects.get(codename="view_file"),
        Permission.objects.get(codename="view_patient"),
        Permission.objects.get(codename="reach_all_records"),
    )

    response = client_for(user).get("/api/files/")

    assert ids(response) == {str(files["report"].id), str(files["scan"].id)}


def test_list_without_view_permission_returns_403(client_for, files):
    assert client_for(UserFactory()).get("/api/files/").status_code == 403


def test_list_without_credentials_returns_401(anonymous, db):
    assert anonymous.get("/api/files/").status_code == 401
