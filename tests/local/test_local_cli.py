"""``python -m devtools.local``: up twice is idempotent, down leaves no process, errors are one line.

Runs the real CLI as a subprocess on a temporary LOCAL_DIR and free ports, so a
developer's own ``.local/`` is never touched; the template is the session's
synthesized one (LOCAL_TEMPLATE), so no second synth.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from pymongo import MongoClient

from appdata.cache.client import cache_from_env
from appdata.cache.repositories import PROFILE
from appdata.mongo import Users
from devtools.local import ROOT, LocalError, Settings, _cache, ensure_template
from devtools.postgres import port_is_free, process_alive
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.synth import Synthesized


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Local:
    base: Path
    env: dict[str, str]
    pg_port: int
    dynamodb_port: int
    mongodb_port: int
    cache_port: int

    @property
    def local_dir(self) -> Path:
        return self.base / "local"

    def run(self, *args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "devtools.local", *args],
            cwd=ROOT,
            env={**self.env, **overrides},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def pids(self) -> tuple[int, int, int, int]:
        pg = int((self.local_dir / "postgres/data/postmaster.pid").read_text().split()[0])
        moto = int(json.loads((self.local_dir / "dynamodb/moto.pid").read_text())["pid"])
        ferret = int(json.loads((self.local_dir / "documents/ferretdb.pid").read_text())["pid"])
        redis = int(json.loads((self.local_dir / "cache/redis.pid").read_text())["pid"])
        return pg, moto, ferret, redis

    def dotenv(self) -> dict[str, str]:
        lines = (self.base / ".env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture
def local(
    synthesized: Synthesized, ferretdb_binary: Path, redis_server_process: RedisServer
) -> Iterator[Local]:
    """``redis_server_process``: only to require redis-server (skip, or fail under CI)."""
    del redis_server_process
    # Not tmp_path: the postgres OS user must reach the directory, and pytest's is 0700.
    base = Path(tempfile.mkdtemp(prefix="devtools-local-"))
    base.chmod(0o755)
    template = base / "template.json"
    template.write_text(json.dumps(synthesized.raw["dev"]))
    pg_port, dynamodb_port, mongodb_port = _free_port(), _free_port(), _free_port()
    cache_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCAL_"))}
    env.update(
        LOCAL_DIR=str(base / "local"),
        LOCAL_ENV_FILE=str(base / ".env"),
        LOCAL_TEMPLATE=str(template),
        LOCAL_PG_PORT=str(pg_port),
        LOCAL_DYNAMODB_PORT=str(dynamodb_port),
        LOCAL_MONGODB_PORT=str(mongodb_port),
        LOCAL_CACHE_PORT=str(cache_port),
    )
    handle = Local(base, env, pg_port, dynamodb_port, mongodb_port, cache_port)
    try:
        yield handle
    finally:
        handle.run("down")
        shutil.rmtree(base, ignore_errors=True)


def _dynamodb(values: dict[str, str]) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=values["AWS_ENDPOINT_URL_DYNAMODB"],
        region_name=values["AWS_REGION"],
        aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
    )


def test_up_twice_is_idempotent_and_down_leaves_nothing(local: Local) -> None:
    first = local.run("up")
    assert first.returncode == 0, first.stderr
    assert "PostgreSQL: created and started" in first.stdout
    assert "migrations applied: 1, 2, 3, 4" in first.stdout
    assert "roles: app_rw: created; app_ro: created (trust authentication" in first.stdout
    assert "table app-data-dev: created" in first.stdout
    assert f"Documents (FerretDB): started on 127.0.0.1:{local.mongodb_port}" in first.stdout
    assert (
        "database app: indexes created: email_1, cognito_id_1, created_at_-1__id_-1" in first.stdout
    )
    assert f"Cache (Redis): started on 127.0.0.1:{local.cache_port}" in first.stdout
    values = local.dotenv()
    assert values["MONGODB_URL"] == f"mongodb://127.0.0.1:{local.mongodb_port}/app"
    assert values["CACHE_URL"] == f"redis://127.0.0.1:{local.cache_port}/0"
    assert values["APPDATA_ENV"] == "local"
    assert values["DATABASE_URL"] == f"postgresql://app_rw@127.0.0.1:{local.pg_port}/app"
    owner = values["MIGRATIONS_DATABASE_URL"]
    assert owner == f"postgresql://postgres@127.0.0.1:{local.pg_port}/app"
    assert values["AWS_ENDPOINT_URL_DYNAMODB"] == f"http://127.0.0.1:{local.dynamodb_port}"
    assert values["APPDATA_TABLE_NAME"] == "app-data-dev"
    for name, value in values.items():
        assert f"{name}={value}" in first.stdout  # printed as well as written
    pids = local.pids()

    with psycopg.connect(values["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("INSERT INTO users (email, name) VALUES ('kept@example.com', 'Kept')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE not_for_apps (id int)")  # the application is not the owner
    with psycopg.connect(owner, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    dynamodb = _dynamodb(values)
    dynamodb.put_item(
        TableName="app-data-dev", Item={"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}
    )
    documents = MongoClient(values["MONGODB_URL"], serverSelectionTimeoutMS=5000)
    Users(documents.get_default_database()).create(email="kept@example.com", name="Kept")
    documents.close()
    cache = cache_from_env(values)
    cache.get(PROFILE, "kept", lambda: {"name": "Kept"})
    assert cache.get(PROFILE, "kept", lambda: {"name": "not from the cache"}) == {"name": "Kept"}

    second = local.run("up")
    assert second.returncode == 0, second.stderr
    assert "PostgreSQL: already running" in second.stdout
    assert "DynamoDB (moto): already running" in second.stdout
    assert "migrations: up to date (version 4)" in second.stdout
    assert "roles: app_rw: unchanged; app_ro: unchanged" in second.stdout
    assert "table app-data-dev: exists, schema matches" in second.stdout
    assert "Documents (FerretDB): already running" in second.stdout
    assert "Cache (Redis): already running" in second.stdout
    assert "database app: indexes: as declared" in second.stdout
    assert local.pids() == pids
    assert local.dotenv() == values
    with psycopg.connect(values["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [("Kept",)]
    assert "Item" in dynamodb.get_item(
        TableName="app-data-dev", Key={"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}
    )

    status = local.run("status")
    assert status.returncode == 0 and f"running on 127.0.0.1:{local.pg_port}" in status.stdout

    down = local.run("down")
    assert down.returncode == 0, down.stderr
    assert "DynamoDB (moto): stopped" in down.stdout and "PostgreSQL: stopped" in down.stdout
    assert "Documents (FerretDB): stopped" in down.stdout
    assert "Cache (Redis): stopped" in down.stdout
    assert not any(process_alive(pid) for pid in pids)
    assert _no_process_mentions(str(local.local_dir)) and _no_process_mentions(
        f"-p {local.dynamodb_port}"
    )
    assert _no_process_mentions(f"127.0.0.1:{local.mongodb_port}")
    assert port_is_free(local.pg_port) and port_is_free(local.dynamodb_port)
    assert port_is_free(local.mongodb_port) and port_is_free(local.cache_port)
    assert _no_process_mentions(f"--port {local.cache_port}")
    assert local.run("status").returncode == 3
    again = local.run("down")
    assert again.returncode == 0 and "was not running" in again.stdout

    # Data kept in the directory: PostgreSQL comes back with it (moto's is in memory).
    third = local.run("up")
    assert third.returncode == 0, third.stderr
    assert "PostgreSQL: started" in third.stdout and "table app-data-dev: created" in third.stdout
    with psycopg.connect(values["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [("Kept",)]
    # and so do the documents (SQLite files in the directory)
    documents = MongoClient(values["MONGODB_URL"], serverSelectionTimeoutMS=5000)
    assert Users(documents.get_default_database()).get_by_email("kept@example.com").name == "Kept"
    documents.close()
    # but not the cache's entries: no persistence, as moto's items have none
    assert cache_from_env(values).get(PROFILE, "kept", lambda: {"name": "reloaded"}) == {
        "name": "reloaded"
    }

    reset = local.run("reset")
    assert reset.returncode == 0, reset.stderr
    assert not local.local_dir.exists()
    assert _no_process_mentions(str(local.local_dir))


def _no_process_mentions(text: str) -> bool:
    for _ in range(50):  # a killed process may take a moment to leave the process table
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and process_alive(int(proc.name)):
                found.append(cmdline)
        if not found:
            return True
        time.sleep(0.05)
    return False


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_port_in_use_is_one_clear_line(local: Local) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", local.pg_port))
        squatter.listen()
        line = _one_error_line(local.run("up"))
    assert f"port {local.pg_port} on 127.0.0.1 is in use by another process" in line
    assert "LOCAL_PG_PORT" in line
    assert _no_process_mentions(f"-p {local.dynamodb_port}")  # moto, launched first, is gone

    for port, variable in (
        (local.dynamodb_port, "LOCAL_DYNAMODB_PORT"),
        (local.mongodb_port, "LOCAL_MONGODB_PORT"),
        (local.cache_port, "LOCAL_CACHE_PORT"),
    ):
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            line = _one_error_line(local.run("up"))
        assert f"port {port} on 127.0.0.1 is in use" in line and variable in line


def test_missing_postgresql_binaries_is_one_clear_line(local: Local) -> None:
    line = _one_error_line(local.run("up", LOCAL_PG_BINDIR=str(local.base / "nothing")))
    assert "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found" in line
    assert "apt package `postgresql`" in line
    assert _no_process_mentions(f"-p {local.dynamodb_port}")


def test_template_that_no_longer_serves_the_patterns_is_refused(
    local: Local, synthesized: Synthesized
) -> None:
    template = json.loads(json.dumps(synthesized.raw["dev"]))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::DynamoDB::GlobalTable":
            gsis = resource["Properties"]["GlobalSecondaryIndexes"]
            resource["Properties"]["GlobalSecondaryIndexes"] = [
                g for g in gsis if g["IndexName"] != "EmailIndex"
            ]
    path = local.base / "broken.json"
    path.write_text(json.dumps(template))

    line = _one_error_line(local.run("up", LOCAL_TEMPLATE=str(path)))

    assert "no longer serves the access patterns" in line and "'EmailIndex' is missing" in line
    assert not (local.local_dir / "postgres").exists()  # checked before anything starts


def test_bad_port_setting(local: Local) -> None:
    line = _one_error_line(local.run("status", LOCAL_PG_PORT="70000"))
    assert "LOCAL_PG_PORT='70000' is not a TCP port" in line


# -- synthesizing the template when it is missing or stale ----------------------------


def _project(base: Path, cdk_script: str) -> Settings:
    (base / "data_constructs").mkdir(parents=True)
    (base / "data_constructs" / "table.py").write_text("# construct\n")
    (base / "cdk.json").write_text("{}")
    cdk = base / "cdk"
    cdk.write_text("#!/bin/sh\n" + cdk_script)
    cdk.chmod(0o755)
    return Settings(
        root=base,
        local_dir=base / ".local",
        pg_port=1,
        dynamodb_port=2,
        stack_env="dev",
        env_file=base / ".env",
        template=None,
        pg_bindir=None,
        cdk=cdk,
    )


SYNTH_OK = (
    'echo "$@" >> calls\nmkdir -p cdk.out && echo "{}" > cdk.out/DatabaseStack-dev.template.json\n'
)


def test_template_synthesized_when_missing_or_older_than_the_constructs(tmp_path: Path) -> None:
    settings = _project(tmp_path, SYNTH_OK)
    said: list[str] = []

    path = ensure_template(settings, said.append)
    assert path == tmp_path / "cdk.out/DatabaseStack-dev.template.json" and path.is_file()
    assert (tmp_path / "calls").read_text() == "synth -q -c env=dev\n"
    assert "missing" in said[0]

    ensure_template(settings, said.append)  # fresh: no synth
    assert (tmp_path / "calls").read_text().count("synth") == 1

    later = path.stat().st_mtime + 5
    os.utime(tmp_path / "data_constructs" / "table.py", (later, later))
    ensure_template(settings, said.append)
    assert (tmp_path / "calls").read_text().count("synth") == 2
    assert "older than" in said[-1] and "table.py" in said[-1]


def test_synth_failure_and_missing_cdk_are_clear(tmp_path: Path) -> None:
    failing = _project(
        tmp_path, 'echo "Error: invalid configuration: environments.dev.region" >&2\nexit 2\n'
    )
    with pytest.raises(
        LocalError, match=r"cdk synth failed \(exit 2\): Error: invalid configuration"
    ):
        ensure_template(failing, lambda _line: None)

    (tmp_path / "cdk").unlink()
    with pytest.raises(
        LocalError, match=r"is missing and the cdk CLI is not installed .* run `make synth`"
    ):
        ensure_template(failing, lambda _line: None)


def test_without_redis_server_the_cache_is_left_out_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The rest of `make local` goes on; the repositories then read the stores directly."""
    monkeypatch.setattr("devtools.local.installed_redis_server", lambda: None)
    lines: list[str] = []
    settings = Settings.from_env({"LOCAL_DIR": str(tmp_path)})
    assert _cache(settings, lines.append) is None
    assert lines == [
        "Cache (Redis): left out, no CACHE_URL: redis-server is not installed "
        "(Debian package redis-server; make install adds it when run as root)"
    ]
