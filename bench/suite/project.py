"""The project under gunicorn: its data, its servers (stream, audit at once, accel), audit counts, RSS."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil

from .common import (
    ALL_CPUS,
    BIG_SIZE,
    BIN,
    GIB,
    PYTHON,
    REPO,
    SERVER_CPUS,
    Services,
    free_port,
    log,
    run,
    wait_until_listening,
)
from .measure import Bench, PeakRss
from .nginx import shipped_site, start_nginx
from .peers import GUNICORN_WORKER

DB_NAME = "clinic_bench"
BROKER = "redis://127.0.0.1:6379/15"
PG = ["-h", "127.0.0.1", "-U", "postgres"]


def project_env(tmp: Path, mode: str, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FILES_", "AWS_", "GUNICORN_"))}
    env.pop("DATABASE_URL", None)
    env.pop("SENDFILE", None)  # gunicorn reads it; the project's own setting is what is measured
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        DJANGO_SECRET_KEY="bench-secret",  # noqa: S106 (a throwaway database on loopback)
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="clinic.settings",
        CLINIC_VAR_DIR=str(tmp / "project-var"),  # nothing of the run lands in the repo's var/
        FILES_BACKEND="local",
        FILES_ROOT=str(tmp / "project-files"),
        FILES_UPLOAD_TEMP_DIR=str(tmp / "upload-tmp"),
        # The default limits are 50 MiB a file and 100 MiB a request; the benchmark
        # stores 64 MiB and 1 GiB files (the 1 GiB one uploaded alone in one request).
        FILES_MAX_UPLOAD_SIZE=str(2 * GIB),
        FILES_MAX_REQUEST_SIZE=str(2 * GIB),
        FILES_SERVE_MODE=mode,
        # As in production, the web worker only queues the jobs (scans, thumbnails, previews): no Celery worker
        # runs, and bench/run empties this Redis database at the end. Without a broker they would run in the
        # request, and the upload's peak RSS would be a preview's.
        CELERY_BROKER_URL=BROKER,
        FILES_ACCEL_PREFIX="/_protected_files/",
        GUNICORN_ACCESS_LOG="",  # gunicorn.conf.py: empty turns the access log off
    )
    env.update(extra or {})  # e.g. FILES_AUDIT_FLUSH_SECONDS=0 for the "audit at once" rows
    return env


def project_gunicorn_argv(port: int, *, workers: int = 1) -> list:
    """gunicorn for the project: its own gunicorn.conf.py when it has one, and on the
    command line (which wins over the file) what must be the same as the peers'.

    - one gthread worker, 4 threads, keep-alive 5: the gunicorn peers' settings;
    - loopback only, whatever the file binds;
    - --max-requests 0: the file recycles a worker every few thousand requests,
      which with several workers in production is staggered and hidden, but with
      the single worker measured here would stop all serving for a restart
      several times in each 10 s run (and lose the worker whose RSS is sampled).

    The access log is turned off through the file's own knob (GUNICORN_ACCESS_LOG,
    see project_env), as every peer runs without one.
    """
    argv = [BIN / "gunicorn"]
    if (REPO / "gunicorn.conf.py").exists():
        argv += ["-c", "gunicorn.conf.py"]
    app = os.environ.get("BENCH_PROJECT_APP", "clinic.wsgi")  # another entry point, to compare variants
    # Two workers (scale): the shipped file's threads, not the peers' single worker of 4 threads.
    worker = GUNICORN_WORKER if workers == 1 else ["--workers", str(workers), "--worker-class", "gthread"]
    argv += [*worker, "--max-requests", "0", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    return [*argv, app]


_EFFECTIVE_CONFIG = """
import json, sys
from gunicorn.app.wsgiapp import WSGIApplication
# sys.argv is ["-c", <gunicorn's arguments>...]: "-c" stands for the program name.
cfg = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg
print(json.dumps({"accesslog": cfg.accesslog, "worker_class": cfg.worker_class_str, "workers": cfg.workers,
                  "threads": cfg.threads, "keepalive": cfg.keepalive, "sendfile": cfg.sendfile,
                  "bind": cfg.bind, "max_requests": cfg.max_requests}))
