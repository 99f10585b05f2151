"""Calling the project's WSGI application (with its fast path) directly, as a server would."""

import io
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit
from wsgiref.util import FileWrapper, setup_testing_defaults

from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@dataclass
class WSGIResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    iterable: object

    def __getitem__(self, name: str) -> str:
        return self.headers[name]


@contextmanager
def test_connection_kept():
    """Keep the test's database connection open (its transaction is the test), as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def wsgi_request(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    remote_addr: str | None = None,
    server_environ: dict | None = None,
) -> WSGIResponse:
    """Send one request to ``clinic.wsgi.application``; ``headers`` are HTTP header names.

    ``remote_addr``: the peer's address as the WSGI server gives it (none by default).
    ``server_environ``: what else the WSGI server puts in the environ (its socket, its file wrapper).
    """
    from clinic.wsgi import application

    parts = urlsplit(url)
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "wsgi.input": io.BytesIO(),
        "wsgi.file_wrapper": FileWrapper,
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    if remote_addr is not None:
        environ["REMOTE_ADDR"] = remote_addr
    environ.update(server_environ or {})
    setup_testing_defaults(environ)
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = dict(response_headers)

    with test_connection_kept():
        iterable = application(environ, start_response)
        try:
            body = b"".join(iterable)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
    return WSGIResponse(captured["status"], captured["headers"], body, iterable)
