"""CacheHealth: when to leave the cache alone, and when to say so.

A connection failure or a timeout suspends the cache for ``retry_after``
seconds: an outage costs one bounded timeout per interval, not one per call.
Not every error means the cache is down: an unreadable entry or a full
connection pool (a burst of this process's own readers) count as errors without
suspending it. Reports are rate-limited: at most one warning per
``log_interval`` (with how many errors it stands for), and one line when the
cache answers again after a reported failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

LOG = logging.getLogger("appdata.cache")
_POOL_EXHAUSTED = "No connection available."


class CacheHealth:
    def __init__(
        self, *, retry_after: float, log_interval: float, clock: Callable[[], float]
    ) -> None:
        self._retry_after = retry_after
        self._log_interval = log_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._suspended_until = 0.0
        self._last_report: float | None = None
        self._unreported = 0
        self._reported_failure = False

    def suspended(self) -> bool:
        return self._clock() < self._suspended_until

    def failed(self, exc: BaseException, what: str) -> None:
        """``what`` failed because of ``exc``; suspends unless the cache itself answered."""
        now = self._clock()
        outage = _outage(exc)
        with self._lock:
            if outage:
                self._suspended_until = now + self._retry_after
            self._unreported += 1
            last = self._last_report
            if last is not None and now - last < self._log_interval:
                return
            self._last_report, count, self._unreported = now, self._unreported, 0
            self._reported_failure = True
        LOG.warning(
            "cache %s failed (%s: %s); %s; %d error(s) since the last report, next report in "
            "%gs at the earliest",
            what,
            type(exc).__name__,
            exc,
            f"reading from the store, retrying every {self._retry_after:g}s"
            if outage
            else "answered from the store",
            count,
            self._log_interval,
        )

    def answered(self) -> None:
        """The cache answered: after a reported failure, say so once."""
        if not self._reported_failure:
            return
        with self._lock:
            was, self._reported_failure = self._reported_failure, False
        if was:
            LOG.warning("cache reachable again: reads use it")


def _outage(exc: BaseException) -> bool:
    """The cache unreachable or not answering in time; not one entry, one script's answer
    (an out-of-memory refusal, say) or this process's full pool."""
    if isinstance(exc, RedisTimeoutError):
        return True
    return isinstance(exc, RedisConnectionError) and str(exc) != _POOL_EXHAUSTED