"""


def effective_gunicorn_config(argv: list, env: dict) -> dict:
    """What gunicorn will really run with (config file plus command line), for the report."""
    result = run([PYTHON, "-c", _EFFECTIVE_CONFIG, *argv], timeout=60, cwd=REPO, env=env)
    if result.returncode != 0:
        return {"error": result.stderr.strip()[-500:]}
    has_file = (REPO / "gunicorn.conf.py").exists()
    return {
        "config_file": "gunicorn.conf.py" if has_file else None,
        **json.loads(result.stdout.strip().splitlines()[-1]),
    }


def start_project(
    services: Services, tmp: Path, mode: str, extra: dict | None = None, name: str = ""
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = project_env(tmp, mode, extra)
    proc = services.start(f"project-{name or mode}", project_gunicorn_argv(port), env=env, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    wait_until_listening(proc, base)
    return proc, base


def gunicorn_worker(master: subprocess.Popen) -> int:
    """The one worker: the child of the gunicorn master."""
    for _ in range(50):
        children = psutil.Process(master.pid).children()
        if len(children) == 1:
            return children[0].pid
        time.sleep(0.1)
    raise RuntimeError(f"expected one gunicorn worker under {master.pid}, found {len(children)}")


def create_database() -> None:
    # A leftover of a killed run is dropped: every run starts from an empty database.
    run(["dropdb", *PG, "--if-exists", DB_NAME], timeout=60, check=True)
    run(["createdb", *PG, DB_NAME], timeout=60, check=True)


def drop_database() -> None:
    try:
        run(["dropdb", *PG, "--if-exists", "--force", DB_NAME], timeout=60)
    except Exception as error:  # cleanup: report, go on
        log(f"could not drop {DB_NAME}: {error}")


AUDIT_AT_ONCE = {"FILES_AUDIT_FLUSH_SECONDS": "0"}
AUDIT_WAIT = 2.0  # seconds: the batched mode writes every FILES_AUDIT_FLUSH_SECONDS (1 s by default)
AUDIT_LATE_WAIT = 10.0  # when the count is short: how much longer to watch, to tell late from lost


def count_download_events() -> int:
    """Successful downloads on the bench database's audit trail (refusals, uploads and the rest left out)."""
    sql = "SELECT count(*) FROM files_auditevent WHERE action = 'download' AND status = 200"
    result = run(["psql", *PG, "-d", DB_NAME, "-X", "-q", "-t", "-A", "-c", sql], timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"psql: {result.stderr.strip()}")
    return int(result.stdout.strip())


def served_by(bench: Bench, keys: list[tuple[str, str]]) -> dict:
    """What the rows' measured runs reported as completed, and every 200 the server must have recorded."""
    measured = warmups = checks = 0
    for row in bench.rows:
        if (row["peer"], row["case"]) in keys and row.get("requests") is not None:
            measured += row["requests"]
            warmups += row.get("warmup_requests") or 0
            checks += 1  # the curl download that checked the bytes, before the load
    return {
        "load_measured": measured,
        "load_warmup": warmups,
        "check_downloads": checks,
        "expected_at_least": measured + warmups + checks,
    }


