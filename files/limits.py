"""Limits on noise: a client refused again and again is answered 429 for a while.

Refusals (a bad signature, token or password, a file the user may not see)
are counted per client address in fixed windows of ``FILES_REFUSAL_RATE``
("60/minute"); past that many, the client's refusals are answered 429 until
the window ends. Only refusals are counted, so an allowed request costs
nothing, and a client with valid credentials is never slowed by another's
bad ones behind the same address (a clinic's workstations behind one NAT).

An IPv6 client is counted by its /64 network: one host owns one and can
draw a new address from it for every request.

The counts live in Django's cache (``caches["default"]``): Redis in
production, shared by every process; the quick start's local memory counts
per process. A cache that cannot be reached counts nothing (logged): the
refusal itself still stands.
"""

import ipaddress
import logging
import math
import time

from django.core.cache import caches

from files import conf

logger = logging.getLogger(__name__)

#: The refusals counted, by status: those a client can repeat at will (bad credentials; a record or file it may
#: not reach, or that is not there). Every adapter that audits refusals counts these.
COUNTED_STATUSES = frozenset({401, 403, 404})
#: A throttled attempt's message in the audit trail: the same whatever the wait, so that repeats are counted as one.
THROTTLED = "Request was throttled."

_last_warning = 0.0


def refusal_throttle(*, address: str | None) -> int | None:
    """Count one refused request from ``address``: the seconds it must wait if it is over the limit, else None."""
    rate = conf.refusal_rate()
    if rate is None:
        return None
    limit, period = rate
    now = time.time()
    window = int(now // period)
    key = f"files:refusals:{client_key(address)}:{window}"
    try:
        count = _increment(key, timeout=period)
    except Exception:  # any backend's error: the refusal stands, uncounted; the request never fails for it
        _warn_unreachable()
        return None
    return math.ceil((window + 1) * period - now) if count > limit else None


def client_key(address: str | None) -> str:
    """What a client is counted by: its IP address (``files.audit.client_address``), an IPv6 one's /64 network."""
    if address is None:
        return "-"
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.version == 4:
        return str(ip)
    return f"{ipaddress.IPv6Network((ip, 64), strict=False).network_address}/64"


def _increment(key: str, *, timeout: int) -> int:
    cache = caches["default"]
    try:
        return cache.incr(key)
    except ValueError:  # the window's first refusal (or its key just expired)
        if cache.add(key, 1, timeout=timeout + 1):
            return 1
        return cache.incr(key)


def _warn_unreachable() -> None:
    """Log that the cache is unreachable, once a minute at most (a refusal storm must not become a log storm)."""
    global _last_warning
    if time.monotonic() - _last_warning > 60:
        _last_warning = time.monotonic()
        logger.exception("refusal throttle: the cache cannot be reached; refusals are not counted")
