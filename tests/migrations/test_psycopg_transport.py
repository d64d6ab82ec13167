"""The libpq transports (psycopg 3 and psycopg2): placeholders, transactions, connection errors.

Both send the same SQL (``dbmigrate.transports.session``); each test that talks to a
database runs over both drivers.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

from dbmigrate.errors import ConnectError, InvalidConnectionStringError
from dbmigrate.transports.psycopg2_transport import Psycopg2Transport
from dbmigrate.transports.psycopg_transport import (
    PsycopgTransport,
    redact_url,
    to_positional,
    to_pyformat,
)

Transport = type[PsycopgTransport] | type[Psycopg2Transport]
DRIVERS = pytest.mark.parametrize("driver", [PsycopgTransport, Psycopg2Transport])


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT :a", "SELECT %(a)s"),
        (
            "SELECT :a::int, x::text FROM t WHERE y = :b_2",
            "SELECT %(a)s::int, x::text FROM t WHERE y = %(b_2)s",
        ),
        ("SELECT '100%' || :v", "SELECT '100%%' || %(v)s"),
        ("SELECT ARRAY[1,2][1:2]", "SELECT ARRAY[1,2][1:2]"),
    ],
)
def test_placeholders_become_pyformat(sql: str, expected: str) -> None:
    assert to_pyformat(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected", "names"),
    [
        ("SELECT :a, :b, :a", "SELECT $1, $2, $1", ("a", "b")),
        ("SELECT x::text, :v_1", "SELECT x::text, $1", ("v_1",)),
        ("SELECT 1", "SELECT 1", ()),
    ],
)
def test_placeholders_become_positional_for_prepare(
    sql: str, expected: str, names: tuple[str, ...]
) -> None:
    assert to_positional(sql) == (expected, names)


@DRIVERS
def test_execute_with_and_without_params(driver: Transport, fresh_db_url: str) -> None:
    with driver.connect(fresh_db_url) as t:
        assert t.execute(
            "SELECT :a::int + 1, :s, :n, :b", {"a": "2", "s": "x", "n": None, "b": True}
        ) == [(3, "x", None, True)]
        # Without params the text goes as-is: % is not special, several statements are allowed.
        assert t.execute("SELECT '100%' AS pct") == [("100%",)]
        assert t.execute("CREATE TABLE x (id int)") == []
        assert t.execute("SELECT now()::date = current_date, gen_random_uuid() IS NOT NULL") == [
            (True, True)
        ]
        (uuid_row,) = t.execute("SELECT '00000000-0000-0000-0000-000000000001'::uuid")
        assert uuid_row == ("00000000-0000-0000-0000-000000000001",)


@DRIVERS
def test_transaction_commits_or_rolls_back(driver: Transport, fresh_db_url: str) -> None:
    with driver.connect(fresh_db_url) as t:
        t.execute("CREATE TABLE x (id int)")
        with t.transaction() as tx:
            tx.execute("INSERT INTO x VALUES (:v)", {"v": 1})
        with pytest.raises(RuntimeError), t.transaction() as tx:
            tx.execute("INSERT INTO x VALUES (2)")
            raise RuntimeError("boom")
        assert t.execute("SELECT id FROM x") == [(1,)]


@DRIVERS
def test_connect_failure_is_one_line_without_password(driver: Transport) -> None:
    url = "postgresql://app:s3cret@127.0.0.1:1/app?sslmode=disable&password=s3cret"
    with pytest.raises(ConnectError) as caught:
        driver.connect(url, connect_timeout=2)
    message = str(caught.value)
    assert message.startswith(
        "cannot connect to postgresql://app@127.0.0.1:1/app?sslmode=disable: "
    )
    assert "s3cret" not in message and "\n" not in message


@DRIVERS
def test_malformed_connection_string_is_bad_input(driver: Transport) -> None:
    with pytest.raises(InvalidConnectionStringError, match="invalid database URL") as caught:
        driver.connect("host=x password=hunter2 nonsense")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql://u@h:5432/d"),
        ("postgresql://h/d", "postgresql://h/d"),
        ("host=h password='a b' user=u", "host=h password=*** user=u"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@DRIVERS
def test_connect_timeout_bounds_a_server_that_never_answers(driver: Transport) -> None:
    """A socket that accepts and then says nothing (a stuck server, some load balancers)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ConnectError, match="timeout expired"):
            driver.connect(f"postgresql://app@127.0.0.1:{port}/app", connect_timeout=2)
        assert time.monotonic() - started < 8


@pytest.mark.parametrize(
    "url", ["postgresql://app@127.0.0.1:1/app", "postgresql://app@127.0.0.1:1/app?nope=1"]
)
def test_both_drivers_word_a_failed_connection_alike(url: str) -> None:
    """The CLI connects with psycopg2: its errors must read as psycopg 3's always did."""
    messages = []
    for driver in (PsycopgTransport, Psycopg2Transport):
        with pytest.raises(ConnectError) as caught:
            driver.connect(url, connect_timeout=2)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


@DRIVERS
def test_ctrl_c_cancels_the_statement_and_keeps_the_connection(
    driver: Transport, fresh_db_url: str
) -> None:
    with driver.connect(fresh_db_url) as t:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        started = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            t.execute("SELECT pg_sleep(10)")
        timer.join()
        assert time.monotonic() - started < 5  # cancelled, not waited out
        assert t.execute("SELECT 1") == [(1,)]
