"""Password logins lock a client address out after too many failures (clinic/logins.py, django-axes)."""

import json
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client

from tests.factories import UserFactory

PASSWORD = "the-right-password-42"


@pytest.fixture
def staff(db):
    user = UserFactory(role="admin", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def three_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return settings


def log_in(url: str, username: str, password: str, address: str = "203.0.113.5"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": username, "password": password, "next": "/admin/"})
    return response, client


@pytest.mark.parametrize("url", ["/admin/login/", "/api/auth/login/"], ids=["admin", "browsable-api"])
def test_login_is_locked_after_n_wrong_passwords_even_with_the_right_one(three_failures, staff, url):
    statuses = [log_in(url, staff.username, "wrong")[0].status_code for _ in range(3)]

    response, client = log_in(url, staff.username, PASSWORD)

    assert statuses == [200, 200, 429]  # the form again twice; the third failure locks
    assert response.status_code == 429
    assert json.loads(response.content)["detail"] == "Too many failed logins: try again in 900 seconds."
    assert response["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session


def test_a_lockout_is_per_client_address(three_failures, staff):
    for _ in range(3):
        log_in("/admin/login/", staff.username, "wrong")

    response, client = log_in("/admin/login/", staff.username, PASSWORD, address="198.51.100.20")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_spraying_passwords_over_many_user_names_is_locked_too(three_failures, staff):
    for name in ["alice", "bob", "carol"]:
        log_in("/admin/login/", name, "wrong")

    assert log_in("/admin/login/", staff.username, PASSWORD)[0].status_code == 429


def test_the_lockout_ends_after_its_cool_off(three_failures, staff):
    for _ in range(3):
        log_in("/admin/login/", staff.username, "wrong")
    assert log_in("/admin/login/", staff.username, PASSWORD)[0].status_code == 429

    # The failures were 16 minutes ago: past the 15 minutes' cool-off.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))

    assert log_in("/admin/login/", staff.username, PASSWORD)[0].status_code == 302


def test_a_proxy_header_the_client_wrote_does_not_unlock_it(three_failures, staff):
    # Without FILES_CLIENT_ADDRESS_HEADER, X-Forwarded-For and X-Real-IP are the client's words, not its address.
    for n in range(3):
        Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}", HTTP_X_REAL_IP=f"10.0.1.{n}").post(
            "/admin/login/", {"username": staff.username, "password": "wrong"}
        )

    assert log_in("/admin/login/", staff.username, PASSWORD)[0].status_code == 429
