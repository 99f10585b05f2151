import pytest
from rest_framework.test import APIClient

from tests.clamd import started_clamd
from tests.factories import FileFactory, PatientFactory
from tests.wsgi import wsgi_request


@pytest.fixture
def patient(db):
    return PatientFactory()


@pytest.fixture
def png_file(patient):
    """A PNG owned by ``patient``."""
    return FileFactory(owner=patient, name="photo.png")


class Answer:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def __getitem__(self, name: str) -> str:
        return self.headers[name]


@pytest.fixture(params=["fast path", "django view"])
def fetch(request):
    """``fetch(url, token=None, method="GET", **headers)``: one download request, by the path under test."""

    def through_fast_path(url, *, token=None, method="GET", **headers):
        if token:
            headers["Authorization"] = f"Token {token}"
        response = wsgi_request(url, method=method, headers=headers)
        return Answer(response.status, response.headers, response.body)

    def through_django(url, *, token=None, method="GET", **headers):
        client = APIClient()
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
        response = client.generic(method, url, **meta)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return Answer(response.status_code, response.headers, body)

    return through_fast_path if request.param == "fast path" else through_django


@pytest.fixture(scope="session")
def clamd():
    """A real clamd with the suite's signatures (tests/clamav/), for the whole session."""
    clamd = started_clamd()
    yield clamd
    clamd.close()


@pytest.fixture
def scanning(settings, clamd):
    """Malware scanning on, with the session's clamd."""
    settings.FILES_CLAMD = clamd.socket
    settings.FILES_CLAMD_TIMEOUT = 10
    return clamd


@pytest.fixture
def own_clamd(settings):
    """A clamd of this test's own, to stop and start again; scanning on with it."""
    clamd = started_clamd()
    settings.FILES_CLAMD = clamd.socket
    settings.FILES_CLAMD_TIMEOUT = 10
    yield clamd
    clamd.close()
