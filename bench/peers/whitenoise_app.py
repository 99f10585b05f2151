"""Peer: WhiteNoise, the usual way a Django/WSGI project serves static files itself.

Run under gunicorn with the same worker settings as the project (see bench/suite/peers.py).
WhiteNoise indexes BENCH_DATA_DIR once at start (autorefresh off, as in
production) and hands the open file to ``wsgi.file_wrapper``, so gunicorn
sends the bytes with sendfile, like the project's stream mode.
"""

import os

from whitenoise import WhiteNoise

DATA_DIR = os.environ["BENCH_DATA_DIR"]


def not_found(environ, start_response):
    # Everything WhiteNoise does not know is a 404; the benchmark only asks for files it knows.
    body = b"Not found"
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = WhiteNoise(not_found, root=DATA_DIR, prefix="static/", autorefresh=False)
