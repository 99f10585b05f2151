"""Liveness and readiness for load balancers and orchestrators.

``/healthz`` asks nothing of anyone: it answers while the process can
answer at all. ``/readyz`` asks the database and the files' storage, each
in a thread of its own, and answers within :data:`READY_WITHIN` seconds
whatever they do, naming each check ``ok``, ``failing`` (it raised) or
``timeout`` (no answer in time).
"""

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from files import conf

logger = logging.getLogger(__name__)

#: Seconds /readyz waits for its checks: an orchestrator's probe gives up soon after.
READY_WITHIN = 1.0

# One thread per dependency: a check stuck on it (until its own timeout) holds only that one, and the
# checks of it queued behind are cancelled unstarted and count as timeouts, so stuck checks never pile up.
_database_checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz-database")
_storage_checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz-storage")


@require_GET
def healthz(request) -> JsonResponse:
    """``/healthz``: the process is up and answering."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request) -> JsonResponse:
    """``/readyz``: the database and the files' storage answer; 503 when either does not, within a second."""
    running = {"database": _database_checks.submit(_database_ready), "storage": _storage_checks.submit(_storage_ready)}
    wait(running.values(), timeout=READY_WITHIN)
    checks = {name: _outcome(name, future) for name, future in running.items()}
    ready = all(outcome == "ok" for outcome in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def _outcome(name: str, future: Future) -> str:
    if not future.done():
        future.cancel()
        logger.error("readiness: %s check gave no answer within %s s", name, READY_WITHIN)
        return "timeout"
    return "ok" if future.result() else "failing"


def _database_ready() -> bool:
    # This thread's own connection, opened and closed by each check (it reaches the server anew every time).
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        logger.exception("readiness: database check failed")
        return False
    finally:
        connection.close()
    return True


def _storage_ready() -> bool:
    try:
        # Listing the root is the cheapest call every backend answers (a stat, or one LIST on S3).
        conf.storage().listdir("")
    except FileNotFoundError:
        return True  # local disk before the first upload: the folder is made on first save
    except Exception:
        # Any backend's failure (OSError, botocore's errors, ...) means: not ready.
        logger.exception("readiness: storage check failed")
        return False
    return True
