"""gunicorn settings for the clinic backend in production: ``gunicorn -c gunicorn.conf.py clinic.wsgi``.

Each value can be changed from the environment (GUNICORN_*) without editing this file.

Run it only behind the buffering proxy (deploy/nginx.conf, deploy/nginx.s3.conf).
gunicorn alone does not survive slow clients: a gthread worker waits at most
5 s for a new connection's first bytes, but once a request's headers are in,
the thread that took it reads the body (and writes the answer) with blocking
calls and no time limit. A client sending an upload a byte a second keeps
that thread for as long as it likes; workers x threads such clients (20 with
1 worker of 4 threads, tests/clinic/test_slow_clients.py) and every other
request, /healthz included, waits in the queue until they stop. nginx reads
each body whole before passing it on at loopback speed, and buffers the
answers, so a thread here is held only while the app works.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# Threads, not the sync worker: a browser opening a patient's page fetches
# dozens of thumbnails over a few kept-alive connections, which the sync
# worker closes after every response; a kept-alive connection waits in the
# worker's poller, not in a thread. Two processes per core cover the GIL;
# workers x threads is how many requests the app works on at once, which is
# also how many slow clients a bare gunicorn takes to stop (above).
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 8))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))

# A worker whose main loop is silent this long is restarted. Requests run in
# threads and do not stop its heartbeat, so this is no limit on a request's
# time (nginx's proxy_read_timeout, 120 s, is); it matches that for a worker
# stuck as a whole. Uploads arrive from nginx whole, at loopback speed,
# whatever the clinic's line.
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
