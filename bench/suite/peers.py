"""The peers: nginx, WhiteNoise and Django static.serve under gunicorn, Starlette under uvicorn.

Started and checked here; measured with the project's servers (``Bench.measure``), and stopped at the end.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .common import BIN, PEERS, SIZES, Services, free_port, log, wait_until_listening
from .measure import Bench
from .nginx import start_nginx

# The same worker settings for every gunicorn peer. wrk keeps its connections
# alive and gunicorn's default sync worker closes each one after a request, so
# the threaded worker (which keeps them) is the fair comparison.
GUNICORN_WORKER = ["--workers", "1", "--worker-class", "gthread", "--threads", "4", "--keep-alive", "5"]


def peer_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FILES_"))}
    env["BENCH_DATA_DIR"] = str(data_dir)
    return env


def start_gunicorn_peer(services: Services, tmp: Path, name: str, app: str, port: int, data_dir: Path):
    # An explicit, empty config file: gunicorn would otherwise read a
    # ./gunicorn.conf.py of the directory it starts in.
    empty = tmp / "peer.gunicorn.conf.py"
    empty.write_text("# bench peers: every setting is on the command line\n")
    argv = [BIN / "gunicorn", "-c", empty, *GUNICORN_WORKER, "--chdir", PEERS, "--bind", f"127.0.0.1:{port}"]
    return services.start(name, [*argv, "--log-level", "warning", app], env=peer_env(data_dir), cwd=PEERS)


# Starlette as FastAPI's users run it (uvicorn[standard]: httptools and uvloop), and, for information, with the
# parser and loop of a plain ``pip install uvicorn`` (h11, asyncio).
STARLETTE = "Starlette"
STARLETTE_H11 = "Starlette (h11, info)"
H11 = {"http": "h11", "loop": "asyncio"}


def start_uvicorn(services: Services, name: str, port: int, data_dir: Path, uv: dict):
    """Starlette's StaticFiles under uvicorn: one worker, no access log, the parser and loop named."""
    argv = [BIN / "uvicorn", "starlette_app:app", "--app-dir", PEERS, "--host", "127.0.0.1", "--port", port]
    argv += ["--workers", "1", "--no-access-log", "--http", uv["http"], "--loop", uv["loop"], "--log-level", "warning"]
    return services.start(name, argv, env=peer_env(data_dir), cwd=PEERS)


def uvicorn_defaults() -> dict:
    """What ``--http auto`` and ``--loop auto`` resolve to with the installed extras (``uvicorn[standard]``)."""
    return {
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    }


def run_peers(bench: Bench, services: Services, tmp: Path, data_dir: Path, shas: dict) -> dict:
    uv = uvicorn_defaults()
    nginx_block = f"""
    server {{
        listen 127.0.0.1:{{port}};
        location /static/ {{ alias {data_dir}/; }}
    }}"""
    peers = [
        ("nginx", lambda port: start_nginx(services, tmp, "peer", nginx_block.replace("{port}", str(port)))),
        (
            "WhiteNoise",
            lambda port: start_gunicorn_peer(services, tmp, "whitenoise", "whitenoise_app:application", port, data_dir),
        ),
        (
            "Django static.serve",
            lambda port: start_gunicorn_peer(
                services, tmp, "django-static", "django_static:application", port, data_dir
            ),
        ),
        (STARLETTE, lambda port: start_uvicorn(services, "starlette", port, data_dir, uv)),
        (STARLETTE_H11, lambda port: start_uvicorn(services, "starlette-h11", port, data_dir, H11)),
    ]
    # Each peer stays up until the end: its rows are measured with every other server's, taking turns.
    for peer, start in peers:
        log(f"peer: {peer}")
        port = free_port()
        try:
            proc = start(port)
            bench.servers = [proc]
            base = f"http://127.0.0.1:{port}"
            wait_until_listening(proc, base)
            for case in SIZES:
                bench.add(peer, case, f"{base}/static/bench-{case}.pdf", sha256=shas[case])
        except Exception as error:  # the peer did not start: its rows are FAILED
            for case in SIZES:
                if not bench.has(peer, case):
                    bench.failed(peer, case, str(error))
    return {"uvicorn": uv, "uvicorn_h11": H11}
