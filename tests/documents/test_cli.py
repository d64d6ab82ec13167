"""``python -m ops documents plan|apply`` as subprocesses, against the real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from pymongo.database import Database

from ops import exit_codes
from tests.fixtures.ferretdb import DocumentStore
from tests.support.processes import REPO, free_port


def ops(*args: str, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URL"}
    if url is not None:
        env["MONGODB_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "ops", "documents", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_plan_apply_and_apply_again(
    document_db: Database[Any], document_store: DocumentStore
) -> None:
    url = document_store.database_url(document_db.name)
    planned = ops("plan", url=url)
    assert planned.returncode == exit_codes.OK, planned.stderr
    assert [line.split()[:2] for line in planned.stdout.splitlines()] == [
        ["create", "users.email_1"],
        ["create", "users.cognito_id_1"],
        ["create", "users.created_at_-1__id_-1"],
    ]
    assert document_db["users"].index_information() == {}  # plan changed nothing
    applied = ops("apply", url=url)
    assert [line.split()[0] for line in applied.stdout.splitlines()] == ["created"] * 3
    again = ops("apply", "--json", url=url)
    document = json.loads(again.stdout)
    assert (document["ok"], document["exit_code"]) == (True, 0)
    assert [s["action"] for s in document["steps"]] == ["ok", "ok", "ok"]


def test_a_conflict_is_one_line_and_exit_1(
    document_db: Database[Any], document_store: DocumentStore
) -> None:
    document_db["users"].create_index([("email", 1)], name="email_1")
    done = ops("apply", url=document_store.database_url(document_db.name))
    assert done.returncode == exit_codes.ERROR
    assert one_error(done).startswith(
        "error: refused, nothing created: conflict users.email_1 is {email: 1}, declared "
        "{email: 1} (unique)"
    )
    assert set(document_db["users"].index_information()) == {"_id_", "email_1"}


def test_bad_input_and_an_unreachable_server() -> None:
    missing = ops("plan", url=None)
    assert missing.returncode == exit_codes.USAGE
    assert one_error(missing) == (
        "error: no document store: pass --mongodb-url or set "
        "MONGODB_URL=mongodb://host:port/DATABASE"
    )
    port = free_port()
    no_database = ops("plan", url=f"mongodb://127.0.0.1:{port}/")
    assert no_database.returncode == exit_codes.USAGE
    assert one_error(no_database) == (
        f"error: mongodb://127.0.0.1:{port}/ names no database: end it with /DATABASE "
        "(e.g. /appdata)"
    )
    unreachable = ops("plan", url=f"mongodb://app:secret@127.0.0.1:{port}/appdata")
    assert unreachable.returncode == exit_codes.ERROR
    assert one_error(unreachable).startswith(
        f"error: cannot reach the document store mongodb://***@127.0.0.1:{port}/appdata: "
    )
    assert "secret" not in unreachable.stderr
