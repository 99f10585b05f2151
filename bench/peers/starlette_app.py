"""Peer: Starlette's StaticFiles under uvicorn, the async Python baseline.

uvicorn cannot sendfile: StaticFiles reads the file in chunks on a worker
thread and writes them through the event loop. bench/run.py starts it with
one worker and no access log, with the HTTP parser uvicorn picks by default
for the installed extras (h11 without httptools), and reports which.
"""

import os

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

DATA_DIR = os.environ["BENCH_DATA_DIR"]

app = Starlette(routes=[Mount("/static", app=StaticFiles(directory=DATA_DIR), name="static")])
