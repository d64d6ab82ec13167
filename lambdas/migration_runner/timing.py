"""How long one invocation may work, and when the whole deploy has to give up.

The Provider framework's asynchronous mode calls ``isComplete`` again every
query interval until it says done, up to a total timeout. Its own timeout
reports only "Operation timed out", and CloudFormation stops waiting for any
custom resource after an hour (ServiceTimeout, at most 3600 s). So the runner
keeps the clock itself: each invocation works until its budget ends (whole
files; a statement still running is waited for across invocations), and the
invocation that finds no time left for another one fails the deploy with its
own reason, before either of those timeouts can.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

INVOCATION_MARGIN_SECONDS = 60.0
"""Kept back from the Lambda's remaining time: a file in flight at the budget's end (one
Data API call: at most 45 s) and the response still fit before the Lambda is killed."""

REPORT_MARGIN_SECONDS = 120.0
"""The runner's own timeout comes this long before the total timeout, so that its reason,
not the framework's or CloudFormation's, reaches the stack events: room for the file in
flight at that moment (one call, at most 45 s) and a cold start."""

MIN_SLICE_SECONDS = 30.0
"""Less time than this left for another invocation: give up now, with the reason (a cold
start and a paused cluster's resume take about that)."""

MAX_TOTAL_TIMEOUT_SECONDS = 3600
"""CloudFormation's ceiling for a custom resource (ServiceTimeout)."""


@dataclass(frozen=True)
class Timing:
    """The custom resource's timing properties (``migrations`` in the configuration)."""

    total_timeout_seconds: int
    query_interval_seconds: int
    invocation_budget_seconds: int


@dataclass(frozen=True)
class Slice:
    """One invocation's window: ``ends`` and ``gives_up_at`` on the ``now`` clock (epoch s)."""

    ends: float
    gives_up_at: float
    query_interval_seconds: int
    total_timeout_seconds: int
    now: Callable[[], float]
    started: float
    """When this invocation began (``now`` clock)."""

    @classmethod
    def start(
        cls, timing: Timing, started_at: float, lambda_left: float, now: Callable[[], float]
    ) -> Slice:
        """The window from now: the budget, the Lambda's time and the deploy's, whichever ends
        first (``started_at``: when onEvent ran; ``lambda_left``: the Lambda's seconds left)."""
        at = now()
        gives_up_at = started_at + timing.total_timeout_seconds - REPORT_MARGIN_SECONDS
        ends = min(
            at + timing.invocation_budget_seconds,
            at + lambda_left - INVOCATION_MARGIN_SECONDS,
            gives_up_at,
        )
        return cls(
            ends,
            gives_up_at,
            timing.query_interval_seconds,
            timing.total_timeout_seconds,
            now,
            at,
        )

    def elapsed(self) -> float:
        return self.now() - self.started

    def seconds_left(self) -> float:
        return max(0.0, self.ends - self.now())

    def over(self) -> bool:
        return self.now() >= self.ends

    def expired(self) -> bool:
        """The runner's own limit has passed: start no file."""
        return self.now() >= self.gives_up_at

    def last(self) -> bool:
        """No time for another invocation after this one: what is unfinished now fails."""
        next_starts = self.now() + self.query_interval_seconds
        return next_starts + MIN_SLICE_SECONDS >= self.gives_up_at
