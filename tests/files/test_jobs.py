"""Background jobs on a real Celery worker with a real Redis broker (redis://127.0.0.1:6379/15).

The worker runs in this process (``celery.contrib.testing.worker``), against
the test database; the API commits for real (transactional tests), so jobs
are sent after commit exactly as in production.
"""

import time

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from clinic.celery import app
from demo import samples
from files import derivatives, tasks
from files.models import Derivative
from tests.factories import FileFactory, PatientFactory
from tests.files.test_upload import named, upload_url

BROKER = "redis://127.0.0.1:6379/15"

# serialized_rollback: a transactional test flushes the tables, the role groups of the data migration with them.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def celery_worker():
    """A Celery worker consuming from a Redis database of its own, emptied first."""
    redis.Redis.from_url(BROKER).flushdb()
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=BROKER, task_always_eager=False)
    # Eager jobs of earlier tests opened the producer pool on the default broker: drop it, as a forked worker does.
    app._after_fork()
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.update(saved)
        app._after_fork()


def wait_for(condition, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_photo_and_pdf_uploaded_through_the_api_get_thumbnail_urls_from_a_worker(celery_worker, admin_client):
    patient = PatientFactory()
    parts = [named("photo.jpg", samples.jpeg_bytes(640, 480)), named("report.pdf", samples.pdf_bytes())]

    uploaded = admin_client.post(upload_url(patient), {"file": parts}).json()

    for item in uploaded:
        shown = wait_for(
            lambda item=item: admin_client.get(f"/api/files/{item['id']}/").json()["thumbnail_url"] and item
        )
        assert shown
    photo, pdf = (admin_client.get(f"/api/files/{item['id']}/").json() for item in uploaded)
    assert (photo["width"], photo["height"], pdf["pages"]) == (640, 480, 1)
    assert admin_client.get(photo["thumbnail_url"]).status_code == 200


def test_a_failed_storage_read_is_retried_with_backoff_until_it_works(celery_worker, monkeypatch):
    patient = PatientFactory()
    read = derivatives._read_original
    calls = []

    def flaky_read(file):
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise OSError("storage unreachable")
        return read(file)

    monkeypatch.setattr(derivatives, "_read_original", flaky_read)

    photo = FileFactory(owner=patient)  # committed: its job is on its way

    wait_for(lambda: Derivative.objects.filter(file=photo, state="ready").count() == 2)
    assert set(photo.derivatives.values_list("attempts", flat=True)) == {2}
    assert calls[1] - calls[0] >= tasks.RETRY_BASE_SECONDS / 2  # waited before trying again


def test_retry_delays_double_up_to_a_cap_with_jitter():
    for retries in range(12):
        ceiling = min(2 * 2**retries, 600)
        assert ceiling / 2 <= tasks.retry_delay(retries) <= ceiling


def test_a_job_for_a_file_gone_meanwhile_does_nothing_and_the_worker_goes_on(celery_worker):
    gone = "01a22500-0000-7000-8000-000000000001"
    tasks.make_derivatives.delay(gone)
    photo = FileFactory(owner=PatientFactory())  # its job comes after, on the same single worker

    wait_for(lambda: Derivative.objects.filter(file=photo, state="ready").count() == 2)
    assert not Derivative.objects.filter(file_id=gone).exists()
