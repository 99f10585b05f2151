"""The 64 MB load: keep-alive connections that read each answer in 1 MiB pieces.

wrk reads into an 8 KiB buffer: over loopback its one core spent all its
time in those reads at about 1.4 GB/s while the server's core was mostly idle, so
every server that sends with sendfile came out at wrk's speed, not its own.
Read in 1 MiB pieces, the same downloads run at 4-5.5 GB/s with both cores
busy: the server's work shows. One thread a connection (each read lets go
of the GIL); run it pinned to the client's core like wrk::

    python -m bench.suite.bigload --connections 4 --duration 5 --timeout 30 \\
        [-H 'Authorization: Token ...'] URL

It prints one JSON object, with the keys of wrk's figures (bench/suite/load.py).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
import urllib.parse

from .common import MIB

PIECE = MIB  # how much of a body one read takes


class Connection:
    """One keep-alive connection asking for the same URL again and again until the deadline."""

    def __init__(self, url: urllib.parse.SplitResult, request: bytes, timeout: float, deadline: float) -> None:
        self.url, self.request, self.timeout, self.deadline = url, request, timeout, deadline
        self.bytes = self.responses = self.non2xx = 0
        self.errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
        self.latencies: list[float] = []
        self.buffer = memoryview(bytearray(PIECE))

    def run(self) -> None:
        sock = None
        while time.monotonic() < self.deadline:
            if sock is None:
                try:
                    sock = socket.create_connection((self.url.hostname, self.url.port or 80), timeout=self.timeout)
                except OSError:
                    self.errors["connect"] += 1
                    time.sleep(0.1)  # a server that refuses: counted, not hammered
                    continue
            try:
                keep = self._one(sock)
            except TimeoutError:
                self.errors["timeout"] += 1
                keep = False
            except OSError:
                self.errors["read"] += 1
                keep = False
            if not keep:
                sock.close()
                sock = None
        if sock is not None:
            sock.close()

    def _one(self, sock: socket.socket) -> bool:
        """One request and its answer; whether the connection may be used again."""
        started = time.monotonic()
        try:
            sock.sendall(self.request)
        except OSError:
            self.errors["write"] += 1
            return False
        status, length, close, body = self._head(sock)
        left = length - len(body)
        self.bytes += len(body)
        while left > 0:
            if time.monotonic() >= self.deadline:
                return False  # the run is over: what was read counts, as in wrk
            got = sock.recv_into(self.buffer, min(left, PIECE))
            if not got:
                raise ConnectionResetError("closed in the body")
            left -= got
            self.bytes += got
        self.responses += 1
        self.latencies.append(time.monotonic() - started)
        if not 200 <= status < 400:
            self.non2xx += 1
        return not close

    @staticmethod
    def _head(sock: socket.socket) -> tuple[int, int, bool, bytes]:
        """Status, Content-Length, whether the server closes, and the body's first bytes read with the head."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed before the head")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        if "content-length" not in fields:
            raise ConnectionResetError("no Content-Length")  # every server measured here sends one
        return int(lines[0].split()[1]), int(fields["content-length"]), fields.get("connection") == "close", body


def measure(url: str, *, connections: int, duration: float, timeout: float, headers: list[str]) -> dict:
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", *headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    started = time.monotonic()
    workers = [Connection(parts, request, timeout, started + duration) for _ in range(connections)]
    threads = [threading.Thread(target=worker.run) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    latencies = sorted(latency for worker in workers for latency in worker.latencies)
    requests = sum(worker.responses for worker in workers)
    figures = {
        "requests": requests,
        "req_s": round(requests / seconds, 2),
        "mib_s": round(sum(worker.bytes for worker in workers) / MIB / seconds, 1),
        "non2xx": sum(worker.non2xx for worker in workers),
        "socket_errors": {kind: sum(worker.errors[kind] for worker in workers) for kind in workers[0].errors},
    }
    if latencies:
        figures["latency_p50"] = f"{1000 * statistics.median(latencies):.2f}ms"
        figures["latency_p99"] = f"{1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]:.2f}ms"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--timeout", type=float, required=True, help="seconds a read may wait")
    parser.add_argument("-H", dest="headers", action="append", default=[])
    args = parser.parse_args()
    print(
        json.dumps(
            measure(
                args.url,
                connections=args.connections,
                duration=args.duration,
                timeout=args.timeout,
                headers=args.headers,
            )
        )
    )


if __name__ == "__main__":
    main()
