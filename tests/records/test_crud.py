"""CRUD of /api/patients/, /api/doctors/ and /api/appointments/: what the three have in common.

Each test runs once per kind of record (the ``record_type`` fixture); what is
particular to one lives in test_patients.py, test_doctors.py and
test_appointments.py, and who may do what in test_roles.py.
"""

import uuid

import pytest

from tests.factories import UserFactory
from tests.records.conftest import RECORD_TYPES, perform, record_json

UNKNOWN_ID = "019ec9e7-70fc-70e1-9be7-039fdb5efc3e"


# Create


def no_files(record_id) -> dict:
    """The files part of a record's JSON when it has none."""
    return {"files": [], "files_count": 0, "files_url": f"http://testserver/api/files/?entity_id={record_id}"}


def test_create_returns_201_with_the_record_and_a_uuid7_id(admin_client, record_type):
    payload = record_type.payload()

    response = admin_client.post(record_type.url, payload, format="json")

    assert response.status_code == 201
    body = response.json()
    assert uuid.UUID(body["id"]).version == 7
    assert body == {"id": body["id"], **payload, **no_files(body["id"])}


def test_create_saves_the_record(admin_client, record_type):
    payload = record_type.payload()

    response = admin_client.post(record_type.url, payload, format="json")

    record = record_type.model.objects.get(pk=response.json()["id"])
    assert record_json(record_type, record) == {"id": str(record.pk), **payload, **no_files(record.pk)}


def test_create_ignores_client_supplied_id_and_files(admin_client, record_type):
    client_id = str(uuid.uuid4())
    payload = {**record_type.payload(), "id": client_id, "files": [{"id": client_id}]}

    response = admin_client.post(record_type.url, payload, format="json")

    assert response.status_code == 201
    assert response.json()["id"] != client_id
    assert response.json()["files"] == []
    assert not record_type.model.objects.filter(pk=client_id).exists()


def test_create_gives_each_record_a_new_id(admin_client, record_type):
    first = admin_client.post(record_type.url, record_type.payload(), format="json").json()["id"]
    second = admin_client.post(record_type.url, record_type.payload(), format="json").json()["id"]

    assert first != second
    assert record_type.model.objects.filter(pk__in=[first, second]).count() == 2


def test_create_without_required_fields_returns_422_with_one_item_per_field(admin_client, record_type):
    response = admin_client.post(record_type.url, {}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", field], "msg": "Field required", "type": "missing"} for field in record_type.required
        ]
    }
    assert not record_type.model.objects.exists()


@pytest.mark.parametrize(
    ("record_type", "field"),
    [pytest.param(rt, field, id=f"{rt.plural}-{field}") for rt in RECORD_TYPES for field in rt.required],
)
def test_create_without_one_required_field_returns_422_for_that_field(admin_client, record_type, field):
    payload = record_type.payload()
    del payload[field]

    response = admin_client.post(record_type.url, payload, format="json")

    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body", field], "msg": "Field required", "type": "missing"}]}
    assert not record_type.model.objects.exists()


def test_create_with_null_required_fields_returns_422_missing(admin_client, record_type):
    payload = {**record_type.payload(), **dict.fromkeys(record_type.required)}

    response = admin_client.post(record_type.url, payload, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", field], "msg": "Field required", "type": "missing"} for field in record_type.required
        ]
    }


def test_create_with_malformed_json_returns_422_for_the_body(admin_client, record_type):
    response = admin_client.post(record_type.url, "{not json", content_type="application/json")

    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert item["loc"] == ["body"]
    assert item["type"] == "parse_error"
    assert not record_type.model.objects.exists()


# Retrieve


def test_retrieve_returns_the_record(admin_client, record_type, record):
    response = admin_client.get(record_type.detail_url(record.pk))

    assert response.status_code == 200
    assert response.json() == record_json(record_type, record)


def test_retrieve_unknown_id_returns_404(admin_client, record_type, record):
    response = admin_client.get(record_type.detail_url(UNKNOWN_ID))

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found"}


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_non_uuid_id_in_path_returns_422_path_id(admin_client, record_type, record, method):
    response = getattr(admin_client, method)(record_type.detail_url("not-a-uuid"), {}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["path", "id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}]
    }
    assert record_type.model.objects.filter(pk=record.pk).exists()


# Update


def test_full_update_replaces_every_field(admin_client, record_type, record):
    payload = record_type.payload()

    response = admin_client.put(record_type.detail_url(record.pk), payload, format="json")

    assert response.status_code == 200
    expected = {"id": str(record.pk), **payload, **no_files(record.pk)}
    assert response.json() == expected
    assert record_json(record_type, record) == expected


def test_full_update_without_required_fields_returns_422_and_changes_nothing(admin_client, record_type, record):
    before = record_json(record_type, record)

    response = admin_client.put(record_type.detail_url(record.pk), {}, format="json")

    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]] == [["body", f] for f in record_type.required]
    assert record_json(record_type, record) == before


