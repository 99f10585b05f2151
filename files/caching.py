"""Small in-process caches for the download hot path.

Two kinds of facts are cached, each with a bound on how stale it can be:

- a file's metadata (name, size, checksum, type): it never changes once the
  file is stored, so it is kept until evicted. Whether the file still exists
  is never cached: storage is asked on every request, so a deletion takes
  effect at once.
- who a token belongs to, whether a signed URL's user still exists, and what
  that user may do: kept for
  ``FILES_AUTH_CACHE_SECONDS`` (default 10). A revoked token, a deactivated
  or deleted user or a withdrawn permission takes effect within that time;
  in this process, deleting a token (deleting its user deletes it) drops its
  entries at once, including those other requests loaded while it was deleted.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

_MISSING = object()
_all_caches: list["BoundedCache"] = []
_loads = threading.local()


def take_load_count() -> int:
    """How many values this thread's caches loaded since the last call (each load is a database query)."""
    count = getattr(_loads, "count", 0)
    _loads.count = 0
    return count


def clear_all() -> None:
    """Empty every cache (tests start from a known state; an operator may want the same)."""
    for cache in _all_caches:
        cache.clear()


class BoundedCache(Generic[V]):
    """A thread-safe cache of at most ``size`` entries, each living at most ``ttl`` seconds.

    An entry lives until the end of the ``ttl``-long window of the clock in
    which its loading began (windows start at multiples of ``ttl``): never
    longer than ``ttl``, and every entry loaded in one window ends with it.
    So a value built from other caches' values (the download path's grants)
    never outlives what it was built from.

    A hit takes no lock (a dict read is atomic in CPython) and does not
    reorder entries: when the cache is full, the entry stored first goes.
    Entries expire and are stored again, so one in use is never the oldest
    for long; and a download's hit stays a dict read.
    """

    def __init__(self, size: int, ttl: Callable[[], float] | None = None) -> None:
        self._size = size
        self._ttl = ttl
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        # Counts discards and clears: a value whose loading began before one may hold what was just forgotten
        # (a deleted token read a moment before), so it is returned to its caller but not kept.
        self._forgets = 0
        _all_caches.append(self)

    def get(self, key: Hashable) -> V | None:
        """The cached value for ``key``, or None (so only for caches that never hold None: the grants)."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def get_or_set(self, key: Hashable, load: Callable[[], V]) -> V:
        """The cached value for ``key``, or ``load()``'s, which is cached (unless it raises)."""
        now = time.monotonic()
        entry = self._entries.get(key, _MISSING)
        if entry is not _MISSING and entry[0] > now:
            return entry[1]
        _loads.count = getattr(_loads, "count", 0) + 1
        forgets = self._forgets
        value = load()
        expires = _window_end(now, self._ttl()) if self._ttl else float("inf")
        with self._lock:
            if forgets != self._forgets:
                return value
            self._entries.pop(key, None)  # stored again at the end: the newest
            self._entries[key] = (expires, value)
            while len(self._entries) > self._size:
                del self._entries[next(iter(self._entries))]
        return value

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._forgets += 1
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._forgets += 1
            self._entries.clear()


def _window_end(now: float, ttl: float) -> float:
    """The end of the ``ttl``-long window ``now`` is in; ``now`` itself when there is no window (nothing kept)."""
    return (now // ttl + 1) * ttl if ttl > 0 else now
