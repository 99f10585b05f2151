"""Measurements: the rows of a run, the other work on the machine during each, a worker's peak RSS."""

from __future__ import annotations

import os
import random
import resource
import subprocess
import threading
import time
from pathlib import Path

import psutil

from .common import SIZES, log
from .load import bigload, check_download, wrk

# wrk: one thread (two cores: one for wrk, one for the server), a short
# warm-up (first connections, page cache, lazy imports), then the measured run.
DURATION = {"10k": os.environ.get("BENCH_DURATION", "5s"), "64m": os.environ.get("BENCH_BIG_DURATION", "5s")}
# One run of a peer moves by a tenth (10 KB) and up to a fifth (64 MB) from the next, whatever the server: the
# median of five (10 KB) and of seven (64 MB) runs counts.
REPEATS = {"10k": int(os.environ.get("BENCH_REPEATS", "5")), "64m": int(os.environ.get("BENCH_BIG_REPEATS", "7"))}
WARMUP = os.environ.get("BENCH_WARMUP", "2s")
CONNECTIONS = {"10k": 16, "64m": 4}
LOAD_TIMEOUT = {"10k": "5s", "64m": "30s"}  # a 64 MiB answer may take seconds on a slow peer
# wrk's 8 KiB reads bound a 64 MB download by the client's core, not the server's (bench/suite/bigload.py).
LOAD = {"10k": wrk, "64m": bigload}


class OtherLoad:
    """How busy the machine was with work that is neither wrk nor the server under test.

    Two cores are shared with whatever else runs (a test suite, an editor's
    language server...), and a busy machine skews every figure. This measures
    it instead of guessing: CPU time the whole machine spent in user and
    system mode, less what the server's processes and this script's children
    (wrk) spent, over the run's wall time and all cores.
    """

    def __init__(self, servers: list[subprocess.Popen]) -> None:
        self.servers = servers

    def _server_seconds(self) -> float:
        total = 0.0
        for server in self.servers:
            try:
                root = psutil.Process(server.pid)
                for proc in [root, *root.children(recursive=True)]:
                    times = proc.cpu_times()
                    total += times.user + times.system
            except psutil.Error:
                continue
        return total

    @staticmethod
    def _busy_seconds() -> float:
        times = psutil.cpu_times()
        return times.user + times.nice + times.system

    @staticmethod
    def _children_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> OtherLoad:
        self.start = (
            time.monotonic(),
            self._busy_seconds(),
            self._server_seconds(),
            self._children_seconds(),
            psutil.Process().cpu_times(),
        )
        return self

    def __exit__(self, *exc) -> None:
        wall, busy, server, children, mine = self.start
        me = psutil.Process().cpu_times()
        ours = (self._server_seconds() - server) + (self._children_seconds() - children)
        ours += (me.user + me.system) - (mine.user + mine.system)
        other = (self._busy_seconds() - busy) - ours
        self.percent = max(0.0, 100 * other / ((time.monotonic() - wall) * (os.cpu_count() or 1)))


# Before each measured run the machine is let come to rest (at most this long): a server's work left over from its
# last run (the project's audit batch of that run's last second, the database writing it) is not charged to the next.
SETTLE_SECONDS = 3.0
AT_REST_PERCENT = 10.0


def settle() -> None:
    """Wait until the machine's CPU is at rest (under ``AT_REST_PERCENT``), or ``SETTLE_SECONDS`` have passed."""
    deadline = time.monotonic() + SETTLE_SECONDS
    psutil.cpu_percent()  # starts the measuring interval
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if psutil.cpu_percent() < AT_REST_PERCENT:
            return


def round_order(entries: list, number: int) -> list:
    """The rows of round ``number`` in an order of their own, the same in every run (seeded by the round).

    A row measured right after another inherits what that one left behind
    (accel's 64 MB runs after its own 10 KB load, bench/README.md): in a
    fixed order one row would always follow the same neighbour, and carry
    its effect into every one of its runs.
    """
    order = list(entries)
    random.Random(number).shuffle(order)  # noqa: S311 (an order of measurement, not a secret)
    return order