def test_partial_update_changes_only_the_given_fields(admin_client, record_type, record):
    before = record_json(record_type, record)

    response = admin_client.patch(record_type.detail_url(record.pk), record_type.changes, format="json")

    assert response.status_code == 200
    expected = {**before, **record_type.changes}
    assert response.json() == expected
    assert record_json(record_type, record) == expected


def test_update_cannot_change_the_id(admin_client, record_type, record):
    response = admin_client.patch(record_type.detail_url(record.pk), {"id": UNKNOWN_ID}, format="json")

    assert response.status_code == 200
    assert response.json()["id"] == str(record.pk)
    assert record_type.model.objects.filter(pk=record.pk).exists()
    assert not record_type.model.objects.filter(pk=UNKNOWN_ID).exists()


def test_update_unknown_id_returns_404(admin_client, record_type, record):
    response = admin_client.patch(record_type.detail_url(UNKNOWN_ID), record_type.changes, format="json")

    assert response.status_code == 404


# List


def test_list_returns_a_page_with_every_record(admin_client, record_type):
    records = [record_type.factory() for _ in range(3)]

    response = admin_client.get(record_type.url)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["next"] is None
    assert body["previous"] is None
    assert sorted(item["id"] for item in body["results"]) == sorted(str(r.pk) for r in records)
    by_id = {item["id"]: item for item in body["results"]}
    assert all(by_id[str(r.pk)] == record_json(record_type, r) for r in records)


def test_list_is_empty_without_records(admin_client, record_type):
    response = admin_client.get(record_type.url)

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_list_page_size_splits_the_records_into_pages(admin_client, record_type):
    records = [record_type.factory() for _ in range(3)]

    first = admin_client.get(record_type.url, {"page_size": 2}).json()
    second = admin_client.get(first["next"]).json()

    assert first["count"] == second["count"] == 3
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert first["next"].startswith(f"http://testserver{record_type.url}?")
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert second["previous"] is not None
    listed = [item["id"] for item in first["results"] + second["results"]]
    assert sorted(listed) == sorted(str(r.pk) for r in records)


def test_list_page_beyond_the_last_returns_404(admin_client, record_type, record):
    response = admin_client.get(record_type.url, {"page": 5})

    assert response.status_code == 404


# Delete


def test_delete_returns_204_and_removes_the_record(admin_client, record_type, record):
    other = record_type.factory()

    response = admin_client.delete(record_type.detail_url(record.pk))

    assert response.status_code == 204
    assert not record_type.model.objects.filter(pk=record.pk).exists()
    assert record_type.model.objects.filter(pk=other.pk).exists()
    assert admin_client.get(record_type.detail_url(record.pk)).status_code == 404


def test_delete_unknown_id_returns_404(admin_client, record_type, record):
    response = admin_client.delete(record_type.detail_url(UNKNOWN_ID))

    assert response.status_code == 404
    assert record_type.model.objects.filter(pk=record.pk).exists()


# Authentication and permission


ACTIONS = ["list", "create", "retrieve", "update", "delete", "files"]


@pytest.mark.parametrize("action", ACTIONS)
def test_without_token_returns_401_and_changes_nothing(anonymous, record_type, record, action):
    before = record_json(record_type, record)
    count = record_type.model.objects.count()

    response = perform(anonymous, record_type, action, record)

    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response["WWW-Authenticate"] == "Token"
    assert record_type.model.objects.count() == count
    assert record_json(record_type, record) == before


def test_with_unknown_token_returns_401(anonymous, record_type, record):
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = anonymous.get(record_type.url)

    assert response.status_code == 401
    assert "results" not in response.json()


@pytest.mark.parametrize("action", ACTIONS)
def test_user_without_a_role_gets_403_and_changes_nothing(client_for, record_type, record, action):
    client = client_for(UserFactory())
    before = record_json(record_type, record)
    count = record_type.model.objects.count()

    response = perform(client, record_type, action, record)

    assert response.status_code == 403
    assert response.json() == {"detail": "Permission denied"}
    assert record_type.model.objects.count() == count
    assert record_json(record_type, record) == before
