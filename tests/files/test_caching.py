"""The download path's in-process caches (files.caching): how long an answer is remembered, and how many."""

import types

import pytest

from files import caching
from files.caching import BoundedCache


@pytest.fixture
def clock(monkeypatch):
    """The caches' clock, stopped at 1000 s; set ``clock.now`` to move it."""
    clock = types.SimpleNamespace(now=1000.0)
    monkeypatch.setattr(caching, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    return clock


def loads(cache: BoundedCache, key, clock_times: list[float], clock) -> list[int]:
    """The value ``cache`` gives for ``key`` at each time; each load returns how many loads there were."""
    count = 0

    def load():
        nonlocal count
        count += 1
        return count

    seen = []
    for now in clock_times:
        clock.now = now
        seen.append(cache.get_or_set(key, load))
    return seen


def test_an_entry_is_never_kept_longer_than_its_time_to_live(clock):
    cache = BoundedCache(size=10, ttl=lambda: 10)

    assert loads(cache, "key", [1003.0, 1012.9, 1013.0, 1019.9, 1020.0], clock) == [1, 2, 2, 2, 3]


def test_entries_loaded_in_one_window_of_the_clock_end_together(clock):
    """So an answer built from other cached answers, later in the same window, never outlives them."""
    first, second = BoundedCache(size=10, ttl=lambda: 10), BoundedCache(size=10, ttl=lambda: 10)
    clock.now = 1001.0
    first.get_or_set("user", lambda: "checked at 1001")
    clock.now = 1009.5
    second.get_or_set("download", lambda: "decided at 1009.5")

    clock.now = 1010.0

    assert first.get_or_set("user", lambda: "checked again") == "checked again"
    assert second.get_or_set("download", lambda: "decided again") == "decided again"


def test_a_value_loaded_while_the_cache_forgot_is_not_kept(clock):
    """A load that began before a discard may have read what was forgotten (a token deleted meanwhile)."""
    cache = BoundedCache(size=10, ttl=lambda: 10)

    def load_while_another_thread_forgets():
        cache.discard("token")
        return "read before the deletion"

    assert cache.get_or_set("token", load_while_another_thread_forgets) == "read before the deletion"
    assert cache.get_or_set("token", lambda: "read again") == "read again"


def test_no_time_to_live_keeps_nothing(clock):
    cache = BoundedCache(size=10, ttl=lambda: 0)

    assert loads(cache, "key", [1000.0, 1000.0], clock) == [1, 2]


def test_a_full_cache_forgets_the_entry_stored_first(clock):
    cache = BoundedCache(size=2, ttl=lambda: 10)
    for key in ("a", "b", "c"):
        cache.get_or_set(key, lambda key=key: key.upper())

    assert cache.get_or_set("a", lambda: "loaded again") == "loaded again"
    assert cache.get_or_set("c", lambda: "loaded again") == "C"


def test_a_load_that_raises_is_not_remembered(clock):
    cache = BoundedCache(size=10, ttl=lambda: 10)

    def refuse():
        raise LookupError

    with pytest.raises(LookupError):
        cache.get_or_set("key", refuse)
    assert cache.get_or_set("key", lambda: "loaded") == "loaded"
