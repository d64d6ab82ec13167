"""CacheStats: the counters an application exports (``as_dict()``), thread-safe."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class CacheStats:
    """Counters since the cache was made.

    ``hits`` and ``negative_hits`` (a cached "not found") answered from the cache;
    ``misses`` went on to load; ``store_reads`` is every load, for any reason;
    ``coalesced`` reads shared a concurrent read of the same key in this process
    (whatever its answer); ``bypassed`` reads went straight to the store (no cache
    configured, or the cache suspended after a failure); ``errors`` are failures of
    the cache, ``invalidation_failures`` the writes whose entries may stay stale for
    up to their TTL.
    """

    hits: int = 0
    negative_hits: int = 0
    misses: int = 0
    store_reads: int = 0
    fills: int = 0
    invalidations: int = 0
    invalidation_failures: int = 0
    errors: int = 0
    bypassed: int = 0
    coalesced: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, count: int = 1) -> None:
        if name not in _COUNTERS:
            raise ValueError(f"no cache counter {name!r}")
        with self._lock:
            setattr(self, name, getattr(self, name) + count)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in _COUNTERS}


_COUNTERS = tuple(f.name for f in fields(CacheStats) if not f.name.startswith("_"))
"""Every field but the lock, in their order."""
