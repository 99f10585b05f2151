"""A file body leaves gunicorn on a corked connection, as a file leaves nginx (``tcp_nopush``).

gunicorn sends a file body with one blocking ``sendfile(2)`` on a connection
it set ``TCP_NODELAY`` on, so the kernel sends whatever it holds each time
the send buffer has room again, full segment or not. Measured over loopback
with 64 MiB downloads (bench/README.md, "Reading the figures"), that
took 1.8 times as many TCP segments per byte as nginx's corked sendfile of
the same file, and the reading client spent its core on them: gunicorn sent
at 0.5-0.8 of nginx's rate. Corked while the body leaves, it sent at nginx's.

The cork is the WSGI server's socket option, set only where gunicorn hands
the application its HTTP/1 connection (``environ["gunicorn.socket"]``); any
other server (runserver, the test client) sends as before. Closing the body,
which the server does once the body is out or the client is gone, lets the
last partial segment go at once; had it not, the kernel would send it within
200 ms anyway: a cork delays bytes, it never loses them.
"""

import socket

from files.backends import FileSlice


class CorkedSlice:
    """A file slice whose connection stays corked until the slice is closed.

    It has what the WSGI server's ``wsgi.file_wrapper`` and Django's
    ``FileResponse`` use of a :class:`FileSlice`: ``fileno()`` (sendfile),
    ``read()``, iteration and ``close()``.
    """

    def __init__(self, body: FileSlice, connection: socket.socket) -> None:
        self._body = body
        self._connection = connection
        self.read = body.read
        if hasattr(body, "fileno"):
            self.fileno = body.fileno

    def __iter__(self):
        return iter(self._body)

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            _cork(self._connection, on=False)


def corked(body: FileSlice, environ) -> FileSlice | CorkedSlice:
    """``body``, to be sent on a corked connection when the WSGI server gives the application its socket."""
    connection = environ.get("gunicorn.socket")
    # An HTTP/2 connection carries other streams, which a cork would hold back.
    if connection is None or environ.get("HTTP_VERSION") == "2" or not hasattr(socket, "TCP_CORK"):
        return body
    if not _cork(connection, on=True):
        return body
    return CorkedSlice(body, connection)


def _cork(connection: socket.socket, *, on: bool) -> bool:
    try:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(on))
    except OSError:  # the client is gone (the socket closed): nothing is left to send
        return False
    return True
