"""The file-serving benchmark: ``python -m bench.suite`` (``bash bench/run`` installs the tools first).

See bench/README.md."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil

from .common import BIG_SIZE, CLIENT_CPUS, NOISY_PERCENT, SERVER_CPUS, SIZES, Services, log, run
from .data import make_pdf
from .measure import CONNECTIONS, DURATION, WARMUP, Bench
from .peers import GUNICORN_WORKER, run_peers
from .project import drop_database, run_project
from .report import SIGNED_AT_ONCE, TOKEN_AT_ONCE, git_state, print_report, ratios


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on a kill
    tmp = Path(os.environ.get("BENCH_TMP") or tempfile.mkdtemp(prefix="clinic-bench."))
    services = Services(tmp / "logs")
    started = time.monotonic()
    results: dict = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg(),
        },
        "settings": {
            "duration": DURATION,
            "warmup": WARMUP,
            "connections": CONNECTIONS,
            "wrk_threads": 1,
            "gunicorn_peers": GUNICORN_WORKER,
            "cpu_pinning": {"wrk": CLIENT_CPUS[2:] or None, "servers": SERVER_CPUS[2:] or None},
        },
    }
    bench = Bench(tmp)
    rss: dict = {}
    # Before anything of ours runs: how busy is the machine already?
    results["machine"]["cpu_busy_percent_before"] = busy = psutil.cpu_percent(interval=2)
    if busy > NOISY_PERCENT:
        log(f"WARNING: the machine is already {busy:.0f}% busy with other work: the figures will be low and noisy")
    try:
        (tmp / "logs").mkdir(parents=True, exist_ok=True)
        data_dir, big_dir = tmp / "data", tmp / "big"
        data_dir.mkdir()
        big_dir.mkdir()
        log(f"data in {tmp}")
        shas = {case: make_pdf(data_dir / f"bench-{case}.pdf", size) for case, size in SIZES.items()}
        # The 1 GiB file lives apart: the peers index their directory (WhiteNoise at start).
        make_pdf(big_dir / "bench-1g.pdf", BIG_SIZE, sparse=True)

        results["servers"] = run_peers(bench, services, tmp, data_dir, shas)
        results["servers"]["nginx"] = run(["nginx", "-v"], timeout=10).stderr.strip()
        try:
            data = {
                "10k": data_dir / "bench-10k.pdf",
                "64m": data_dir / "bench-64m.pdf",
                "1g": big_dir / "bench-1g.pdf",
            }
            results["project"] = project = {}
            run_project(bench, services, tmp, data, shas, project)
            rss = project.get("rss", {})
        except Exception as error:  # the project broken: its rows are FAILED, the peers' figures stand
            log(f"project: FAILED: {error}")
            project["error"] = str(error)
            bench.measure()  # the rows added before it broke (the peers' among them) still take their turns
            rss = project.get("rss", {})
            audit = project.setdefault("audit", {})
            audit.setdefault(
                "all",
                {
                    "mode": "stream, audit at once and accel",
                    "status": "FAILED",
                    "error": "the project did not run to it",
                },
            )
            for peer, case in [
                ("project signed URL", "10k"),
                ("project token", "10k"),
                ("project token", "64m"),
                (SIGNED_AT_ONCE, "10k"),
                (TOKEN_AT_ONCE, "10k"),
                ("project accel (nginx)", "10k"),
                ("project accel (nginx)", "64m"),
            ]:
                if not bench.has(peer, case):
                    bench.failed(peer, case, f"project: ...{str(error)[-700:]}")
            for what in ("download", "upload"):
                rss.setdefault(what, {"status": "FAILED", "error": "the project did not run"})
        finally:
            services.stop_all()

        results["machine"]["loadavg_at_end"] = os.getloadavg()
        checks = ratios(bench, rss, results.get("project", {}).get("inprocess") or {})
        results.update(rows=bench.rows, rss=rss, ratios=checks, seconds=round(time.monotonic() - started))
        print_report(bench, checks, results, rss)

        # The raw figures: in the temp dir, and a copy that outlives it.
        (tmp / "results.json").write_text(json.dumps(results, indent=2, default=str))
        kept = os.environ.get("BENCH_RESULTS")
        if not kept:
            handle, kept = tempfile.mkstemp(
                prefix=f"clinic-bench-results-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".json"
            )
            os.close(handle)
        shutil.copyfile(tmp / "results.json", kept)
        print(f"\nraw results: {kept}  ({results['seconds']} s)")
        return 0
    finally:
        services.stop_all()
        drop_database()
        if os.environ.get("BENCH_KEEP"):
            log(f"BENCH_KEEP: the temp dir stays: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
