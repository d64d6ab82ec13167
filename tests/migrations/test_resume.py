"""What the catalog confirms about a no-transaction statement whose answer was lost
(``dbmigrate.resume.confirmed``), and how long a claimed statement counts as running."""

from __future__ import annotations

import threading
import time

import pytest

from dbmigrate import resume
from dbmigrate.transports.psycopg_transport import PsycopgTransport
from tests.migrations._helpers import query


@pytest.fixture
def transport(fresh_db_url: str) -> PsycopgTransport:
    with PsycopgTransport.connect(fresh_db_url) as t:
        t.execute("CREATE TABLE t (x int)")
        t.execute("CREATE SCHEMA other")
        t.execute("CREATE TABLE other.t2 (x int)")
        t.execute('CREATE INDEX "Valid Idx" ON t (x)')
        t.execute("CREATE INDEX plain_idx ON t (x)")
        t.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'plain_idx'::regclass")
        yield t


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ('CREATE INDEX CONCURRENTLY "Valid Idx" ON t (x)', None),
        ('-- the index\n/* a note */ create unique index concurrently if not exists "Valid Idx" on t (x)', None),
        ("CREATE INDEX CONCURRENTLY plain_idx ON t (x)", "index plain_idx is invalid"),
        ("CREATE INDEX CONCURRENTLY never_made ON t (x)", "index never_made is missing"),
        # Made in its table's schema: a valid index of that name elsewhere is not it.
        ('CREATE INDEX CONCURRENTLY "Valid Idx" ON other.t2 (x)', 'index "Valid Idx" is missing'),
        ('CREATE INDEX CONCURRENTLY "Valid Idx" ON ONLY t(x)', None),
        ("DROP INDEX CONCURRENTLY IF EXISTS public.gone_idx", None),
        ('DROP INDEX CONCURRENTLY "Valid Idx"', 'index "Valid Idx" still exists'),
        ("REINDEX INDEX CONCURRENTLY plain_idx", "its outcome cannot be read from the catalog"),
        ("CREATE INDEX CONCURRENTLY ON t (x)", "its outcome cannot be read from the catalog"),
        ("VACUUM t", "its outcome cannot be read from the catalog"),
    ],
)  # fmt: skip
def test_only_what_the_catalog_shows_done_counts_as_done(
    transport: PsycopgTransport, sql: str, why: str | None
) -> None:
    found = resume.confirmed(transport, sql)
    assert found == why if why is None else (found or "").startswith(why)


def test_a_claimed_statement_counts_as_running_for_the_grace_then_when_seen(
    transport: PsycopgTransport,
) -> None:
    with transport.transaction() as tx:
        tx.execute("CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean)")
        tx.execute("INSERT INTO schema_migrations VALUES (2, true)")
        resume.start(tx, 2, "up", "c" * 64, "test")
    assert resume.claim(transport, 2, 0, "/* never sent */ ")
    assert not resume.claim(transport, 2, 0, "/* twice */ ")  # the compare-and-set
    running = resume.read(transport, 2)
    assert running is not None and running.index == 0

    watch = resume.Watch(transport, running)
    assert watch.running(0)  # not visible, but claimed just now: it may yet start
    assert not watch.running(resume.SEND_GRACE_SECONDS)  # past the grace: it ended


def test_a_statement_seen_running_then_gone_has_ended_within_the_grace(
    transport: PsycopgTransport, fresh_db_url: str
) -> None:
    marker = "/* dbmigrate 9 statement 1/1 test */ "
    running = resume.Running(9, "c" * 64, 0, marker, 0)
    sender = threading.Thread(
        target=lambda: query(fresh_db_url, marker + "SELECT pg_sleep(0.5)"), daemon=True
    )
    sender.start()
    watch = resume.Watch(transport, running)
    deadline = time.monotonic() + 10
    while not resume.visible(transport, running):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert watch.running(0)
    sender.join(timeout=10)
    assert not watch.running(0)  # seen, then gone: ended, although just claimed
