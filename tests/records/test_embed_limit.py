"""A record embeds a bounded number of its files, says how many it has, and links to the paginated list.

A record with thousands of files must not cost thousands of rows: the
database returns at most ``FILES_EMBED_LIMIT`` of each record's files, in the
same one query whatever their number.
"""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from uuid_utils.compat import uuid7

from files.models import File
from tests.factories import FileFactory, UserFactory

MANY = 2_000


def add_rows(record, count: int) -> list[File]:
    """``count`` file rows of ``record`` inserted in one statement (no bytes: the listing never reads them)."""
    owner = ContentType.objects.get_for_model(record)
    rows = []
    for _ in range(count):
        file_id = uuid7()
        rows.append(
            File(
                id=file_id,
                entity_type=owner,
                entity_id=record.pk,
                category="report",
                extension=".pdf",
                media_type="application/pdf",
                name="report.pdf",
                size=1,
                sha256="0" * 64,
                storage_name=f"{record.pk}/{file_id}.pdf",
            )
        )
    return File.objects.bulk_create(rows)


def queries_of(client, url: str) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response.json(), len(queries)


def test_a_record_with_many_files_embeds_the_first_limit_and_counts_them_all(
    admin_client, record_type, record, settings
):
    settings.FILES_EMBED_LIMIT = 25
    files = add_rows(record, MANY)

    body = admin_client.get(record_type.detail_url(record.pk)).json()

    assert [item["id"] for item in body["files"]] == [str(file.pk) for file in sorted(files, key=lambda f: f.pk)[:25]]
    assert body["files_count"] == MANY
    assert body["files_url"] == f"http://testserver/api/files/?entity_id={record.pk}"


def test_the_files_url_pages_every_file_the_record_has(admin_client, record_type, record, settings):
    settings.FILES_EMBED_LIMIT = 2
    add_rows(record, 5)
    files_url = admin_client.get(record_type.detail_url(record.pk)).json()["files_url"]

    listed = admin_client.get(files_url, {"page_size": 100}).json()

    assert listed["count"] == 5
    assert {item["entity_id"] for item in listed["results"]} == {str(record.pk)}


def test_a_record_with_many_files_costs_the_queries_and_rows_of_one_with_few(
    admin_client, record_type, record, settings
):
    settings.FILES_EMBED_LIMIT = 10
    few = record_type.factory()
    add_rows(few, 1)
    _, baseline = queries_of(admin_client, record_type.detail_url(few.pk))
    add_rows(record, MANY)

    with CaptureQueriesContext(connection) as queries:
        body, count = queries_of(admin_client, record_type.detail_url(record.pk))

    assert count == baseline
    assert (len(body["files"]), body["files_count"]) == (10, MANY)
    prefetch = next(query["sql"] for query in queries.captured_queries if "ROW_NUMBER()" in query["sql"])
    cursor_rows = _rows_returned(prefetch)
    assert cursor_rows == 10  # the database sends 10 rows, not 2,000


def _rows_returned(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return len(cursor.fetchall())


def test_a_page_of_records_with_many_files_costs_constant_queries_and_caps_each(
    admin_client, record_type, settings, django_assert_num_queries
):
    settings.FILES_EMBED_LIMIT = 3
    records = [record_type.factory() for _ in range(4)]
    for index, record in enumerate(records):
        add_rows(record, 2 + index * 500)
    _, queries = queries_of(admin_client, record_type.url)

    for record in records:
        add_rows(record, 300)
    with django_assert_num_queries(queries):
        body = admin_client.get(record_type.url).json()

    by_id = {item["id"]: item for item in body["results"]}
    for index, record in enumerate(records):
        item = by_id[str(record.pk)]
        assert (len(item["files"]), item["files_count"]) == (3, 2 + index * 500 + 300)
        assert {file["entity_id"] for file in item["files"]} == {str(record.pk)}


def test_a_record_under_the_limit_embeds_all_its_files(admin_client, record_type, record, settings):
    settings.FILES_EMBED_LIMIT = 3
    files = [FileFactory(owner=record) for _ in range(3)]

    body = admin_client.get(record_type.detail_url(record.pk)).json()

    assert [item["id"] for item in body["files"]] == [str(file.pk) for file in files]
    assert body["files_count"] == 3


def test_the_count_is_of_the_files_the_policy_shows_the_user(client_for, settings, record_type, record):
    # The count must not tell of files the user may not see.
    settings.FILES_PERMISSION_POLICY = "tests.records.test_files_embedding.ProfilePhotosOnlyPolicy"
    settings.FILES_EMBED_LIMIT = 2
    add_rows(record, 6)
    File.objects.filter(pk__in=File.objects.filter(entity_id=record.pk).values("pk")[:3]).update(category="profile")

    body = client_for(UserFactory(role="admin")).get(record_type.detail_url(record.pk)).json()

    assert [file["type"] for file in body["files"]] == ["profile", "profile"]
    assert body["files_count"] == 3


@pytest.mark.parametrize("action", ["create", "update"])
def test_a_created_or_changed_record_answers_with_the_same_bounded_files(
    admin_client, record_type, record, settings, action
):
    settings.FILES_EMBED_LIMIT = 2
    add_rows(record, 7)

    if action == "create":
        response = admin_client.post(record_type.url, record_type.payload(), format="json")
        expected = (0, 0)
    else:
        response = admin_client.patch(record_type.detail_url(record.pk), record_type.changes, format="json")
        expected = (2, 7)

    body = response.json()
    assert (len(body["files"]), body["files_count"]) == expected
