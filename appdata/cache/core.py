"""ReadThroughCache: cache-aside reads over Redis/Valkey that never make a request fail.

Reads: one round trip (``MGET`` of the entry and its version). A hit returns
the decoded value; a cached "not found" returns None. On a miss, one caller
per key loads from the store (single flight: one thread per process, through
an in-process flight, and one process per cache, through a ``SET NX PX``
lock); the others wait for its entry, up to ``lock_timeout``, then load
themselves.

Writes invalidate, they do not update. A writer's ``SET`` of the new value can
land after a concurrent writer's, leaving the older value cached until its TTL;
and a reader that loaded before the write can store what it read after the
write. So a write bumps the entry's version and deletes the entry, and a
reader stores what it loaded only if the version is still the one it saw
before loading (a Lua compare-and-set). A reader therefore never caches a
value older than a write it could have observed.

The bound: an entry can outlive its store value by at most the kind's TTL, and
only when the invalidation itself failed (the cache was unreachable at the
write). TTLs are jittered downwards (``ttl * (1 - jitter * U[0,1))``), so the
bound stays the TTL and entries written together do not expire together.

Failures (connection refused, timeouts, a cache full of unreadable entries)
fall back to the store. The first failure suspends the cache for
``retry_after`` seconds, so an outage costs one bounded timeout per interval,
not one per call; it is logged once per ``log_interval``, and its recovery once.
Concurrent reads of one key in a process share one call (`get`), also while the
cache is down: a hot key costs the store one read per process at a time.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import RedisError

from appdata.cache.codec import CodecError
from appdata.cache.keys import CacheNames, EntryKind, Namespace

LOG = logging.getLogger("appdata.cache")

_FILL = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_INVALIDATE = """
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_MISSING = "\x00missing"
"""The entry of a cached "not found" (no JSON text starts with NUL)."""
VERSION_TTL_SECONDS = 6 * 3600
"""How long a key's version outlives its last write: far longer than any load."""


@dataclass
class CacheStats:
    """Counters since the cache was made; ``as_dict()`` for an application's metrics."""

    hits: int = 0
    negative_hits: int = 0
    misses: int = 0
    store_reads: int = 0
    fills: int = 0
    invalidations: int = 0
    errors: int = 0
    bypassed: int = 0
    """Reads that went straight to the store while the cache was suspended after a failure."""
    coalesced: int = 0
    """Reads that shared a concurrent read of the same key in this process."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + count)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {
                name: getattr(self, name)
                for name in (
                    "hits", "negative_hits", "misses", "store_reads", "fills",
                    "invalidations", "errors", "bypassed", "coalesced",
                )
            }  # fmt: skip


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


@dataclass(frozen=True, kw_only=True)
class CacheTiming:
    """How long to wait, how long to stay away, how often to complain."""

    lock_timeout: float = 2.0
    """How long followers wait for the leader's entry before loading themselves."""
    retry_after: float = 5.0
    log_interval: float = 60.0
    jitter: float = 0.1


