"""Password logins (the admin's, the browsable API's): locked for a while after too many failures.

django-axes does the counting: its backend, first in
``AUTHENTICATION_BACKENDS``, refuses every login from a locked client, the
right password included, before any password is checked, so every form
that calls ``authenticate()`` is covered. Failures are kept in its
database tables (``AXES_HANDLER``'s default), so a lockout holds across
gunicorn workers and restarts whatever the cache; while locked, attempts
are refused without being recorded, so a storm writes nothing more.
These two functions plug the project's conventions into it.
"""

from axes.helpers import get_cool_off
from django.http import HttpRequest, JsonResponse

from files.audit import client_address


def client_ip(request: HttpRequest) -> str | None:
    """``AXES_CLIENT_IP_CALLABLE``: the client's address as the audit trail records it (never X-Forwarded-For)."""
    return client_address(request.META)


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> JsonResponse:
    """``AXES_LOCKOUT_CALLABLE``: 429 in the API's format; Retry-After is the whole cool-off, at most what is left."""
    seconds = int(get_cool_off(request).total_seconds())
    response = JsonResponse({"detail": f"Too many failed logins: try again in {seconds} seconds."}, status=429)
    response["Retry-After"] = str(seconds)
    return response
