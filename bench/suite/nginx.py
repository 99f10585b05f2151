"""nginx: the peer, and the front of the project's accel mode."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .common import REPO, Services, run


def nginx_conf(tmp: Path, name: str, server_block: str) -> Path:
    """A minimal nginx.conf: one worker, no access log, sendfile, every path inside the temp dir."""
    home = tmp / f"nginx-{name}"
    home.mkdir(exist_ok=True)
    conf = home / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process on;
worker_processes 1;
# Root, because the files are root's (the project keeps its files mode 0600).
user root root;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    types {{ application/pdf pdf; }}
    default_type application/octet-stream;
    client_body_temp_path {home}/client_body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
{server_block}
}}
""")
    return conf


def start_nginx(services: Services, tmp: Path, name: str, server_block: str) -> subprocess.Popen:
    conf = nginx_conf(tmp, name, server_block)
    home = conf.parent
    check = run(["nginx", "-t", "-q", "-p", home, "-e", home / "error.log", "-c", conf], timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t: {check.stdout}{check.stderr}")
    return services.start(f"nginx-{name}", ["nginx", "-p", home, "-e", home / "error.log", "-c", conf])


def shipped_site(*, app: str, port: int, files_root: Path, home: Path) -> str:
    """deploy/nginx.conf, the accel mode's config as shipped, with only what differs here replaced.

    The upstream, the listening address, the storage folder, the body temp
    folder, and the access log (off, as for every peer: the shipped one writes
    a line per request to stdout). Each replacement must match exactly once,
    so the bench notices when the shipped file changes.
    """
    site = (REPO / "deploy" / "nginx.conf").read_text()
    replacements = {
        "server app:8000;": f"server {app};",
        "listen 80;": f"listen 127.0.0.1:{port};",
        "alias /data/files/;": f"alias {files_root}/;",
        "client_body_temp_path /var/cache/nginx/client_temp;": f"client_body_temp_path {home}/client_body;",
        "access_log /dev/stdout clinic_no_query;": "access_log off;",
    }
    for shipped, here in replacements.items():
        if site.count(shipped) != 1:
            raise RuntimeError(f"deploy/nginx.conf no longer has {shipped!r} once")
        site = site.replace(shipped, here)
    return site
