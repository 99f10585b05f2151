"""Load generation: one checked download with curl, then wrk (10 KB) or bigload (64 MB)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .common import CLIENT_CPUS, GIB, KIB, MIB, REPO, run
from .data import sha256_of


def check_download(url: str, headers: list[str], size: int, sha256: str, scratch: Path) -> str | None:
    """One download with curl: None when it answers 200 with exactly the expected bytes, else why not."""
    argv = ["curl", "-sS", "--max-time", "120", "-o", scratch, "-w", "%{http_code} %{size_download}"]
    for header in headers:
        argv += ["-H", header]
    try:
        result = run([*argv, url], timeout=150)
        if result.returncode != 0:
            return f"curl failed: {result.stderr.strip()}"
        status, downloaded = result.stdout.split()
        if status != "200":
            body = scratch.read_bytes()[:300].decode(errors="replace") if scratch.exists() else ""
            return f"HTTP {status}: {body}"
        if int(downloaded) != size:
            return f"got {downloaded} bytes, expected {size}"
        if sha256_of(scratch) != sha256:
            return "the bytes differ from the file's"
        return None
    finally:
        scratch.unlink(missing_ok=True)


_UNITS = {"": 1, "K": KIB, "M": MIB, "G": GIB, "T": 1024 * GIB}


def parse_wrk(output: str) -> dict:
    def number(pattern: str, default=None):
        match = re.search(pattern, output)
        return match.groups() if match else default

    figures = {"requests": None, "req_s": None, "mib_s": None, "non2xx": 0, "socket_errors": None}
    if match := number(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)([KMGT]?)B read"):
        figures["requests"] = int(match[0])
    if match := number(r"Requests/sec:\s+([\d.]+)"):
        figures["req_s"] = float(match[0])
    if match := number(r"Transfer/sec:\s+([\d.]+)([KMGT]?)B"):
        figures["mib_s"] = float(match[0]) * _UNITS[match[1]] / MIB  # wrk's units are binary
    if match := number(r"Non-2xx or 3xx responses: (\d+)"):
        figures["non2xx"] = int(match[0])
    if match := number(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        figures["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, match), strict=True))
    for percent in ("50", "99"):
        if match := number(rf"\n\s+{percent}%\s+([\d.]+\w+)"):
            figures[f"latency_p{percent}"] = match[0]
    return figures


def wrk(url: str, *, connections: int, duration: str, timeout: str, headers: list[str]) -> tuple[dict, str]:
    argv = [*CLIENT_CPUS, "wrk", "-t1", f"-c{connections}", f"-d{duration}", "--timeout", timeout, "--latency"]
    for header in headers:
        argv += ["-H", header]
    result = run([*argv, url], timeout=seconds(duration) + 60)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {output.strip()}")
    return parse_wrk(output), output


def bigload(url: str, *, connections: int, duration: str, timeout: str, headers: list[str]) -> tuple[dict, str]:
    """The 64 MB load, read in 1 MiB pieces (bench/suite/bigload.py), on the client's core as wrk is."""
    argv = [*CLIENT_CPUS, sys.executable, "-m", "bench.suite.bigload", "--connections", connections]
    argv += ["--duration", seconds(duration), "--timeout", seconds(timeout)]
    for header in headers:
        argv += ["-H", header]
    result = run([*argv, url], timeout=seconds(duration) + seconds(timeout) + 60, cwd=REPO)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"bigload failed ({result.returncode}): {output.strip()}")
    return json.loads(result.stdout), output


def seconds(duration: str) -> float:
    """wrk's duration ("5s", "2m") in seconds."""
    return float(re.sub(r"[a-z]+$", "", duration)) * (60 if duration.endswith("m") else 1)
