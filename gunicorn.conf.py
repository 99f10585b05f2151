"""gunicorn settings for the clinic backend in production: ``gunicorn -c gunicorn.conf.py clinic.wsgi``.

Each value can be changed from the environment (GUNICORN_*) without editing this file.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# Threads, not the sync worker: a browser opening a patient's page fetches
# dozens of thumbnails over a few kept-alive connections, which the sync
# worker closes after every response; a thread also waits on a slow download
# without blocking its worker. Two processes per core cover the GIL.
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 8))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))

# A worker silent this long is restarted. Large downloads go out through
# sendfile in a thread and do not block the worker's heartbeat; uploads of
# big scans from slow clinics' lines are what this has to allow for.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))

# Recycle workers now and then so that no slow leak grows without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 5000))
max_requests_jitter = max_requests // 10

# Files on local disk leave through sendfile(2), with no copy through Python.
# It is gunicorn's default: setting `sendfile` at all (even to True) turns it off.

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# Only the path: a signed URL's query string is a credential and stays out of the logs.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