class Bench:
    """The rows of a run: each server's loads are added while it is up, then measured together, taking turns.

    A row's measured runs do not follow one another: round after round,
    every row added gets one run (:meth:`measure`), so that a busy or a slow
    spell of the machine falls on every server alike, and the ratios of a
    run compare servers measured in the same minutes.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.rows: list[dict] = []
        self.servers: list[subprocess.Popen] = []  # the server of the loads being added, for OtherLoad
        self._waiting: list[dict] = []  # rows checked and warmed up, waiting for their runs

    def failed(self, peer: str, case: str, error: str, **extra) -> dict:
        row = {"peer": peer, "case": case, "status": "FAILED", "error": error, **extra}
        log(f"  {peer} {case}: FAILED: {error}")
        self.rows.append(row)
        return row

    def not_applicable(self, peer: str, case: str, why: str) -> dict:
        row = {"peer": peer, "case": case, "status": "n/a", "error": why}
        log(f"  {peer} {case}: n/a: {why}")
        self.rows.append(row)
        return row

    def add(
        self, peer: str, case: str, url: str, *, sha256: str, headers: list[str] = (), connections: int | None = None
    ) -> None:
        """Check one download and warm up now; the row's measured runs come with :meth:`measure`."""
        headers = list(headers)
        connections = connections or CONNECTIONS[case]
        row = {"peer": peer, "case": case, "url": url, "connections": connections, "duration": DURATION[case]}
        error = check_download(url, headers, SIZES[case], sha256, self.tmp / "check.bin")
        if error:
            self.failed(peer, case, f"check download: {error}", url=url)
            return
        options = {"connections": connections, "timeout": LOAD_TIMEOUT[case], "headers": headers}
        try:
            warmup, _ = LOAD[case](url, duration=WARMUP, **options)
        except Exception as error:  # a broken run is a FAILED row, the others go on
            self.failed(peer, case, str(error), url=url)
            return
        row["warmup_requests"] = warmup["requests"]
        self._waiting.append({"row": row, "options": options, "servers": list(self.servers), "runs": []})

    def load(self, peer: str, case: str, url: str, **given) -> None:
        """One row alone: added, then measured at once (a load with no peer to take turns with)."""
        self.add(peer, case, url, **given)
        self.measure()

    def measure(self) -> None:
        """The measured runs of every row waiting, one run of each in turn, round after round; then their figures."""
        waiting, self._waiting = self._waiting, []
        rounds = max((REPEATS[entry["row"]["case"]] for entry in waiting), default=0)
        for number in range(rounds):
            if len(waiting) > 1:
                log(f"  round {number + 1} of {rounds}: {len(waiting)} rows taking turns")
            for position, entry in enumerate(round_order(waiting, number)):
                if entry.get("error") or number >= REPEATS[entry["row"]["case"]]:
                    continue
                row = entry["row"]
                settle()
                try:
                    with OtherLoad(entry["servers"]) as other:
                        load = LOAD[row["case"]]
                        figures, output = load(row["url"], duration=DURATION[row["case"]], **entry["options"])
                except Exception as error:
                    entry["error"] = str(error)
                    continue
                entry["runs"].append(
                    {
                        **figures,
                        "load_output": output,
                        "other_cpu_percent": round(other.percent, 1),
                        "round": number + 1,
                        "position": position + 1,
                    }
                )
        for entry in waiting:
            self._record(entry)

    def _record(self, entry: dict) -> None:
        row, runs = entry["row"], entry["runs"]
        peer, case, url = row["peer"], row["case"], row["url"]
        if entry.get("error"):
            self.failed(peer, case, entry["error"], url=url)
            return
        row["runs"] = runs
        for figures in runs:
            if not figures["requests"]:
                self.failed(peer, case, f"no request completed:\n{figures['load_output']}", url=url)
                return
            if figures["non2xx"]:
                self.failed(peer, case, f"{figures['non2xx']} answers were not 2xx/3xx", url=url)
                return
        # Several runs: the median counts, the lowest and highest are the spread.
        metric = "req_s" if case == "10k" else "mib_s"
        ordered = sorted(runs, key=lambda figures: figures[metric])
        row.update({k: v for k, v in ordered[len(ordered) // 2].items() if k != "load_output"})
        row["requests"] = sum(figures["requests"] for figures in runs)
        row["other_cpu_percent"] = max(figures["other_cpu_percent"] for figures in runs)
        row["spread"] = [ordered[0][metric], ordered[-1][metric]]
        row["status"] = "ok"
        self.rows.append(row)
        shown = f"{row['req_s']:,.0f} req/s" if case == "10k" else f"{row['mib_s']:,.1f} MB/s"
        if len(runs) > 1:
            shown += f" (median of {len(runs)}: {row['spread'][0]:,.0f}-{row['spread'][1]:,.0f})"
        log(
            f"  {peer} {case}: {shown} (p50 {row.get('latency_p50')}, p99 {row.get('latency_p99')}; "
            f"other work on the machine: {row['other_cpu_percent']:.0f}% CPU)"
        )

    def has(self, peer: str, case: str) -> bool:
        return any(row["peer"] == peer and row["case"] == case for row in self.rows) or any(
            (entry["row"]["peer"], entry["row"]["case"]) == (peer, case) for entry in self._waiting
        )

    def value(self, peer: str, case: str) -> float | None:
        for row in self.rows:
            if row["peer"] == peer and row["case"] == case and row["status"] == "ok":
                return row["req_s"] if case == "10k" else row["mib_s"]
        return None


class PeakRss:
    """Peak RSS of one process while a ``with`` block runs.

    A thread reads VmRSS from /proc/<pid>/status every 20 ms; on top of that
    the kernel's own high-water mark (VmHWM) is reset at the start (writing 5
    to /proc/<pid>/clear_refs, as root) and read at the end, so a spike
    shorter than the polling interval is not missed either.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _status(self, field: str) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # kB
        raise RuntimeError(f"no {field} for {self.pid}")

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._status("VmRSS"))
            except (OSError, RuntimeError):
                return  # the process is gone: the caller sees it
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self.before_kib = self._status("VmRSS")
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.hwm_kib = self._status("VmHWM")
        peaks = [*self.samples, self.before_kib] + ([self.hwm_kib] if self.hwm_reset else [])
        self.peak_kib = max(peaks)

    def report(self) -> dict:
        return {
            "peak_mib": round(self.peak_kib / 1024, 1),
            "before_mib": round(self.before_kib / 1024, 1),
            "polled_peak_mib": round(max(self.samples, default=0) / 1024, 1),
            "vmhwm_mib": round(self.hwm_kib / 1024, 1),
            "vmhwm_reset": self.hwm_reset,
            "samples": len(self.samples),
        }
