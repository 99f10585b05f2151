"""Listing records and their files costs a constant number of SQL queries, however many records there are."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from files.derivatives import file_derivatives_make
from tests.factories import FileFactory

FILES_PER_RECORD = 3


def _add_records(record_type, count: int) -> None:
    for _ in range(count):
        record = record_type.factory()
        for _ in range(FILES_PER_RECORD):
            FileFactory(owner=record)


def _list_and_count_queries(client, record_type, expected_records: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(record_type.url, {"page_size": 50})
    assert response.status_code == 200
    results = response.json()["results"]
    # The page really holds every record with every file, so the count covers fetching them.
    assert len(results) == expected_records
    assert all(len(item["files"]) == FILES_PER_RECORD for item in results)
    return len(queries)


def test_listing_1_or_10_records_with_their_files_costs_the_same_queries(admin_client, record_type):
    _add_records(record_type, 1)
    _list_and_count_queries(admin_client, record_type, 1)  # warms the per-process ContentType cache
    one = _list_and_count_queries(admin_client, record_type, 1)

    _add_records(record_type, 9)
    ten = _list_and_count_queries(admin_client, record_type, 10)

    assert ten == one


def test_listing_10_records_with_their_files_stays_within_the_query_budget(
    admin_client, record_type, django_assert_max_num_queries
):
    _add_records(record_type, 10)

    # Token and user, the user's and group's permissions, the count, the page, its files, their derivatives and
    # their versions.
    with django_assert_max_num_queries(8):
        response = admin_client.get(record_type.url)

    assert len(response.json()["results"]) == 10


@pytest.mark.parametrize("files_per_record", [1, 5])
def test_retrieving_a_record_costs_the_same_queries_whatever_its_files(admin_client, record_type, files_per_record):
    # One file in the baseline too: without any, Django skips the query of the files' derivatives.
    baseline_record = record_type.factory()
    FileFactory(owner=baseline_record)
    with CaptureQueriesContext(connection) as baseline:
        admin_client.get(record_type.detail_url(baseline_record.pk))
    record = record_type.factory()
    for _ in range(files_per_record):
        FileFactory(owner=record)

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(record_type.detail_url(record.pk))

    assert len(response.json()["files"]) == files_per_record
    assert len(queries) == len(baseline)


def test_a_page_of_100_records_with_files_and_their_derivatives_costs_a_constant_number_of_queries(
    admin_client, record_type, django_assert_max_num_queries
):
    for _ in range(100):
        file = FileFactory(owner=record_type.factory())
        file_derivatives_make(file_id=file.pk)

    with django_assert_max_num_queries(8):
        response = admin_client.get(record_type.url, {"page_size": 100})

    results = response.json()["results"]
    assert len(results) == 100
    assert all(item["files"][0]["thumbnail_url"] and item["files"][0]["preview_url"] for item in results)
