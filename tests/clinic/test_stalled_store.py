"""A stalled object store cannot take the service down: the shipped gunicorn config, a store that never answers.

gunicorn runs gunicorn.conf.py with 1 worker of 4 threads against the test
database, its files in S3 at a loopback server that takes connections and
never answers. Twenty thumbnail downloads at once (a patient's page) must
not stop ``/healthz``, the API or ``/readyz`` from answering within a second.
"""

import http.client
import json
import threading
import time

import pytest

from files import signing
from tests.factories import FileFactory, UserFactory
from tests.servers import GUNICORN_COMMAND, free_port, get, gunicorn_env, running

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

THUMBNAILS = 20
FAST_ENOUGH = 1.0


@pytest.fixture
def gunicorn_on_a_stalled_store(database_url, stalled_server, tmp_path):
    port = free_port()
    env = gunicorn_env(
        port=port,
        database_url=database_url,
        FILES_BACKEND="s3",
        AWS_S3_ENDPOINT_URL=f"http://{stalled_server}",
        AWS_STORAGE_BUCKET_NAME="clinic-files",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_S3_REGION_NAME="us-east-1",
        # Half the threads may wait on storage: the other half answers everything else.
        FILES_STORAGE_CONCURRENCY="2",
    )
    with running(GUNICORN_COMMAND, env=env, log=tmp_path / "gunicorn.log", port=port):
        yield port


def get_with(port: int, path: str, headers: dict[str, str], *, timeout: float = 30) -> tuple[int | None, dict, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, dict(response.getheaders()), time.perf_counter() - started
    except OSError:
        return None, {}, time.perf_counter() - started
    finally:
        conn.close()


def test_twenty_thumbnails_from_a_stalled_store_leave_healthz_the_api_and_readyz_answering(
    gunicorn_on_a_stalled_store,
):
    port = gunicorn_on_a_stalled_store
    user = UserFactory(role="admin")
    files = [FileFactory() for _ in range(THUMBNAILS)]  # stored on this test's disk; gunicorn looks in the store
    token = {"Authorization": f"Token {user.auth_token.key}"}
    urls = [f"/static/{file.path}?{_signed_query(file, user)}" for file in files]
    thumbnails: list[tuple[int | None, dict, float]] = []
    loading = [threading.Thread(target=lambda url=url: thumbnails.append(get_with(port, url, {}))) for url in urls]
    for thread in loading:
        thread.start()
    time.sleep(1.5)  # every thumbnail request has reached gunicorn; two of them wait on the store

    answers = {
        "healthz": get(port, "/healthz", timeout=FAST_ENOUGH * 2),
        "readyz": get(port, "/readyz", timeout=FAST_ENOUGH * 2),
    }
    api_status, _, api_seconds = get_with(port, f"/api/files/{files[0].pk}/", token, timeout=FAST_ENOUGH * 2)
    for thread in loading:
        thread.join(timeout=30)

    assert (answers["healthz"].status, answers["healthz"].body) == (200, b'{"status": "ok"}')
    assert answers["readyz"].status == 503
    assert json.loads(answers["readyz"].body)["checks"] == {"database": "ok", "storage": "timeout"}
    assert api_status == 200
    assert max(answers["healthz"].seconds, api_seconds) < FAST_ENOUGH
    assert answers["readyz"].seconds < FAST_ENOUGH + 0.5  # it waits its second for the store, then names it
    # Every thumbnail failed within the store's timeouts, as 503 with Retry-After, none as 500.
    outcomes = sorted((status, headers.get("Retry-After")) for status, headers, _ in thumbnails)
    assert outcomes == [(503, "5")] * THUMBNAILS
    assert max(seconds for _, _, seconds in thumbnails) < 2 * 5 + 2  # two tries of FILES_STORAGE_READ_TIMEOUT


def _signed_query(file, user) -> str:
    return str(
        signing.sign(
            file_id=str(file.pk), entity_id=str(file.entity_id), extension=file.extension, issued_to=str(user.pk)
        )
    )
