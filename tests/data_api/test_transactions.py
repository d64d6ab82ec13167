"""Transactions: Begin/Execute(transactionId)/Commit, rollback on error."""

from __future__ import annotations

import pytest

from dbmigrate.transports.data_api import DataApiError
from tests.fixtures.data_api import DataApiEndpoint

HELD_ADVISORY_LOCKS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
)


@pytest.fixture
def transport(data_api: DataApiEndpoint):
    transport = data_api.transport()
    transport.execute("CREATE TABLE item (id bigint PRIMARY KEY)")
    return transport


def test_transaction_commits(transport) -> None:
    with transport.transaction() as tx:
        tx.execute("INSERT INTO item VALUES (:id)", {"id": 1})
        tx.execute("INSERT INTO item VALUES (:id)", {"id": 2})
        assert tx.execute("SELECT count(*) FROM item") == [(2,)]

    assert transport.execute("SELECT id FROM item ORDER BY id") == [(1,), (2,)]


def test_error_inside_transaction_persists_nothing(transport) -> None:
    with pytest.raises(DataApiError, match="42P01"), transport.transaction() as tx:
        tx.execute("INSERT INTO item VALUES (1)")
        tx.execute("CREATE TABLE other (id int)")
        tx.execute("INSERT INTO missing_table VALUES (2)")

    assert transport.execute("SELECT count(*) FROM item") == [(0,)]
    assert transport.execute("SELECT to_regclass('other') IS NULL") == [(True,)]


def test_python_exception_inside_transaction_rolls_back(transport) -> None:
    with pytest.raises(RuntimeError, match="stop"), transport.transaction() as tx:
        tx.execute("INSERT INTO item VALUES (1)")
        raise RuntimeError("stop")

    assert transport.execute("SELECT count(*) FROM item") == [(0,)]


def test_advisory_xact_lock_is_held_until_commit(transport) -> None:
    with transport.transaction() as tx:
        tx.execute("SELECT pg_advisory_xact_lock(42)")
        # A later call in the same transaction still holds it: same backend.
        assert tx.execute(HELD_ADVISORY_LOCKS) == [(1,)]
        # Any other session cannot take it meanwhile.
        assert transport.execute("SELECT pg_try_advisory_xact_lock(42)") == [(False,)]

    assert transport.execute("SELECT pg_try_advisory_xact_lock(42)") == [(True,)]


def test_failing_rollback_does_not_mask_the_original_error(
    data_api: DataApiEndpoint, transport, caplog: pytest.LogCaptureFixture
) -> None:
    client = data_api.client()
    failing = pytest.raises(RuntimeError, match="original")

    with failing, data_api.transport(client).transaction() as tx:
        tx.execute("INSERT INTO item VALUES (1)")
        data_api.inject_faults({"InternalServerErrorException": 1})
        raise RuntimeError("original")

    assert "rollback of transaction" in caplog.text
    assert "InternalServerErrorException" in caplog.text
    # The emulator still holds the transaction; end it so the database can be dropped.
    client.rollback_transaction(
        resourceArn=data_api.resource_arn,
        secretArn=data_api.secret_arn,
        transactionId=tx._transaction_id,
    )
    assert transport.execute("SELECT count(*) FROM item") == [(0,)]


def test_unknown_transaction_id_is_a_bad_request(data_api: DataApiEndpoint) -> None:
    client = data_api.client()

    with pytest.raises(client.exceptions.BadRequestException, match="is not found"):
        client.commit_transaction(
            resourceArn=data_api.resource_arn, secretArn=data_api.secret_arn, transactionId="nope"
        )
