"""Fixtures shared by the whole suite.

``pytest --storage=s3`` runs the suite with the files' bytes in S3: a real
S3-protocol server (moto's standalone server) started on loopback for the
session, reached through django-storages and boto3 over HTTP.
"""

import socket
import types
import uuid
from contextlib import contextmanager
from urllib.parse import quote

import boto3
import pytest
from django.core.cache import cache
from django.core.files.storage import storages
from django.db import connection
from rest_framework.test import APIClient

from files import audit, caching
from tests.factories import UserFactory
from tests.servers import skip_outside_ci

S3_BUCKET = "clinic-files-test"


def pytest_addoption(parser):
    parser.addoption("--storage", choices=["local", "s3"], default="local", help="where tests keep files' bytes")


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server on a free loopback port, with the test bucket."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    _s3_client(endpoint).create_bucket(Bucket=S3_BUCKET)
    yield endpoint
    server.stop()


def _s3_client(endpoint: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )


def s3_backend(endpoint: str) -> dict:
    """A ``STORAGES`` entry for the test bucket, under a prefix no other test uses."""
    return {
        "BACKEND": "files.storages.S3FileStorage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": endpoint,
            "access_key": "test",
            "secret_key": "test",
            "region_name": "us-east-1",
            "signature_version": "s3v4",
            "location": f"test-{uuid.uuid4().hex}",
            "default_acl": None,
            "file_overwrite": False,
        },
    }


@pytest.fixture(autouse=True)
def files_storage(request, settings, tmp_path):
    """Every test stores its files in a fresh place of its own: a folder, or a prefix of the S3 bucket.

    Its uploads stream to a fresh folder too (``tmp_path / "uploads"``, made on the first upload).
    """
    settings.FILES_UPLOAD_TEMP_DIR = tmp_path / "uploads"
    if request.config.getoption("--storage") == "s3":
        backend = s3_backend(request.getfixturevalue("s3_endpoint"))
    else:
        backend = _local_backend(settings, tmp_path)
    settings.STORAGES = {**settings.STORAGES, "default": backend}


def _local_backend(settings, tmp_path) -> dict:
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
            "location": tmp_path / "files",
        },
    }


@pytest.fixture
def on_local_disk(settings, tmp_path):
    """Files stored on local disk for this test, whatever ``--storage`` says."""
    settings.STORAGES = {**settings.STORAGES, "default": _local_backend(settings, tmp_path)}


@pytest.fixture
def on_s3(settings, s3_endpoint):
    """Files stored in S3 for this test, whatever ``--storage`` says."""
    settings.STORAGES = {**settings.STORAGES, "default": s3_backend(s3_endpoint)}


@pytest.fixture(scope="session", autouse=True)
def flush_sets_the_audit_trail_trigger_aside():
    """Let the flush that ends each transactional test empty the audit table on PostgreSQL.

    The table refuses TRUNCATE (files/migrations/0004_...), and a flush is
    one TRUNCATE of every table. The trigger is disabled and enabled again
    inside the flush's own transaction, so no other session ever sees it off.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    flush = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **options) -> list[str]:
        statements = flush(self, style, tables, **options)
        if "files_auditevent" not in tables or not statements:
            return statements
        trigger = "files_auditevent_no_truncate"
        return [
            f"ALTER TABLE files_auditevent DISABLE TRIGGER {trigger}",
            *statements,
            f"ALTER TABLE files_auditevent ENABLE TRIGGER {trigger}",
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(autouse=True)
def fresh_caches():
    """The in-process caches (the download path's, Django's: the throttles' counts) start empty in every test,
    and no audit event waits from another."""
    caching.clear_all()
    cache.clear()  # local memory (tests/settings.py), never a shared Redis
    audit.discard_waiting()


@pytest.fixture
def auth_clock(monkeypatch, settings):
    """The auth caches' clock, stopped at 1000 s; set ``auth_clock.now`` to move it (FILES_AUTH_CACHE_SECONDS: 10).

    Cached answers end with the window of this clock they were loaded in: a test that relies on one still
    being there a moment later stops the clock, which a window's end could otherwise cross in between.
    """
    settings.FILES_AUTH_CACHE_SECONDS = 10
    clock = types.SimpleNamespace(now=1000.0)
    monkeypatch.setattr(caching, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    return clock


@pytest.fixture
def storage():
    """The storage the files app writes to (the one ``files_storage`` set up)."""
    return storages["default"]


@pytest.fixture
def client_for():
    """``client_for(user)``: an API client sending that user's token."""

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")
        return client

    return make


@pytest.fixture
def anonymous():
    """An API client without credentials."""
    return APIClient()


@pytest.fixture
def admin(db):
    """A user in the clinic's admin role."""
    return UserFactory(role="admin")


@pytest.fixture
def receptionist(db):
    return UserFactory(role="receptionist")


@pytest.fixture
def doctor_user(db):
    return UserFactory(role="doctor")


@pytest.fixture
def admin_client(admin, client_for) -> APIClient:
    return client_for(admin)


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago): connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def stalled_server():
    """``host:port`` of a loopback server that takes connections and never answers: a hung dependency."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(128)  # connections complete in the backlog and are never accepted, nor read
        yield f"127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def database_down(transactional_db):
    """``with database_down():`` the database is unreachable from every thread: connections go to a closed port.

    The machine's PostgreSQL server keeps running (others use it): only this
    test's connection settings change, and are put back after the block.
    """
    if connection.vendor != "postgresql":
        pytest.skip("a database server to be unreachable from: PostgreSQL (CI runs on it)")

    @contextmanager
    def down():
        database = connection.settings_dict  # shared by every thread's connection
        address = database["HOST"], database["PORT"]
        connection.close()
        database["HOST"], database["PORT"] = "127.0.0.1", str(closed_port())
        try:
            yield
        finally:
            database["HOST"], database["PORT"] = address
            connection.close()

    return down


@pytest.fixture
def database_url() -> str:
    """The test database, for a server process (tests/servers.py): only a server database is shared by processes."""
    if connection.vendor != "postgresql":
        skip_outside_ci("another process reaches the test database only on PostgreSQL")
    db = connection.settings_dict
    credentials = f"{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
