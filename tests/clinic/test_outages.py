"""Outages are contained: bounded waits, 503 with ``Retry-After`` and what failed, never 500.

The database is made unreachable by pointing this test's connections at a
closed loopback port (the machine's PostgreSQL keeps running: others use
it), or made to hang by a lock another connection holds; the object store
is made to hang by a loopback server that takes connections and never
answers.
"""

import threading
import time

import psycopg
import pytest
from django.db import connection
from django.test import Client

from files import audit, backends, signing
from files.models import AuditEvent
from tests.factories import FileFactory, UserFactory
from tests.wsgi import wsgi_request

# Transactional: the outage must reach every thread's connection, and the rows other connections read.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DATABASE_DOWN = {"detail": "The database is unavailable, try again later"}


def s3_at(settings, address: str) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "files.storages.S3FileStorage",
            "OPTIONS": {
                "bucket_name": "b",
                "endpoint_url": f"http://{address}",
                "access_key": "x",
                "secret_key": "x",
                "region_name": "us-east-1",
            },
        },
    }


def test_postgres_connections_have_a_connect_timeout_and_a_statement_timeout(db):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's own settings (CI runs on it)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("30s",)
    assert connection.get_connection_params()["connect_timeout"] == 5


def test_a_statement_held_past_the_statement_timeout_answers_503(settings):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's statement_timeout (CI runs on it)")
    admin = UserFactory(role="admin")
    file = FileFactory()
    database = connection.settings_dict
    options = database["OPTIONS"]["options"]
    address = {"host": database["HOST"] or "127.0.0.1", "port": database["PORT"] or 5432}
    with psycopg.connect(**address, user=database["USER"], dbname=database["NAME"]) as holder:
        holder.execute("LOCK TABLE files_file IN ACCESS EXCLUSIVE MODE")  # a hung database, as requests see it
        database["OPTIONS"]["options"] = "-c statement_timeout=300"
        connection.close()
        try:
            started = time.monotonic()
            response = _client(admin).get(f"/api/files/{file.pk}/")
            seconds = time.monotonic() - started
        finally:
            database["OPTIONS"]["options"] = options
            connection.close()

    assert (response.status_code, response.json(), response["Retry-After"]) == (503, DATABASE_DOWN, "5")
    assert seconds < 2


def test_the_api_answers_503_while_the_database_is_down(database_down):
    admin = UserFactory(role="admin")
    file = FileFactory()

    with database_down():
        response = _client(admin).get(f"/api/files/?entity_id={file.entity_id}")

    assert (response.status_code, response.json(), response["Retry-After"]) == (503, DATABASE_DOWN, "5")


def test_the_admin_answers_503_while_the_database_is_down(database_down):
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(role="admin", is_staff=True))

    with database_down():
        response = client.get("/admin/files/file/")

    assert (response.status_code, response.json(), response["Retry-After"]) == (503, DATABASE_DOWN, "5")


def test_signed_downloads_while_the_database_is_down_serve_what_the_worker_checked_and_503_the_rest(
    database_down, settings, auth_clock
):
    settings.FILES_AUDIT_FLUSH_SECONDS = 3600  # batched, as in production
    user = UserFactory(role="admin")
    checked, unchecked = FileFactory(), FileFactory()
    checked_url, unchecked_url = _signed(checked, user), _signed(unchecked, user)
    assert wsgi_request(checked_url).status == 200

    try:
        with database_down():
            served = wsgi_request(checked_url)
            refused = wsgi_request(unchecked_url)
    finally:
        audit.stop_writer()  # the database is back: what waited is written

    assert served.status == 200
    assert (refused.status, refused["Retry-After"], refused.body) == (
        503,
        "5",
        b'{"detail": "The database is unavailable, try again later"}',
    )
    downloads = AuditEvent.objects.filter(action="download").order_by("id")
    assert [(str(event.file_id), event.status) for event in downloads] == [
        (str(checked.pk), 200),
        (str(checked.pk), 200),
        (str(unchecked.pk), 503),
    ]


def test_readyz_names_the_database_when_it_is_unreachable(database_down):
    with database_down():
        response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "failing", "storage": "ok"}}


def test_readyz_answers_within_a_second_naming_a_stalled_store(settings, stalled_server):
    s3_at(settings, stalled_server)

    started = time.monotonic()
    response = Client().get("/readyz")
    seconds = time.monotonic() - started

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "storage": "timeout"}}
    assert seconds < 1.5


def test_a_download_from_a_stalled_store_fails_within_the_storage_timeouts(settings, stalled_server):
    admin = UserFactory(role="admin")
    file = FileFactory()
    settings.FILES_STORAGE_READ_TIMEOUT = 0.5
    settings.FILES_STORAGE_MAX_ATTEMPTS = 1
    s3_at(settings, stalled_server)

    started = time.monotonic()
    response = wsgi_request(f"/static/{file.path}", headers={"Authorization": f"Token {admin.auth_token.key}"})
    seconds = time.monotonic() - started

    assert (response.status, response["Retry-After"]) == (503, "5")
    # One 0.5 s read timeout, not botocore's default of a minute a try: a bound with room for a loaded machine.
    assert seconds < 5


def test_a_download_finding_every_place_toward_storage_held_by_a_stalled_store_answers_503_at_once(
    settings, monkeypatch
):
    settings.FILES_STORAGE_CONCURRENCY = 1
    admin = UserFactory(role="admin")
    file = FileFactory()

    with backends.storage_slot():  # another request, stuck on the store: no place given back for a while
        backends.storage_places(1).given_back -= backends.STALLED_SECONDS
        started = time.monotonic()
        response = wsgi_request(f"/static/{file.path}", headers={"Authorization": f"Token {admin.auth_token.key}"})
        seconds = time.monotonic() - started

    assert (response.status, response["Retry-After"]) == (503, "5")
    assert response.body == b'{"detail": "File storage is unavailable, try again later"}'
    assert seconds < 0.5


def test_a_download_finding_every_place_held_by_requests_that_are_only_slow_waits_for_one(settings):
    """A busy process's places come back, later than FILES_STORAGE_WAIT: its downloads wait, not 503."""
    settings.FILES_STORAGE_CONCURRENCY = 1
    settings.FILES_STORAGE_WAIT = 0.05
    admin = UserFactory(role="admin")
    file = FileFactory()
    held, release = threading.Event(), threading.Event()

    def slow_request():
        with backends.storage_slot():
            held.set()
            release.wait(5)

    other = threading.Thread(target=slow_request)
    other.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()  # six of this download's waits
    response = wsgi_request(f"/static/{file.path}", headers={"Authorization": f"Token {admin.auth_token.key}"})
    other.join()

    assert response.status == 200


def _client(user) -> Client:
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")


def _signed(file, user) -> str:
    query = signing.sign(
        file_id=str(file.pk), entity_id=str(file.entity_id), extension=file.extension, issued_to=str(user.pk)
    )
    return f"/static/{file.path}?{query}"