class ReadThroughCache:
    """Entries of any `EntryKind` in one namespace; ``client`` None means no cache at all."""

    def __init__(
        self,
        client: redis.Redis | None,
        namespace: Namespace,
        *,
        timing: CacheTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.timing = timing or CacheTiming()
        self.stats = CacheStats()
        self._clock, self._sleep, self._rng = clock, sleep, rng
        self._suspended_until = 0.0
        self._last_report: float | None = None
        self._failing = False
        self._state = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._scripts = (
            {
                "fill": client.register_script(_FILL),
                "invalidate": client.register_script(_INVALIDATE),
                "release": client.register_script(_RELEASE),
            }
            if client is not None
            else {}
        )

    # -- reads -------------------------------------------------------------------

    def get(self, kind: EntryKind[Any], key: str, load: Callable[[], Any]) -> Any:
        """The cached value of ``key``, else ``load()`` (None: not found, cached shorter).

        Concurrent calls for one key in this process share one call: a thousand threads
        reading a hot key make one round trip to the cache, and on a miss one store read."""
        names = self.namespace.names(kind, key)
        return self._single_flight(names.value, lambda: self._get(kind, key, load))

    def _get(self, kind: EntryKind[Any], key: str, load: Callable[[], Any]) -> Any:
        if self._client is None or self._suspended():
            self.stats.add("bypassed")
            return self._load(load)
        names = self.namespace.names(kind, key)
        try:
            entry, version = self._client.mget(names.value, names.version)
        except RedisError as exc:
            self._failed(exc)
            return self._load(load)
        self._recovered()
        if entry is not None:
            found, value = self._decoded(kind, entry)
            if found:
                return value
        self.stats.add("misses")
        return self._lead(kind, key, version, load)

    def _decoded(self, kind: EntryKind[Any], entry: bytes | str) -> tuple[bool, Any]:
        text = _text(entry)
        if text == _MISSING:
            self.stats.add("negative_hits")
            return True, None
        try:
            value = kind.codec.loads(text)
        except CodecError as exc:
            self._failed(exc)
            return False, None
        self.stats.add("hits")
        return True, value

    def _single_flight(self, flight_key: str, lead: Callable[[], Any]) -> Any:
        """One thread of this process runs ``lead``; the others get its result or error.

        The followers count as the leader's kind of answer: a hit, or a share of one store
        read (``coalesced``)."""
        with self._state:
            flight = self._flights.get(flight_key)
            leader = flight is None
            if flight is None:
                flight = self._flights[flight_key] = _Flight()
        if not leader:
            self.stats.add("coalesced")
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            flight.value = lead()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._state:
                del self._flights[flight_key]
            flight.done.set()
        return flight.value

    def _lead(self, kind: EntryKind[Any], key: str, version: bytes | str | None, load: Any) -> Any:
        """This process's loader: take the cache-wide lock and load, or wait for who has it."""
        assert self._client is not None
        names = self.namespace.names(kind, key)
        deadline = self._clock() + self.timing.lock_timeout
        delay = 0.002
        while True:
            try:
                token = self._acquire(names.lock)
            except RedisError as exc:
                self._failed(exc)
                return self._load(load)
            if token is not None:
                try:
                    value = self._load(load)
                    self._fill(kind, names, version, value)  # before the release: no gap
                finally:
                    self._release(names.lock, token)
                return value
            self._sleep(delay)
            delay = min(delay * 2, 0.05)
            try:
                entry = self._client.get(names.value)
            except RedisError as exc:
                self._failed(exc)
                return self._load(load)
            if entry is not None:
                found, value = self._decoded(kind, entry)
                if found:
                    return value
            if self._clock() >= deadline:
                return self._load(load)

    def _acquire(self, lock_key: str) -> str | None:
        """A token if this caller now holds the key's lock (it expires after lock_timeout)."""
        assert self._client is not None
        token = secrets.token_hex(8)
        timeout_ms = int(self.timing.lock_timeout * 1000)
        return token if self._client.set(lock_key, token, nx=True, px=timeout_ms) else None

    def _release(self, lock_key: str, token: str) -> None:
        """Only if still ours: a lock that expired during a slow load may be another's now."""
        try:
            self._scripts["release"](keys=[lock_key], args=[token])
        except RedisError as exc:
            self._failed(exc)

    def _fill(
        self, kind: EntryKind[Any], names: CacheNames, version: bytes | str | None, value: Any
    ) -> None:
        ttl = kind.negative_ttl_seconds if value is None else kind.ttl_seconds
        ttl_ms = max(1, int(ttl * 1000 * (1 - self.timing.jitter * self._rng())))
        text = _MISSING if value is None else kind.codec.dumps(value)
        expected = _text(version) if version is not None else ""
        try:
            stored = self._scripts["fill"](
                keys=[names.value, names.version], args=[expected, text, ttl_ms]
            )
        except RedisError as exc:
            self._failed(exc)
            return
        if stored:
            self.stats.add("fills")

    def _load(self, load: Callable[[], Any]) -> Any:
        self.stats.add("store_reads")
        return load()

    # -- writes ------------------------------------------------------------------

    def invalidate(self, kind: EntryKind[Any], *keys: str) -> None:
        """After a store write: drop the entries and bump their versions. Never raises."""
        if self._client is None:
            return
        if self._suspended():
            self.stats.add("bypassed")
            return
        try:
            for key in keys:
                names = self.namespace.names(kind, key)
                self._scripts["invalidate"](
                    keys=[names.value, names.version], args=[VERSION_TTL_SECONDS * 1000]
                )
                self.stats.add("invalidations")
        except RedisError as exc:
            self._failed(exc)

    # -- failures ----------------------------------------------------------------

    def _suspended(self) -> bool:
        return self._clock() < self._suspended_until

    def _failed(self, exc: Exception) -> None:
        self.stats.add("errors")
        now = self._clock()
        with self._state:
            self._suspended_until = now + self.timing.retry_after
            self._failing = True
            report = (
                self._last_report is None or now - self._last_report >= self.timing.log_interval
            )
            if report:
                self._last_report = now
        if report:
            LOG.warning(
                "cache unavailable, reading from the store (%s: %s); retrying every %gs, "
                "next report in %gs at the earliest",
                type(exc).__name__,
                exc,
                self.timing.retry_after,
                self.timing.log_interval,
            )

    def _recovered(self) -> None:
        if not self._failing:
            return
        with self._state:
            was, self._failing = self._failing, False
        if was:
            LOG.warning("cache reachable again: reads use it")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
