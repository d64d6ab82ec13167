"""Single statements through DataApiTransport -> boto3 -> HTTP -> emulator -> PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dbmigrate.transports.data_api import DataApiError
from tests.fixtures.data_api import DataApiEndpoint


def test_parameters_and_results_keep_their_types(data_api: DataApiEndpoint) -> None:
    transport = data_api.transport()
    params = {"i": 9_000_000_000, "t": "50% off: it's", "b": True, "n": None, "f": 2.5}

    (row,) = transport.execute("SELECT :i, :t, :b, :n, :f, pg_typeof(:b)::text", params)

    assert row == (9_000_000_000, "50% off: it's", True, None, 2.5, "boolean")
    assert [type(value) for value in row] == [int, str, bool, type(None), float, str]


def test_uuid_and_timestamptz_come_back_as_strings(data_api: DataApiEndpoint) -> None:
    transport = data_api.transport()

    ((generated, stamp),) = transport.execute(
        "SELECT gen_random_uuid(), '2024-01-02 03:04:05.25+02'::timestamptz"
    )

    assert isinstance(generated, str)
    assert uuid.UUID(generated).version == 4
    assert isinstance(stamp, str)
    assert datetime.fromisoformat(stamp) == datetime(2024, 1, 2, 1, 4, 5, 250000, tzinfo=UTC)


def test_arrays_and_bytea_come_back_in_postgres_text_form(data_api: DataApiEndpoint) -> None:
    rows = data_api.transport().execute(
        "SELECT ARRAY[1, 2], ARRAY['a', 'b\"c'], ARRAY[true, false], '\\x0aff'::bytea"
    )

    assert rows == [("{1,2}", '{"a","b\\"c"}', "{t,f}", "\\x0aff")]


def test_ddl_and_dml_return_no_rows(data_api: DataApiEndpoint) -> None:
    transport = data_api.transport()

    assert transport.execute("CREATE TABLE item (id bigint PRIMARY KEY, name text)") == []
    assert transport.execute("INSERT INTO item VALUES (:id, :name)", {"id": 1, "name": "a"}) == []
    assert transport.execute("SELECT id, name FROM item") == [(1, "a")]


def test_multiple_statements_in_one_call_are_rejected(data_api: DataApiEndpoint) -> None:
    transport = data_api.transport()

    with pytest.raises(DataApiError, match="Multistatements aren't supported") as caught:
        transport.execute("CREATE TABLE a (id int); CREATE TABLE b (id int)")

    assert caught.value.code == "BadRequestException"
    assert transport.execute("SELECT count(*) FROM pg_class WHERE relname IN ('a', 'b')") == [(0,)]


def test_semicolons_inside_dollar_quotes_are_one_statement(data_api: DataApiEndpoint) -> None:
    transport = data_api.transport()

    transport.execute(
        "CREATE FUNCTION two() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$"
    )

    assert transport.execute("SELECT two()") == [(1,)]


def test_sql_errors_keep_postgres_message_on_one_line(data_api: DataApiEndpoint) -> None:
    with pytest.raises(DataApiError) as caught:
        data_api.transport().execute("SELECT * FROM missing_table")

    error = caught.value
    assert error.code == "BadRequestException"
    assert error.sqlstate == "42P01"
    assert 'relation "missing_table" does not exist' in str(error)
    assert "\n" not in str(error)


def test_session_state_does_not_carry_between_autocommit_calls(
    data_api: DataApiEndpoint,
) -> None:
    transport = data_api.transport()
    transport.execute("SET application_name = 'carried'")
    transport.execute("SELECT pg_advisory_lock(7)")

    assert transport.execute("SHOW application_name") != [("carried",)]
    assert transport.execute("SELECT pg_try_advisory_xact_lock(7)") == [(True,)]
