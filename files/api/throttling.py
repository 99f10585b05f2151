"""The API's throttles: DRF's, counting clients by the address the audit trail records.

DRF's own ``get_ident`` trusts ``X-Forwarded-For`` as the client wrote it
when ``NUM_PROXIES`` is unset: these count a client by
``files.audit.client_address`` (``FILES_CLIENT_ADDRESS_HEADER`` behind the
proxy, else the peer), an IPv6 one by its /64 (``files.limits.client_key``).
A cache that cannot be reached lets requests through (logged): a Redis
outage must not become an outage of the clinic's records.
"""

import logging

from rest_framework import throttling
from rest_framework.settings import api_settings

from files.audit import client_address
from files.limits import client_key

logger = logging.getLogger(__name__)


class _ClientThrottle:
    def get_ident(self, request) -> str:
        return client_key(client_address(request.META))

    def get_rate(self) -> str | None:
        # At call time (DRF reads its class attribute once, at import); a scope without a rate is not throttled.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # any cache backend's error: not throttled, rather than a 500
            logger.exception("throttle %s: the cache cannot be reached; request let through", self.scope)
            return True


class AnonRateThrottle(_ClientThrottle, throttling.AnonRateThrottle):
    """``anon``: requests without credentials, per client address."""


class UserRateThrottle(_ClientThrottle, throttling.UserRateThrottle):
    """``user``: requests per user (per client address without credentials)."""


class UploadRateThrottle(_ClientThrottle, throttling.UserRateThrottle):
    """``uploads``: uploads per user, stricter than ``user``."""

    scope = "uploads"
