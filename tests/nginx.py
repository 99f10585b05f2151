"""Running this machine's nginx on a site config of the project's, in a folder of the test's own."""

import getpass
import os
import shutil
from pathlib import Path

import pytest


def nginx_binary() -> str:
    """Debian's nginx (scripts/test installs it). Missing: a skip here, a failure in CI, where a skip may
    not stand in for the test."""
    found = shutil.which("nginx") or next((p for p in ["/usr/sbin/nginx"] if Path(p).exists()), None)
    if found is None:
        reason = "nginx is not installed (scripts/test installs Debian's nginx package)"
        if os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}:
            pytest.fail(f"{reason} (CI must run this test)")
        pytest.skip(reason)
    return found


def write_main_conf(prefix: Path, *, serve: bool = False) -> Path:
    """What the image's own nginx.conf provides around ``prefix/site.conf``; returns its path.

    ``serve``: run in the foreground, with workers as this user (they read the test's files, which only
    their owner may).
    """
    process = f"daemon off;\nuser {getpass.getuser()};\nworker_processes 1;\n" if serve else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{process}pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n    default_type application/octet-stream;\n    proxy_temp_path {prefix}/proxy;\n"
        f"    fastcgi_temp_path {prefix}/fastcgi;\n    uwsgi_temp_path {prefix}/uwsgi;\n"
        f"    scgi_temp_path {prefix}/scgi;\n    access_log off;\n    include {prefix}/site.conf;\n}}\n"
    )
    return conf


def shipped_config(name: str, replacements: dict[str, str]) -> str:
    """``deploy/<name>`` with only what differs on this machine replaced, each replacement there exactly once."""
    site = (Path(__file__).resolve().parents[1] / "deploy" / name).read_text()
    for shipped, here in replacements.items():
        assert site.count(shipped) == 1, f"deploy/{name} no longer has {shipped!r} once"
        site = site.replace(shipped, here)
    return site


def shipped_site(*, app_port: int, port: int, files_root: Path, body_temp: Path) -> str:
    """deploy/nginx.conf with only what differs on this machine replaced, each replacement checked."""
    return shipped_config(
        "nginx.conf",
        {
            "server app:8000;": f"server 127.0.0.1:{app_port};",
            "listen 80;": f"listen 127.0.0.1:{port};",
            "alias /data/files/;": f"alias {files_root}/;",
            "client_body_temp_path /var/cache/nginx/client_temp;": f"client_body_temp_path {body_temp};",
        },
    )
