"""Single flight in one process: concurrent calls for one key share the first caller's call.

Followers get a deep copy of the leader's value (an application may change what
it was given) or the leader's exception; one that waits longer than ``timeout``
makes its own call. After a fork the child starts with no flights: a flight
in progress belongs to a parent thread the child does not have.
"""

from __future__ import annotations

import copy
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class SingleFlight:
    def __init__(self, *, timeout: float, on_follow: Callable[[], None]) -> None:
        self._timeout = timeout
        self._on_follow = on_follow
        self._reset()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_if_alive(ref))

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}

    def run(self, key: str, call: Callable[[], Any]) -> Any:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            self._on_follow()
            if not flight.done.wait(self._timeout):
                return call()
            if flight.error is not None:
                raise flight.error
            return copy.deepcopy(flight.value)
        try:
            flight.value = call()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()
        return flight.value


def _reset_if_alive(ref: weakref.ref[SingleFlight]) -> None:
    flight = ref()
    if flight is not None:
        flight._reset()
