"""The in-process figure: microseconds a 10 KB download costs inside one Python process, no server, no network.

Run in the project's environment (``python -m bench.suite.inprocess``, JSON
on stdin: the signed path, the token path, the token, the data file); prints
JSON. Each WSGI application is called directly, as gunicorn calls it: a
fresh environ, ``start_response``, then the body iterated to its end and
closed, as a server without sendfile sends it. Both so pay for the file's
bytes: WhiteNoise hands ``wsgi.file_wrapper`` an open file, read here; the
project reads a body of up to 64 KiB in the call itself
(``files.download.serving.SMALL_BODY``), since under gunicorn that costs less
than its sendfile. For information, the same calls with the body closed
unread (``unread``): WhiteNoise's bytes then are never read at all, the
project's still are. The project's application is the one gunicorn serves
(``clinic.wsgi``: the download fast path in front of Django), with every
check on (signature, the user still active and allowed, ALLOWED_HOSTS,
refusal throttle, an audit event for every download, written by its
background thread in this same process). WhiteNoise serves the same file
from a folder it indexed at start. Machine noise moves a wall-clock figure
up, never down: the figure is the best of several rounds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from wsgiref.util import FileWrapper

ROUNDS = 15
CALLS = 2000


def environ(path: str, query: str = "", headers: dict | None = None) -> dict:
    """What gunicorn puts in the environ of a keep-alive GET from wrk."""
    base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "RAW_URI": f"{path}?{query}" if query else path,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.errors": sys.stderr,
        "wsgi.input": None,
        "wsgi.file_wrapper": FileWrapper,
    }
    base.update(headers or {})
    return base


def call(application, template: dict, *, read: bool) -> str:
    status = []
    body = application(dict(template), lambda line, headers, exc_info=None: status.append(line))
    try:
        if read:
            for _ in body:
                pass
    finally:
        if hasattr(body, "close"):
            body.close()
    return status[0]


def costs_us(apps: dict, *, read: bool) -> dict:
    """Per application, the best and the median of ``ROUNDS`` rounds of ``CALLS`` calls, in microseconds a call.

    The rounds take turns (one of each application, then the next of each):
    a busy spell on the machine slows every application alike, not the one
    that happened to be measured then.
    """
    for name, (application, template) in apps.items():
        first = call(application, template, read=read)
        if not first.startswith("200"):
            raise RuntimeError(f"{name}: {template['PATH_INFO']}: {first}")
        for _ in range(CALLS):  # warm: caches filled, the audit writer's connection open
            call(application, template, read=read)
    rounds: dict = {name: [] for name in apps}
    for _ in range(ROUNDS):
        for name, (application, template) in apps.items():
            started = time.perf_counter()
            for _ in range(CALLS):
                call(application, template, read=read)
            rounds[name].append((time.perf_counter() - started) / CALLS * 1e6)
    return {
        name: {"best_us": round(min(times), 2), "median_us": round(sorted(times)[len(times) // 2], 2)}
        | {"calls": CALLS * ROUNDS}
        for name, times in rounds.items()
    }


def main() -> None:
    given = json.load(sys.stdin)
    data = Path(given["data_file"])
    os.environ["BENCH_DATA_DIR"] = str(data.parent)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "peers"))
    import whitenoise_app  # after BENCH_DATA_DIR is set

    from clinic.wsgi import application  # Django set up here, in the project environment
    from files.audit import flush

    signed_path, _, query = given["signed"].partition("?")
    token = {"HTTP_AUTHORIZATION": f"Token {given['token']}"}
    apps = {
        "whitenoise": (whitenoise_app.application, environ(f"/static/{data.name}")),
        "signed": (application, environ(signed_path, query)),
        "token": (application, environ(given["token_path"], headers=token)),
    }
    out = costs_us(apps, read=True)
    out["unread"] = costs_us(apps, read=False)
    flush()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
