"""`make db-dump` / `make db-restore`: the standards' pg_dump / psql round trip, via make."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg

from ops.database import URL_VARIABLES
from tests.fixtures.synth import ROOT


def make(target: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES} | {"DATABASE_URL": url}
    return subprocess.run(
        ["make", "--no-print-directory", target, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_dump_then_restore_into_an_empty_database(fresh_db_url: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'keep me'), (2, 'and me')")
    dump = tmp_path / "dump.sql"
    dumped = make("db-dump", fresh_db_url, f"DUMP={dump}")
    assert dumped.returncode == 0, dumped.stderr
    assert dump.is_file() and not Path(f"{dump}.partial").exists()

    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE notes")
    restored = make("db-restore", fresh_db_url, f"DUMP={dump}")
    assert restored.returncode == 0, restored.stderr
    with psycopg.connect(fresh_db_url) as conn:
        assert conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall() == [
            (1, "keep me"),
            (2, "and me"),
        ]


def test_restore_is_all_or_nothing(fresh_db_url: str, tmp_path: Path) -> None:
    dump = tmp_path / "broken.sql"
    dump.write_text("CREATE TABLE half (id int);\nINSERT INTO missing VALUES (1);\n")
    result = make("db-restore", fresh_db_url, f"DUMP={dump}")
    assert result.returncode != 0
    assert 'relation "missing" does not exist' in result.stderr
    with psycopg.connect(fresh_db_url) as conn:
        assert conn.execute("SELECT to_regclass('half')").fetchone() == (None,)


def test_restore_without_a_dump_file_says_what_to_pass(fresh_db_url: str, tmp_path: Path) -> None:
    result = make("db-restore", fresh_db_url, f"DUMP={tmp_path / 'nope.sql'}")
    assert result.returncode != 0
    assert "is not a file; pass DUMP=path/to/dump.sql" in result.stderr


def test_the_owner_url_comes_first(fresh_db_url: str, tmp_path: Path) -> None:
    """With make local's .env loaded, DATABASE_URL is app_rw: the dump is taken as the owner."""
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int)")
    dump = tmp_path / "dump.sql"
    env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
    env |= {"MIGRATIONS_DATABASE_URL": fresh_db_url, "DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}
    dumped = subprocess.run(
        ["make", "--no-print-directory", "db-dump", f"DUMP={dump}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert dumped.returncode == 0, dumped.stderr
    assert "CREATE TABLE public.notes" in dump.read_text()
