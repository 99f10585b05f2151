"""Limits on noise (files.limits, files.api.throttling): a client refused again and again, or too busy, gets 429."""

import io
import json
import uuid

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from demo import samples
from files import audit
from files.models import AuditEvent
from tests.factories import UserFactory
from tests.wsgi import wsgi_request

Action = AuditEvent.Action


@pytest.fixture
def refusals_limited(settings):
    """Three refusals a day per client, the client's address in X-Real-IP (as behind the shipped nginx)."""
    settings.FILES_REFUSAL_RATE = "3/day"
    settings.FILES_CLIENT_ADDRESS_HEADER = "HTTP_X_REAL_IP"
    return settings


def forged(file) -> str:
    return f"/static/{file.path}?expires=9999999999&issued_to=1&signature=forged"


def assert_throttled(status: int, headers, body: bytes) -> None:
    assert status == 429
    assert headers["Content-Type"] == "application/json"
    assert 0 < int(headers["Retry-After"]) <= 86400
    assert json.loads(body)["detail"].startswith("Request was throttled. Expected available in ")


# Refused downloads.


def test_refused_downloads_from_one_address_are_answered_429_past_the_limit(refusals_limited, fetch, png_file):
    for _ in range(3):
        assert fetch(forged(png_file), **{"X-Real-IP": "203.0.113.9"}).status == 403

    answer = fetch(forged(png_file), **{"X-Real-IP": "203.0.113.9"})

    assert_throttled(answer.status, answer, answer.body)
    assert fetch(forged(png_file), **{"X-Real-IP": "203.0.113.10"}).status == 403  # another client


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Token not-a-token"}], ids=["no-credentials-401", "bad-token-401"]
)
def test_every_kind_of_refused_download_is_counted(refusals_limited, fetch, png_file, headers):
    for _ in range(3):
        assert fetch(f"/static/{png_file.path}", **headers).status == 401
    assert fetch(f"/static/{png_file.path}", **headers).status == 429
    # A file that is not there, or one the user may not see, counts as much.
    assert fetch(f"/static/{png_file.entity_id}/{uuid.uuid4()}.png", **headers).status == 429


def test_allowed_downloads_are_neither_counted_nor_throttled(refusals_limited, fetch, admin, png_file):
    for _ in range(10):
        assert fetch(f"/static/{png_file.path}", token=admin.auth_token.key).status == 200
    for _ in range(4):
        fetch(forged(png_file))
    assert fetch(forged(png_file)).status == 429

    # A client with valid credentials behind the same address (a clinic's NAT) still gets its files.
    assert fetch(f"/static/{png_file.path}", token=admin.auth_token.key).status == 200


def test_an_ipv6_client_is_counted_by_its_64_network(refusals_limited, png_file):
    for host in range(1, 4):
        wsgi_request(forged(png_file), headers={"X-Real-IP": f"2001:db8:1:2::{host}"})

    assert wsgi_request(forged(png_file), headers={"X-Real-IP": "2001:db8:1:2:ffff::4"}).status == 429
    assert wsgi_request(forged(png_file), headers={"X-Real-IP": "2001:db8:1:3::1"}).status == 403


def test_throttled_downloads_are_one_event_and_a_count(refusals_limited, png_file, monkeypatch):
    now = audit.timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr(audit, "_now", now.timestamp)
    for _ in range(13):
        wsgi_request(forged(png_file), headers={"X-Real-IP": "203.0.113.9"})
    audit.stop_writer()

    recorded = [
        (e.status, e.count, e.file_id, e.detail)
        for e in AuditEvent.objects.filter(action=Action.DOWNLOAD).order_by("id")
    ]
    signature = 'Invalid file URL signature (claimed issued_to="1")'
    assert recorded == [
        (403, 1, png_file.id, signature),
        (429, 1, None, "Request was throttled."),
        (403, 2, png_file.id, signature),
        (429, 9, None, "Request was throttled."),
    ]


def redis_cache(location: str) -> dict:
    # A prefix of this test's own: the Redis is shared (other runs, Celery); its keys expire with their window.
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def test_refusals_are_counted_in_redis(refusals_limited, png_file):
    refusals_limited.CACHES = redis_cache("redis://127.0.0.1:6379/0")

    statuses = [wsgi_request(forged(png_file)).status for _ in range(4)]
    # Another process (a fresh connection) sees the same count.
    caches.close_all()
    del caches["default"]

    assert [*statuses, wsgi_request(forged(png_file)).status] == [403, 403, 403, 429, 429]


def test_an_unreachable_cache_counts_nothing_and_answers_as_before(refusals_limited, png_file, admin, client_for):
    refusals_limited.CACHES = redis_cache("redis://127.0.0.1:1/0")  # nothing listens there
    refusals_limited.REST_FRAMEWORK = {
        **refusals_limited.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1/day", "user": "1/day", "uploads": "1/day"},
    }

    assert [wsgi_request(forged(png_file)).status for _ in range(5)] == [403] * 5
    assert [client_for(admin).get("/api/patients/").status_code for _ in range(3)] == [200] * 3


# The API.


@pytest.fixture
def rates(settings):
    """``rates(anon=..., user=..., uploads=...)``: the API's throttle rates for this test."""

    def set_rates(**values):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "uploads": None, **values},
        }

    return set_rates


def test_api_requests_are_throttled_per_user(rates, admin, client_for):
    rates(user="3/day")
    for _ in range(3):
        assert client_for(admin).get("/api/patients/").status_code == 200

    response = client_for(admin).get("/api/patients/")

    assert_throttled(response.status_code, response, response.content)
    assert client_for(UserFactory(role="admin")).get("/api/patients/").status_code == 200


def test_anonymous_api_requests_are_throttled_per_address_whatever_x_forwarded_for_says(rates):
    rates(anon="2/day")
    statuses = [
        APIClient(REMOTE_ADDR="198.51.100.7").get("/api/schema/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code
        for n in range(3)
    ]

    assert statuses == [200, 200, 429]
    assert APIClient(REMOTE_ADDR="198.51.100.8").get("/api/schema/").status_code == 200


def png_part() -> io.BytesIO:
    part = io.BytesIO(samples.png_bytes())
    part.name = "scan.png"
    return part


def test_uploads_have_a_stricter_rate_of_their_own(rates, admin, client_for, patient):
    rates(user="100/day", uploads="2/day")
    client = client_for(admin)
    url = f"/api/patients/{patient.pk}/files/"

    statuses = [client.post(url, {"file": png_part()}).status_code for _ in range(3)]

    assert statuses == [201, 201, 429]
    assert client.get(url).status_code == 200  # reading is not uploading
    assert client_for(UserFactory(role="admin")).post(url, {"file": png_part()}).status_code == 201


def test_a_bad_token_storm_on_deletion_is_throttled_and_counted(refusals_limited, png_file, monkeypatch):
    now = audit.timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr(audit, "_now", now.timestamp)
    client = APIClient(HTTP_X_REAL_IP="203.0.113.9")
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    statuses = [client.delete(f"/static/delete_file/{uuid.uuid4()}").status_code for _ in range(6)]
    audit.stop_writer()

    assert statuses == [401, 401, 401, 429, 429, 429]
    events = AuditEvent.objects.filter(action=Action.DELETE).order_by("id")
    assert [(event.status, event.count, event.file_id is None) for event in events] == [
        (401, 1, False),
        (401, 1, False),
        (401, 1, False),
        (429, 1, True),
        (429, 2, True),
    ]
