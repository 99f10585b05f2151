"""Liveness and readiness for load balancers and orchestrators."""

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from files import conf

logger = logging.getLogger(__name__)


@require_GET
def healthz(request) -> JsonResponse:
    """``/healthz``: the process is up and answering."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request) -> JsonResponse:
    """``/readyz``: the database and the files' storage answer; 503 when either does not."""
    checks = {"database": _database_ready(), "storage": _storage_ready()}
    ready = all(checks.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {k: "ok" if v else "failing" for k, v in checks.items()},
    }
    return JsonResponse(body, status=200 if ready else 503)


def _database_ready() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        logger.exception("readiness: database check failed")
        return False
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
