"""Statements that outlive a call: continueAfterTimeout, then wait on pg_stat_activity.

The emulator cuts calls after SHORT_CALL_TIMEOUT s, as the service does at 45 s.
Each statement records its completion in a table, which tells whether the
transport really waited for it (and whether the emulator cancelled it).
"""

from __future__ import annotations

import time

import pytest

from dbmigrate.transports.data_api import (
    DataApiTransport,
    StatementEndedUnobservedError,
    StatementOutcomeUnknownError,
    StatementStillRunningError,
)
from tests.fixtures.data_api import SHORT_CALL_TIMEOUT, DataApiEndpoint

SLOW_INSERT = "INSERT INTO done SELECT 1 FROM pg_sleep({seconds})"


def prepared(endpoint: DataApiEndpoint, **options: object) -> DataApiTransport:
    transport = endpoint.transport(poll_interval=0.05, **options)
    transport.execute("CREATE TABLE done (n int)")
    return transport


def test_long_running_statement_past_the_call_limit_is_awaited_then_said_unobserved(
    data_api_short_timeout: DataApiEndpoint,
) -> None:
    """It ran to its end, but its answer was lost with the cut call: the caller is told so,
    and confirms what it did itself (dbmigrate.resume.confirmed)."""
    transport = prepared(data_api_short_timeout)
    started = time.monotonic()

    with pytest.raises(StatementEndedUnobservedError, match="its result never came back"):
        transport.execute(SLOW_INSERT.format(seconds=1.2), long_running=True)

    assert time.monotonic() - started >= 1.2
    assert transport.execute("SELECT count(*) FROM done") == [(1,)]


def test_ordinary_statement_past_the_call_limit_fails_and_is_cancelled(
    data_api_short_timeout: DataApiEndpoint,
) -> None:
    transport = prepared(data_api_short_timeout)

    with pytest.raises(StatementOutcomeUnknownError, match="StatementTimeoutException"):
        transport.execute(SLOW_INSERT.format(seconds=1.2))

    time.sleep(1.2 - SHORT_CALL_TIMEOUT)
    assert transport.execute("SELECT count(*) FROM done") == [(0,)]


def test_client_read_timeout_on_long_running_statement_is_awaited(
    data_api: DataApiEndpoint,
) -> None:
    transport = prepared(data_api, client=data_api.client(read_timeout=0.5))

    with pytest.raises(StatementEndedUnobservedError):
        transport.execute(SLOW_INSERT.format(seconds=1.2), long_running=True)

    assert transport.execute("SELECT count(*) FROM done") == [(1,)]


@pytest.mark.parametrize("bound", ["deadline", "long_wait"])
def test_statement_still_running_at_the_deadline_is_reported(
    data_api_short_timeout: DataApiEndpoint, bound: str
) -> None:
    """``long_wait`` bounds the wait alone (the runner's invocation budget), ``deadline`` also
    the retries (the Lambda's time)."""
    give_up_at = time.monotonic() + 0.3
    transport = prepared(data_api_short_timeout, **{bound: lambda: give_up_at - time.monotonic()})

    with pytest.raises(StatementStillRunningError, match="still running on the server"):
        transport.execute(SLOW_INSERT.format(seconds=1.5), long_running=True)

    assert transport.execute(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO done%'"
    ) == [(True,)]
