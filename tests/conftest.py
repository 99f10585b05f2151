"""Fixtures shared by the whole suite."""

import pytest
from django.core.files.storage import storages
from rest_framework.test import APIClient

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def files_root(settings, tmp_path):
    """Every test stores its files in a fresh folder of its own."""
    root = tmp_path / "files"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            **settings.STORAGES["default"],
            "OPTIONS": {**settings.STORAGES["default"]["OPTIONS"], "location": root},
        },
    }
    return root


@pytest.fixture
def storage():
    """The storage the files app writes to (the one ``files_root`` set up)."""
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