def audit_check(bench: Bench, mode: str, keys: list[tuple[str, str]], before: int, wait: float) -> dict:
    """Were the downloads of ``keys``' rows all put on the audit trail? Counted ``wait`` s after the load."""
    out = {"mode": mode, "rows": [f"{peer} {case}" for peer, case in keys], "waited_s": wait}
    try:
        time.sleep(wait)
        out.update(served_by(bench, keys), before=before)
        written = count_download_events() - before
        out["written"] = written
        if out["load_measured"] == 0:
            out.update(status="FAILED", error="no measured run completed: nothing to compare with")
        elif written >= out["expected_at_least"]:
            out["status"] = "ok"
        else:
            # Short: late (the batch not written yet) or lost? Watch a while longer to say which.
            deadline = time.monotonic() + AUDIT_LATE_WAIT
            later = written
            while later < out["expected_at_least"] and time.monotonic() < deadline:
                time.sleep(0.5)
                later = count_download_events() - before
            out["written_later"] = later
            why = "late: all written" if later >= out["expected_at_least"] else "events missing"
            out.update(
                status="FAILED",
                error=(
                    f"{written:,} events {wait:g} s after the load, fewer than the {out['expected_at_least']:,} "
                    f"downloads served (measured {out['load_measured']:,} + warm-up {out['load_warmup']:,} "
                    f"+ {out['check_downloads']} checks); {later:,} after {AUDIT_LATE_WAIT:g} s more ({why})"
                ),
            )
    except Exception as error:
        out.update(status="FAILED", error=f"could not count: {error}")
    log(
        f"  audit events written ({mode}): {out.get('written')} for {out.get('expected_at_least')} downloads: "
        f"{out['status']}"
    )
    return out


def measure_rss(tmp: Path, master: subprocess.Popen, base: str, token: str, patient_id: str, big: dict) -> dict:
    """Peak RSS of the worker while curl downloads, then uploads, 1 GiB."""
    out: dict = {}
    auth = ["-H", f"Authorization: Token {token}"]
    try:
        pid = gunicorn_worker(master)
    except Exception as error:
        return {
            "download": {"status": "FAILED", "error": str(error)},
            "upload": {"status": "FAILED", "error": str(error)},
        }
    for what in ("download", "upload"):
        if what == "download":
            argv = ["curl", "-sS", "--max-time", "300", "-o", "/dev/null", *auth, f"{base}{big['path']}"]
            expected = "200"
        else:
            # Multipart, streamed from disk by curl: the whole GiB goes through the client.
            # "Expect:" off: curl would otherwise wait a second for a 100 Continue.
            argv = [
                "curl",
                "-sS",
                "--max-time",
                "300",
                "-o",
                tmp / "upload-answer.json",
                *auth,
                "-H",
                "Expect:",
                "-F",
                f"file=@{big['local_path']};filename=big.pdf",
                f"{base}/api/patients/{patient_id}/files/",
            ]
            expected = "201"
        argv += ["-w", "%{http_code} %{size_download} %{size_upload} %{time_total}"]
        log(f"  project RSS: {what} 1 GiB")
        try:
            with PeakRss(pid) as rss:
                result = run(argv, timeout=330)
            status, down, up, seconds = (result.stdout.split() + ["?"] * 4)[:4]
            row = {"http_status": status, "bytes_down": down, "bytes_up": up, "seconds": seconds, **rss.report()}
            moved = int(float(down if what == "download" else up)) if status != "?" else 0
            if result.returncode != 0 or status != expected or moved < BIG_SIZE:
                answer = ""
                if what == "upload" and (tmp / "upload-answer.json").exists():
                    answer = (tmp / "upload-answer.json").read_text(errors="replace")[:300]
                row.update(
                    status="FAILED", error=f"curl {result.returncode}, HTTP {status}: {result.stderr.strip()} {answer}"
                )
            else:
                row["status"] = "ok"
            log(f"  project RSS {what}: peak {row['peak_mib']} MB (before {row['before_mib']} MB), {row['status']}")
        except Exception as error:
            row = {"status": "FAILED", "error": str(error)}
            log(f"  project RSS {what}: FAILED: {error}")
        out[what] = row
    return out


