"""Signature verdicts cached with a TTL, with concurrent look-ups of one image coalesced.

An image digest is immutable, but its signatures are not (one can be added or the trusted keys
change), so verdicts expire: verified ones after the policy's TTL, unverified ones sooner so a
freshly signed image is admitted quickly. Keys include the trusted-key fingerprints, so a policy
reload with other keys never reuses an old verdict. Registry errors are never cached.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

V = TypeVar("V")

NEGATIVE_TTL_CAP_SECONDS = 10.0
# Where a value came from: the cache, this caller's computation, or a concurrent caller's.
HIT, MISS, COALESCED = "hit", "miss", "coalesced"
DEFAULT_MAX_ENTRIES = 10_000


class VerdictCache(Generic[V]):
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.monotonic):
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._in_flight: dict[Hashable, Future[V]] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._clock = clock

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        """The fresh cached value for `key`, or None (lets callers skip a thread hand-off on hits)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self._clock():
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def get_or_compute(
        self, key: Hashable, compute: Callable[[], V], ttl: Callable[[V], float]
    ) -> tuple[V, str]:
        """(value, HIT | MISS | COALESCED). `ttl(value)` says how long to keep it (0: not at all).
        When another thread is already computing `key`, wait for its result instead of asking the
        registry again."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                if entry[0] > self._clock():
                    self._entries.move_to_end(key)
                    return entry[1], HIT
                del self._entries[key]
            future = self._in_flight.get(key)
            owner = future is None
            if owner:
                future = self._in_flight[key] = Future()
        assert future is not None
        if not owner:
            return future.result(), COALESCED
        try:
            value = compute()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(value)
            keep = ttl(value)
            if keep > 0:
                with self._lock:
                    self._entries[key] = (self._clock() + keep, value)
                    self._entries.move_to_end(key)
                    while len(self._entries) > self._max_entries:
                        self._entries.popitem(last=False)
            return value, MISS
        finally:
            with self._lock:
                self._in_flight.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
