"""The handler as the Lambda runs it: from the asset's layout, without pglast or psycopg.

The construct ships ``migration_runner/`` (these modules and bundle.json) with
``dbmigrate/`` and ``dbaccess/`` beside it (staged here by the construct's own
function); the runtime imports ``migration_runner.handler``.
A fresh interpreter with that directory as its only project path, and with
pglast and psycopg made unimportable, must import the handler and run a Create
through boto3 against the emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from data_constructs.migration_runner import stage_asset
from dbaccess.roles import RoleSet
from dbmigrate.compile import compile_directory
from tests.fixtures.data_api import DataApiEndpoint
from tests.lambdas._support import (
    copy_repo_migrations,
    create_event,
    properties,
    role_properties,
    state,
    write_bundle,
)

RUN_IN_ASSET = """\
import json, sys
sys.modules["pglast"] = None
sys.modules["psycopg"] = None
sys.path.insert(0, sys.argv[1])

class Context:
    def get_remaining_time_in_millis(self):
        return 900_000

import migration_runner.handler as handler
event = json.loads(sys.argv[2])
merged = {**event, **handler.main(event, Context())}  # onEvent, then isComplete until done
while not (done := handler.main(merged, Context()))["IsComplete"]:
    pass
response = {"PhysicalResourceId": merged["PhysicalResourceId"], "Data": done["Data"]}
leaked = sorted(m for m in sys.modules if m.startswith(("dbmigrate.compile", "lambdas")))
print(json.dumps({"response": response, "leaked": leaked}))
"""


def _build_asset(root: Path, migrations: Path) -> Path:
    """The asset exactly as the construct stages it at synth."""
    root.mkdir(parents=True)
    return stage_asset(compile_directory(migrations), root)


def test_the_asset_imports_without_pglast_and_runs_a_create(
    data_api: DataApiEndpoint, fresh_db_url: str, tmp_path: Path, app_roles: RoleSet, rds_iam: str
) -> None:
    migrations = copy_repo_migrations(tmp_path / "migrations")
    asset = _build_asset(tmp_path / "asset", migrations)
    bundle = write_bundle(migrations, tmp_path / "b.json")
    event = create_event(properties(data_api, bundle, **role_properties(app_roles)))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL_RDS_DATA": data_api.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }

    # -I: no PYTHONPATH, no current directory on sys.path: only the asset and site-packages.
    result = subprocess.run(
        [sys.executable, "-I", "-c", RUN_IN_ASSET, str(asset), json.dumps(event)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.splitlines()[-1])
    assert output["leaked"] == []
    assert output["response"]["Data"]["Applied"] == "1,2,3,4"
    assert output["response"]["Data"]["Access"] == "app_ro: created; app_rw: created"
    assert state(fresh_db_url) == [(4, False)]
    assert sorted(path.name for path in asset.iterdir()) == [
        "dbaccess",
        "dbmigrate",
        "migration_runner",
    ]
    shipped = {path.name for path in asset.rglob("*.py")}
    local_only = {"compile.py", "source.py", "cache.py", "psycopg_transport.py",
                  "psycopg2_transport.py", "psycopg2_without_ssl.py"}  # fmt: skip
    assert not shipped & local_only