def fresh_signed_url(base: str, token: str, patient_id: str, file_id: str) -> str | None:
    """The file's signed path and query from GET /api/patients/<id>/, or None when it is not signed."""
    request = urllib.request.Request(  # noqa: S310 (a loopback URL we built)
        f"{base}/api/patients/{patient_id}/", headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            detail = json.load(response)
    except (OSError, ValueError) as error:
        log(f"  GET /api/patients/{patient_id}/ through {base}: {error}")
        return None
    for item in detail.get("files", []):
        parts = urllib.parse.urlsplit(item.get("url") or "")
        if str(item.get("id")) == file_id and "signature=" in parts.query:
            return f"{parts.path}?{parts.query}"
    return None


def run_project(bench: Bench, services: Services, tmp: Path, data: dict, shas: dict, info: dict) -> dict:
    """Load the project; ``info`` (the caller's, so that it survives a failure half-way) gathers the details."""
    env = project_env(tmp, "stream")
    (tmp / "upload-tmp").mkdir(exist_ok=True)
    create_database()
    log("project: migrate")
    migrate = run([PYTHON, "manage.py", "migrate", "--noinput"], timeout=300, cwd=REPO, env=env)
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{(migrate.stdout + migrate.stderr)[-2000:]}")
    info["gunicorn"] = effective_gunicorn_config(project_gunicorn_argv(0)[1:], env)
    log(f"project: gunicorn {info['gunicorn']}")
    if info["gunicorn"].get("sendfile") is False:
        # gunicorn's Config.sendfile is False whenever the setting is given at all,
        # even as True: only leaving it unset (or SENDFILE=1 in the environment) enables it.
        log("project: WARNING: gunicorn's effective sendfile is False: stream mode copies through Python")

    # --- stream mode (the default): the worker sends the bytes itself (sendfile).
    proc, base = start_project(services, tmp, "stream")
    bench.servers = [proc]
    log("project: prepare data (file_attach; hashing the 1 GiB file takes a few seconds)")
    prepared = run(
        [
            PYTHON,
            REPO / "bench" / "prepare_project.py",
            "--base-url",
            base,
            *(f"{label}={path}" for label, path in data.items()),
        ],
        timeout=600,
        cwd=REPO,
        env=env,
    )
    if prepared.returncode != 0:
        raise RuntimeError(f"prepare_project.py failed:\n{prepared.stderr[-3000:]}")
    project = json.loads(prepared.stdout.strip().splitlines()[-1])
    info["prepare"] = {k: v for k, v in project.items() if k != "token"}
    token_header = [f"Authorization: Token {project['token']}"]
    files = project["files"]
    log(f"project: patient detail: {project.get('patient_detail')}; url of 10k: {files['10k'].get('url')}")

    before = count_download_events()
    signed = files["10k"].get("signed_url")
    if signed:
        bench.add("project signed URL", "10k", f"{base}{signed}", sha256=shas["10k"])
    else:
        bench.not_applicable("project signed URL", "10k", f"the file's url is not signed: {files['10k'].get('url')}")
    bench.add("project token", "10k", f"{base}{files['10k']['path']}", sha256=shas["10k"], headers=token_header)
    bench.add("project token", "64m", f"{base}{files['64m']['path']}", sha256=shas["64m"], headers=token_header)
    signed_big = files["64m"].get("signed_url")
    if signed_big:
        bench.add("project signed URL", "64m", f"{base}{signed_big}", sha256=shas["64m"])

    # --- the audit trail's cost: the same 10 KB loads, each download INSERTing its event in the request.
    log("project: stream mode, FILES_AUDIT_FLUSH_SECONDS=0 (audit events written at once)")
    at_once, at_once_base = start_project(services, tmp, "stream", AUDIT_AT_ONCE, name="stream-audit-at-once")
    bench.servers = [at_once]
    signed = signed and fresh_signed_url(at_once_base, project["token"], project["patient_id"], files["10k"]["id"])
    if signed:
        bench.add("project signed URL, audit at once", "10k", f"{at_once_base}{signed}", sha256=shas["10k"])
    else:
        bench.not_applicable("project signed URL, audit at once", "10k", "the file's url is not signed")
    bench.add(
        "project token, audit at once",
        "10k",
        f"{at_once_base}{files['10k']['path']}",
        sha256=shas["10k"],
        headers=token_header,
    )

    # --- accel mode: the project says yes, nginx sends the bytes (X-Accel-Redirect).
    log("project: accel mode behind nginx")
    accel, accel_base = start_project(services, tmp, "accel")
    port = free_port()
    site = shipped_site(
        app=accel_base.removeprefix("http://"), port=port, files_root=tmp / "project-files", home=tmp / "nginx-accel"
    )
    front = start_nginx(services, tmp, "accel", site)
    bench.servers = [accel, front]
    front_base = f"http://127.0.0.1:{port}"
    wait_until_listening(front, front_base)
    # A fresh signed URL, through nginx as a client would get it.
    signed = signed and fresh_signed_url(front_base, project["token"], project["patient_id"], files["10k"]["id"])
    info["accel_10k_auth"] = "signed URL" if signed else "token"
    if signed:
        bench.add("project accel (nginx)", "10k", f"{front_base}{signed}", sha256=shas["10k"])
    else:
        accel_token = f"{front_base}{files['10k']['path']}"
        bench.add("project accel (nginx)", "10k", accel_token, sha256=shas["10k"], headers=token_header)
    bench.add(
        "project accel (nginx)", "64m", f"{front_base}{files['64m']['path']}", sha256=shas["64m"], headers=token_header
    )

    # --- every row of every server, peers' included, taking turns.
    bench.measure()
    # Every download must be on the audit trail, not dropped: counted while the servers still run.
    info["audit"] = audit = {}
    served = [(row["peer"], row["case"]) for row in bench.rows if row["peer"].startswith("project")]
    audit["all"] = audit_check(bench, "stream, audit at once and accel", served, before, AUDIT_WAIT)
    for server in (front, accel, at_once):
        services.stop(server)

    info["inprocess"] = measure_inprocess(
        env, files["10k"].get("signed_url"), files["10k"]["path"], project["token"], data["10k"]
    )
    big = {**files["1g"], "local_path": data["1g"]}
    info["rss"] = measure_rss(tmp, proc, base, project["token"], project["patient_id"], big)
    services.stop(proc)

    # --- scale: the shipped config's two workers on both cores, 1,000 keep-alive connections.
    audit["scale"] = measure_scale(bench, services, tmp, project, shas)
    return info


def measure_inprocess(env: dict, signed: str | None, token_path: str, token: str, data_file: Path) -> dict:
    """µs a 10 KB download costs through the project's WSGI application and WhiteNoise's, called directly."""
    if not signed:
        return {"status": "n/a", "error": "the file's url is not signed"}
    given = {"signed": signed, "token_path": token_path, "token": token, "data_file": str(data_file)}
    log("project: in-process cost of a 10 KB download (no server, no network)")
    result = run(
        [*SERVER_CPUS, PYTHON, "-m", "bench.suite.inprocess"], timeout=300, cwd=REPO, env=env, input=json.dumps(given)
    )
    if result.returncode != 0:
        return {"status": "FAILED", "error": result.stderr[-1500:]}
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    log(f"  in-process: {figures}")
    return {"status": "ok", **figures}


SCALE = "project signed URL, 2 workers"
SCALE_CONNECTIONS = 1000


def measure_scale(bench: Bench, services: Services, tmp: Path, project: dict, shas: dict) -> dict:
    """Signed 10 KB downloads from two workers (the shipped config's threads) over 1,000 keep-alive connections.

    Both cores serve (wrk shares the first with a worker). Every download's
    audit event must be written: they are counted afterwards, as for the
    other rows.
    """
    log(f"project: scale: 2 workers, {SCALE_CONNECTIONS} connections")
    port = free_port()
    env = project_env(tmp, "stream")
    argv = project_gunicorn_argv(port, workers=2)
    proc = services.start("project-scale", argv, env=env, cwd=REPO, cpus=ALL_CPUS)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_listening(proc, base)
        bench.servers = [proc]
        signed = fresh_signed_url(base, project["token"], project["patient_id"], project["files"]["10k"]["id"])
        if not signed:
            bench.not_applicable(SCALE, "10k", "the file's url is not signed")
            return {"mode": "scale", "status": "n/a", "error": "no signed URL to load"}
        before = count_download_events()
        bench.load(SCALE, "10k", f"{base}{signed}", sha256=shas["10k"], connections=SCALE_CONNECTIONS)  # alone
        return audit_check(bench, "2 workers, 1,000 connections", [(SCALE, "10k")], before, AUDIT_WAIT)
    finally:
        services.stop(proc)
