"""The report: the table, the ratios with their verdicts, the audit counts, the warnings."""

from __future__ import annotations

from .common import NOISY_PERCENT, REPO, run
from .measure import Bench

RSS_LIMIT_MIB = 120

PEER_ORDER = [
    "nginx",
    "WhiteNoise",
    "Django static.serve",
    "Starlette",
    "Starlette (h11, info)",
    "project signed URL",
    "project token",
    "project signed URL, audit at once",
    "project token, audit at once",
    "project accel (nginx)",
    "project signed URL, 2 workers",
]


SIGNED_AT_ONCE = "project signed URL, audit at once"
TOKEN_AT_ONCE = "project token, audit at once"  # noqa: S105 (a row name)


def ratios(bench: Bench, rss: dict, inprocess: dict) -> list[dict]:
    v = bench.value
    signed, token = v("project signed URL", "10k"), v("project token", "10k")
    nginx_big = v("nginx", "64m")
    # (name, the project's figure, the peer's, goal, kind): the ratio must be at least the goal.
    checks = [
        ("signed 10 KB / Starlette (uvicorn[standard])", signed, v("Starlette", "10k"), 2.0, "must"),
        ("signed 10 KB / WhiteNoise", signed, v("WhiteNoise", "10k"), 0.9, "must"),
        ("64 MB stream (token) / WhiteNoise", v("project token", "64m"), v("WhiteNoise", "64m"), 0.95, "must"),
        ("64 MB stream (signed) / WhiteNoise", v("project signed URL", "64m"), v("WhiteNoise", "64m"), 0.95, "must"),
        ("64 MB stream (token) / nginx", v("project token", "64m"), nginx_big, 0.95, "must"),
        ("64 MB accel / nginx", v("project accel (nginx)", "64m"), nginx_big, 0.95, "must"),
        ("signed 10 KB / Starlette, aim", signed, v("Starlette", "10k"), 3.0, "aim"),
        ("signed 10 KB / WhiteNoise, aim", signed, v("WhiteNoise", "10k"), 1.0, "aim"),
        ("token 10 KB / Starlette", token, v("Starlette", "10k"), 1.0, "info"),
        ("signed 10 KB / Starlette (h11)", signed, v("Starlette (h11, info)", "10k"), 2.0, "info"),
        ("token 10 KB / Django static.serve", token, v("Django static.serve", "10k"), 1.0, "info"),
        # FILES_AUDIT_FLUSH_SECONDS=0: the same goals, for information (the musts are the default's).
        ("signed, audit at once / Starlette", v(SIGNED_AT_ONCE, "10k"), v("Starlette", "10k"), 2.0, "info"),
        ("token, audit at once / Starlette", v(TOKEN_AT_ONCE, "10k"), v("Starlette", "10k"), 1.0, "info"),
        ("signed, audit at once / WhiteNoise", v(SIGNED_AT_ONCE, "10k"), v("WhiteNoise", "10k"), 1.0, "info"),
        ("token, audit at once / static.serve", v(TOKEN_AT_ONCE, "10k"), v("Django static.serve", "10k"), 1.0, "info"),
        # The audit trail's cost: no goal, the figure is the point.
        ("signed: audit at once / batched", v(SIGNED_AT_ONCE, "10k"), v("project signed URL", "10k"), None, "cost"),
        ("token: audit at once / batched", v(TOKEN_AT_ONCE, "10k"), v("project token", "10k"), None, "cost"),
    ]
    out = []
    for name, mine, theirs, threshold, kind in checks:
        ratio = mine / theirs if mine is not None and theirs else None
        if threshold is None:
            verdict = "n/a" if ratio is None else "-"
        else:
            verdict = "n/a" if ratio is None else ("PASS" if ratio >= threshold else "MISS")
        out.append(
            {
                "name": name,
                "value": None if ratio is None else round(ratio, 3),
                "target": "-" if threshold is None else f">= {threshold}",
                "kind": kind,
                "verdict": verdict,
            }
        )
    out += inprocess_ratios(inprocess)
    for what in ("download", "upload"):
        row = rss.get(what) or {}
        peak = row.get("peak_mib") if row.get("status") == "ok" else None
        out.append(
            {
                "name": f"peak RSS, 1 GiB {what} (MB)",
                "value": peak,
                "target": f"<= {RSS_LIMIT_MIB}",
                "kind": "must",
                "verdict": "n/a" if peak is None else ("PASS" if peak <= RSS_LIMIT_MIB else "MISS"),
            }
        )
    return out


def inprocess_ratios(inprocess: dict) -> list[dict]:
    """In-process cost / WhiteNoise's: lower is better, must be at most 1.5, aim 1.2."""
    out = []
    for kind, goal in (("must", 1.5), ("aim", 1.2)):
        for how in ("signed", "token"):
            ok = inprocess.get("status") == "ok"
            ratio = inprocess[how]["best_us"] / inprocess["whitenoise"]["best_us"] if ok else None
            verdict = "n/a" if ratio is None else ("PASS" if ratio <= goal else "MISS")
            out.append(
                {
                    "name": f"in-process {how} 10 KB cost / WhiteNoise's",
                    "value": None if ratio is None else round(ratio, 3),
                    "target": f"<= {goal}",
                    "kind": kind if how == "signed" else "info",
                    "verdict": verdict,
                }
            )
    return out


