"""Peer: Starlette's StaticFiles under uvicorn, the async Python baseline.

uvicorn cannot sendfile: StaticFiles reads the file in chunks on a worker
thread and writes them through the event loop. bench/suite/peers.py starts it
twice, one worker and no access log each time: with httptools and uvloop (what
uvicorn[standard], FastAPI's own install, runs), and with h11 and asyncio.
"""

import os

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

DATA_DIR = os.environ["BENCH_DATA_DIR"]

app = Starlette(routes=[Mount("/static", app=StaticFiles(directory=DATA_DIR), name="static")])
