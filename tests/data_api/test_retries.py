"""Retries: which errors are retried where, with what backoff, and when to give up."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbmigrate.compile import compile_directory
from dbmigrate.engine import AppliedStep, Engine
from dbmigrate.errors import StatementError
from dbmigrate.transports.data_api import DataApiError, RetriesExhaustedError, RetryPolicy
from tests.fixtures.data_api import DataApiEndpoint
from tests.migrations._helpers import MIGRATIONS, history, query, state, write


class FakeClock:
    """Time that only moves when the transport sleeps, so tests never wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def policy(self, **limits: float) -> RetryPolicy:
        limits = {"base_delay": 0.5, "max_delay": 8.0, **limits}
        return RetryPolicy(sleep=self.sleep, clock=lambda: self.now, jitter=lambda: 1.0, **limits)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_resuming_cluster_is_retried_with_exponential_backoff(
    data_api: DataApiEndpoint, clock: FakeClock
) -> None:
    transport = data_api.transport(retry=clock.policy())
    data_api.inject_faults({"DatabaseResumingException": 4})

    assert transport.execute("SELECT 1") == [(1,)]
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_jitter_spreads_each_delay_over_its_upper_half() -> None:
    low = RetryPolicy(base_delay=1.0, jitter=lambda: 0.0)
    high = RetryPolicy(base_delay=1.0, jitter=lambda: 0.999)

    assert [low.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert [round(high.delay(n), 2) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert RetryPolicy(max_delay=8.0, jitter=lambda: 0.0).delay(20) == 4.0


def test_exhausted_attempts_raise_a_clear_error(
    data_api: DataApiEndpoint, clock: FakeClock
) -> None:
    transport = data_api.transport(retry=clock.policy(max_attempts=3))
    data_api.inject_faults({"DatabaseResumingException": 10})

    with pytest.raises(RetriesExhaustedError) as caught:
        transport.execute("SELECT 1")

    assert caught.value.code == "DatabaseResumingException"
    assert "gave up after 3 attempts" in str(caught.value)
    assert len(clock.sleeps) == 2


def test_retrying_stops_at_the_time_budget(data_api: DataApiEndpoint, clock: FakeClock) -> None:
    transport = data_api.transport(retry=clock.policy(max_attempts=100, max_elapsed=3.0))
    data_api.inject_faults({"DatabaseResumingException": 100})

    with pytest.raises(RetriesExhaustedError, match="gave up after 3 attempts"):
        transport.execute("SELECT 1")

    assert clock.sleeps == [0.5, 1.0]  # a third sleep (2.0) would end at 3.5 s


def test_retrying_stops_before_the_deadline(data_api: DataApiEndpoint, clock: FakeClock) -> None:
    transport = data_api.transport(retry=clock.policy(), deadline=lambda: 3.0 - clock.now)
    data_api.inject_faults({"DatabaseResumingException": 100})

    with pytest.raises(RetriesExhaustedError):
        transport.execute("SELECT 1")

    assert clock.sleeps == [0.5, 1.0]


def test_throttling_is_retried_for_autocommit_statements(
    data_api: DataApiEndpoint, clock: FakeClock
) -> None:
    transport = data_api.transport(retry=clock.policy())
    data_api.inject_faults({"ThrottlingException": 1})

    assert transport.execute("SELECT 2") == [(2,)]
    assert clock.sleeps == [0.5]


def test_service_unavailable_is_not_retried_for_statements_that_may_have_run(
    data_api: DataApiEndpoint, clock: FakeClock
) -> None:
    transport = data_api.transport(retry=clock.policy())
    transport.execute("CREATE TABLE item (id int)")
    data_api.inject_faults({"ServiceUnavailableError": 1})

    with pytest.raises(DataApiError, match="ServiceUnavailableError"):
        transport.execute("INSERT INTO item VALUES (1)")

    assert clock.sleeps == []


def test_begin_transaction_is_retried_on_transient_errors(
    data_api: DataApiEndpoint, clock: FakeClock
) -> None:
    transport = data_api.transport(retry=clock.policy())
    data_api.inject_faults({"ServiceUnavailableError": 1, "DatabaseResumingException": 1})

    with transport.transaction() as tx:
        assert tx.execute("SELECT 3") == [(3,)]

    assert clock.sleeps == [0.5, 1.0]


def test_statements_inside_a_transaction_are_never_retried(
    data_api: DataApiEndpoint, clock: FakeClock
) -> None:
    transport = data_api.transport(retry=clock.policy())
    transport.execute("CREATE TABLE item (id int)")

    failing = pytest.raises(DataApiError, match="DatabaseResumingException")
    with failing, transport.transaction() as tx:
        tx.execute("INSERT INTO item VALUES (1)")
        data_api.inject_faults({"DatabaseResumingException": 1})
        tx.execute("INSERT INTO item VALUES (2)")

    assert clock.sleeps == []
    assert transport.execute("SELECT count(*) FROM item") == [(0,)]


REFUSED = {
    "count": 3,
    "message": 'FATAL: password authentication failed for user "postgres"; SQLState: 28P01',
}
LOGIN_FAILED = {"BadRequestException": REFUSED}
"""What a Data API call answers while a rotation has changed the password but not yet the
secret's current version (the single-user strategy's order). The message's form is the
emulator's; the SQLSTATE is PostgreSQL's invalid_password."""


def test_a_rejected_password_before_anything_ran_is_retried_and_the_deploy_succeeds(
    data_api: DataApiEndpoint, clock: FakeClock
) -> None:
    """The first deploy starts the first rotation: its first calls may find the password
    changed under them. A call that could not log in ran nothing, so it is retried."""
    transport = data_api.transport(retry=clock.policy())
    data_api.inject_faults(LOGIN_FAILED)
    assert transport.execute("SELECT 1") == [(1,)]
    data_api.inject_faults(LOGIN_FAILED)
    with transport.transaction() as tx:
        assert tx.execute("SELECT 2") == [(2,)]
    assert clock.sleeps == [0.5, 1.0, 2.0] * 2


def test_a_migration_run_through_a_rotation_applies_every_file(
    data_api: DataApiEndpoint, clock: FakeClock, fresh_db_url: str
) -> None:
    """The password is refused twice just as the second file's call goes out (the file in
    one call: nothing of it ran), then accepted: every file is applied once."""

    def rotation_starts(step: AppliedStep) -> None:
        if step.version == 1:
            data_api.inject_faults({"BadRequestException": {**REFUSED, "count": 2}})

    transport = data_api.transport(retry=clock.policy())
    engine = Engine(transport, compile_directory(MIGRATIONS), on_step=rotation_starts)
    assert engine.up().applied_versions == (1, 2, 3, 4)
    assert clock.sleeps == [0.5, 1.0]
    assert state(fresh_db_url) == [(4, False)]
    assert [h[0] for h in history(fresh_db_url)] == [1, 2, 3, 4]


def test_a_statement_raising_a_login_sqlstate_is_not_taken_for_a_refused_login(
    data_api: DataApiEndpoint, clock: FakeClock, fresh_db_url: str, tmp_path: Path
) -> None:
    """An ERROR with SQLSTATE 28000 from a statement did run (a sequence moved): only a FATAL
    refusal at login is retried."""
    write(tmp_path, "000001_s.up.sql", "CREATE SEQUENCE s;")
    write(
        tmp_path,
        "000002_raise.up.sql",
        "SELECT nextval('s');\n"
        "DO $$BEGIN RAISE EXCEPTION 'not you' USING ERRCODE = '28000'; END$$;\n",
    )
    engine = Engine(data_api.transport(retry=clock.policy()), compile_directory(tmp_path))
    with pytest.raises(StatementError, match="not you"):
        engine.up()
    assert clock.sleeps == []
    assert query(fresh_db_url, "SELECT last_value FROM s") == [(1,)]


def test_a_rejected_password_inside_a_transaction_is_not_retried(
    data_api: DataApiEndpoint, clock: FakeClock
) -> None:
    """Once a statement of the transaction ran, a retry could run it twice: it fails."""
    transport = data_api.transport(retry=clock.policy())
    with (
        pytest.raises(DataApiError, match="password authentication failed"),
        transport.transaction() as tx,
    ):
        tx.execute("SELECT 1")
        data_api.inject_faults({"BadRequestException": {**REFUSED, "count": 1}})
        tx.execute("SELECT 2")
    assert clock.sleeps == []


def test_a_password_rejected_past_the_bound_fails_clearly(
    data_api: DataApiEndpoint, clock: FakeClock
) -> None:
    transport = data_api.transport(retry=clock.policy(max_elapsed=3.0))
    data_api.inject_faults(
        {"BadRequestException": {**LOGIN_FAILED["BadRequestException"], "count": 50}}
    )
    with pytest.raises(RetriesExhaustedError) as caught:
        transport.execute("SELECT 1")
    assert "password authentication failed" in str(caught.value)
    assert "gave up after 3 attempts" in str(caught.value)