def scale_note(bench: Bench) -> str:
    for row in bench.rows:
        if row["peer"] == "project signed URL, 2 workers" and row["status"] == "ok":
            errors = sum((row.get("socket_errors") or {}).values())
            return f"{row['connections']} conns, p50 {row['latency_p50']}, p99 {row['latency_p99']}, {errors} errors"
    return "1,000 connections"


def cell(bench: Bench, peer: str, case: str) -> str:
    for row in bench.rows:
        if row["peer"] == peer and row["case"] == case:
            if row["status"] == "ok":
                low, high = row["spread"]
                return f"{row['req_s' if case == '10k' else 'mib_s']:,.0f} ({low:,.0f}-{high:,.0f})"
            return row["status"]
    return "-"


def print_report(bench: Bench, checks: list[dict], results: dict, rss: dict) -> None:
    uv = results.get("servers", {}).get("uvicorn", {})
    project = results.get("project", {})
    gunicorn = project.get("gunicorn", {})
    worker = f"{gunicorn.get('worker_class')}, {gunicorn.get('workers')} worker x {gunicorn.get('threads')} threads"
    if gunicorn.get("config_file"):
        worker += f" ({gunicorn['config_file']})"
    notes = {
        "nginx": "sendfile on, 1 worker",
        "WhiteNoise": "gunicorn gthread, 1 worker x 4 threads",
        "Django static.serve": "gunicorn gthread, 1 worker x 4 threads",
        "Starlette": f"uvicorn[standard], 1 worker, http={uv.get('http')}, loop={uv.get('loop')}",
        "Starlette (h11, info)": "uvicorn, 1 worker, http=h11, loop=asyncio (a plain pip install uvicorn)",
        "project signed URL": f"no header, stream mode; gunicorn {worker}",
        "project token": "Authorization: Token, stream mode",
        "project signed URL, audit at once": "as signed URL, FILES_AUDIT_FLUSH_SECONDS=0 (INSERT per download)",
        "project token, audit at once": "as token, FILES_AUDIT_FLUSH_SECONDS=0 (INSERT per download)",
        "project accel (nginx)": f"deploy/nginx.conf, X-Accel-Redirect; 10 KB: {project.get('accel_10k_auth')}",
        "project signed URL, 2 workers": f"{scale_note(bench)}; 2 workers x 8 threads on both cores",
    }
    print()
    print(f"{'peer':<34} {'10 KB req/s (spread)':>22} {'64 MB MB/s (spread)':>20}   notes")
    print(f"{'-' * 34} {'-' * 22} {'-' * 20}   {'-' * 40}")
    for peer in PEER_ORDER:
        print(f"{peer:<34} {cell(bench, peer, '10k'):>22} {cell(bench, peer, '64m'):>20}   {notes[peer]}")
    inprocess = project.get("inprocess") or {}
    if inprocess.get("status") == "ok":
        print(f"\nin-process, one 10 KB download (best of rounds; no server, no network; body read): {_us(inprocess)}")
        if inprocess.get("unread"):
            print(f"  info, the body closed unread (WhiteNoise's bytes never read): {_us(inprocess['unread'])}")
    print()
    print(f"{'target':<46} {'value':>8} {'goal':>8}  {'':4}  verdict")
    print(f"{'-' * 46} {'-' * 8} {'-' * 8}  {'-' * 4}  -------")
    for check in checks:
        value = "-" if check["value"] is None else f"{check['value']:.2f}"
        print(f"{check['name']:<46} {value:>8} {check['target']:>8}  {check['kind']:<4}  {check['verdict']}")
    audit = project.get("audit") or {}
    if audit:
        print()
    for check in audit.values():
        if check.get("status") == "ok":
            print(
                f"audit events written ({check['mode']}): {check['written']:,} "
                f"(>= {check['expected_at_least']:,} downloads served: measured {check['load_measured']:,} "
                f"+ warm-up {check['load_warmup']:,} + {check['check_downloads']} checks; "
                f"counted {check['waited_s']:g} s after the load): ok"
            )
        else:
            print(f"audit events written ({check['mode']}): FAILED: {check.get('error')}")
    noisy = [row for row in bench.rows if row.get("other_cpu_percent", 0) > NOISY_PERCENT]
    if noisy:
        print()
        print(f"WARNING: other work used more than {NOISY_PERCENT}% of the machine's CPU during {len(noisy)} run(s):")
        for row in noisy:
            print(f"  {row['peer']} {row['case']}: {row['other_cpu_percent']}%")
        print("  Those figures understate the server; run again on a quiet machine.")
    failures = [row for row in bench.rows if row["status"] != "ok"]
    failures += [{"peer": "project RSS", "case": k, **v} for k, v in rss.items() if v.get("status") != "ok"]
    failures += [
        {"peer": "project audit events", "case": k, **v}
        for k, v in (project.get("audit") or {}).items()
        if v.get("status") != "ok"
    ]
    if failures:
        print()
        for row in failures:
            error = str(row.get("error", ""))
            error = error if len(error) < 1500 else "..." + error[-1500:]  # a traceback's end says most
            print(f"{row['status']}: {row['peer']} {row['case']}: {error}")


def git_state() -> dict:
    def git(*args: str) -> str:
        # --no-optional-locks: reading status must not even refresh the index.
        result = run(["git", "--no-optional-locks", *args], timeout=30, cwd=REPO)
        return result.stdout.strip()

    changed = git("status", "--porcelain").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": changed}


def _us(figures: dict) -> str:
    return ", ".join(f"{how} {figures[how]['best_us']:.1f} us" for how in ("signed", "token", "whitenoise"))
