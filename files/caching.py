"""Small in-process caches for the download hot path.

Two kinds of facts are cached, each with a bound on how stale it can be:

- a file's metadata (name, size, checksum, type): it never changes once the
  file is stored, so it is kept until evicted. Whether the file still exists
  is never cached: storage is asked on every request, so a deletion takes
  effect at once.
- who a token belongs to, whether a signed URL's user still exists, and what
  that user may do: kept for
  ``FILES_AUTH_CACHE_SECONDS`` (default 10). A revoked token, a deactivated
  user or a withdrawn permission takes effect within that time; in this
  process, revoking a token or deleting a user drops the entry at once.
"""

import threading
import time
from collections import OrderedDict
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
    """A thread-safe LRU cache of at most ``size`` entries, each living at most ``ttl`` seconds."""

    def __init__(self, size: int, ttl: Callable[[], float] | None = None) -> None:
        self._size = size
        self._ttl = ttl
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        _all_caches.append(self)

    def get_or_set(self, key: Hashable, load: Callable[[], V]) -> V:
        """The cached value for ``key``, or ``load()``'s, which is cached (unless it raises)."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key, _MISSING)
            if entry is not _MISSING and entry[0] > now:
                self._entries.move_to_end(key)
                return entry[1]
        _loads.count = getattr(_loads, "count", 0) + 1
        value = load()
        expires = now + self._ttl() if self._ttl else float("inf")
        with self._lock:
            self._entries[key] = (expires, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
