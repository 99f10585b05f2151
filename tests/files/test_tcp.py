"""A file body leaves gunicorn on a corked connection, uncorked once it is out (files/download/tcp.py).

The connection is a real TCP connection over loopback: the socket gunicorn
puts in the environ (``gunicorn.socket``). The file wrapper stands in for
gunicorn's: it sends nothing, it notes whether the connection was corked
at each piece of the body it hands on.
"""

import http.client
import os
import socket
from collections.abc import Iterator
from wsgiref.util import FileWrapper

import pytest

from demo import samples
from files.api.exports import export_link
from files.download.serving import SMALL_BODY
from files.download.tcp import corked
from files.export import export_build, export_request
from tests.factories import FileFactory
from tests.servers import GUNICORN_COMMAND, free_port, gunicorn_env, running
from tests.wsgi import wsgi_request

BIG = samples.pdf_bytes("x" * (3 * SMALL_BODY))


@pytest.fixture
def connection() -> Iterator[socket.socket]:
    """The server's end of a TCP connection over loopback."""
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()):
        accepted, _ = server.accept()
        with accepted:
            yield accepted


def is_corked(connection: socket.socket) -> bool:
    return connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 1


def noting_wrapper(connection: socket.socket, seen: list[bool]):
    class NotingWrapper(FileWrapper):
        def __next__(self):
            seen.append(is_corked(connection))
            return super().__next__()

    return NotingWrapper


def token_download(user, file, connection, seen: list[bool], **server_environ):
    return wsgi_request(
        f"/static/{file.path}",
        headers={"Authorization": f"Token {user.auth_token.key}"},
        server_environ={
            "gunicorn.socket": connection,
            "wsgi.file_wrapper": noting_wrapper(connection, seen),
            **server_environ,
        },
    )


def test_a_file_body_leaves_the_fast_path_corked_and_the_connection_is_uncorked_once_it_is_out(
    admin, patient, connection
):
    file = FileFactory(owner=patient, name="scan.pdf", content=BIG)
    seen: list[bool] = []

    response = token_download(admin, file, connection, seen)

    assert (response.status, response.body) == (200, BIG)
    assert seen and all(seen)
    assert not is_corked(connection)


def test_a_file_body_leaves_the_django_view_corked_and_the_connection_is_uncorked_once_it_is_out(
    client, admin, patient, connection
):
    # A session's download: the fast path leaves it to Django, whose response the server closes once sent.
    file = FileFactory(owner=patient, name="scan.pdf", content=BIG)
    client.force_login(admin)

    response = client.get(f"/static/{file.path}", **{"gunicorn.socket": connection})
    seen = []
    for piece in response.streaming_content:  # the test client closes the response after the last piece
        seen.append((is_corked(connection), piece))

    assert (response.status_code, b"".join(piece for _, piece in seen)) == (200, BIG)
    assert all(corked_then for corked_then, _ in seen)
    assert not is_corked(connection)


def test_an_export_zip_leaves_its_signed_link_corked_and_the_connection_is_uncorked_once_it_is_out(
    client, admin, patient, connection
):
    # Random letters: the ZIP compresses its members, and must still be bigger than a small body.
    FileFactory(owner=patient, name="scan.pdf", content=samples.pdf_bytes(os.urandom(2 * SMALL_BODY).hex()))
    export = export_request(record=patient, requested_by=admin)
    export_build(export_id=export.pk)
    export.refresh_from_db()
    assert export.size > SMALL_BODY  # sent from its file, not read in the request

    response = client.get(export_link(export), **{"gunicorn.socket": connection})
    seen = [(is_corked(connection), piece) for piece in response.streaming_content]

    assert (response.status_code, len(b"".join(piece for _, piece in seen))) == (200, export.size)
    assert all(corked_then for corked_then, _ in seen)
    assert not is_corked(connection)


def test_a_small_body_leaves_with_its_headers_uncorked(admin, patient, connection):
    # Read while answered and written in one piece after the headers: there is nothing to hold back.
    file = FileFactory(owner=patient, name="note.pdf", content=samples.pdf_bytes())
    seen: list[bool] = []

    response = token_download(admin, file, connection, seen)

    assert (response.status, response.body) == (200, samples.pdf_bytes())
    assert seen == []
    assert not is_corked(connection)


def test_an_http2_connection_is_never_corked(admin, patient, connection):
    # Its other streams would wait behind the cork.
    file = FileFactory(owner=patient, name="scan.pdf", content=BIG)
    seen: list[bool] = []

    response = token_download(admin, file, connection, seen, HTTP_VERSION="2")

    assert (response.status, response.body) == (200, BIG)
    assert seen and not any(seen)


def test_a_connection_closed_before_the_answer_still_gets_its_body_handed_to_the_server(admin, patient, connection):
    file = FileFactory(owner=patient, name="scan.pdf", content=BIG)
    connection.close()

    response = wsgi_request(
        f"/static/{file.path}",
        headers={"Authorization": f"Token {admin.auth_token.key}"},
        server_environ={"gunicorn.socket": connection},
    )

    assert (response.status, response.body) == (200, BIG)


def test_closing_a_corked_body_closes_its_file_and_uncorks_even_when_the_file_fails_to_close(connection):
    class FailingFile:
        def read(self, size=-1):
            return b""

        def close(self):
            raise OSError("the store's stream broke")

    body = corked(FailingFile(), {"gunicorn.socket": connection})
    assert is_corked(connection)

    with pytest.raises(OSError, match="stream broke"):
        body.close()
    assert not is_corked(connection)


def test_without_the_servers_socket_the_body_is_handed_on_as_it_is():
    body = object()  # not looked at

    assert corked(body, {}) is body


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_gunicorn_sends_corked_file_bodies_whole_and_keeps_the_connection_for_the_next_request(
    tmp_path, database_url, settings, on_local_disk, admin, patient
):
    file = FileFactory(owner=patient, name="scan.pdf", content=BIG)
    port = free_port()
    root = settings.STORAGES["default"]["OPTIONS"]["location"]
    env = gunicorn_env(port=port, database_url=database_url, FILES_BACKEND="local", FILES_ROOT=str(root))
    auth = {"Authorization": f"Token {admin.auth_token.key}"}

    with running(GUNICORN_COMMAND, env=env, log=tmp_path / "gunicorn.log", port=port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answers, connections = [], set()
        for headers in (auth, {**auth, "Range": f"bytes=100-{len(BIG) - 1}"}, auth, {}):
            conn.request("GET", f"/static/{file.path}", headers=headers)
            connections.add(conn.sock.getsockname())  # http.client opens a new one only when the last was closed
            response = conn.getresponse()
            answers.append((response.status, response.read()))
        conn.close()

    assert [status for status, _ in answers] == [200, 206, 200, 401]
    assert [body for _, body in answers[:3]] == [BIG, BIG[100:], BIG]
    assert len(connections) == 1
