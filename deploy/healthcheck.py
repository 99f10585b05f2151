"""The app container's health check: ``GET /readyz`` on gunicorn, from inside the container.

The slim image has no curl, and Django need not be imported for this: the
standard library asks gunicorn directly, with a Host that DJANGO_ALLOWED_HOSTS
accepts (Django answers 400 to any other). Exits 0 when the database and the
files' storage answer, 1 otherwise.
"""

import os
import sys
import urllib.error
import urllib.request


def allowed_host() -> str:
    """A host name Django accepts: the first of DJANGO_ALLOWED_HOSTS that is not a pattern."""
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(","):
        host = host.strip()
        if host and host != "*":
            return host.lstrip(".")  # ".example.com" allows example.com itself too
    return "localhost"


def main() -> int:
    port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rpartition(":")[2]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/readyz", headers={"Host": allowed_host()})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (a fixed http URL)
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"not ready: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
