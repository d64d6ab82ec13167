"""The handler as the Lambda runs it: from the asset's layout, without pglast or psycopg.

The construct ships ``migration_runner/`` (these modules and bundle.json) with
``dbmigrate/`` beside it; the runtime imports ``migration_runner.handler``.
A fresh interpreter with that directory as its only project path, and with
pglast and psycopg made unimportable, must import the handler and run a Create
through boto3 against the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fixtures.data_api import DataApiEndpoint
from tests.lambdas._support import (
    REPO,
    copy_repo_migrations,
    create_event,
    properties,
    state,
    write_bundle,
)

# The engine modules the construct leaves out of the asset (they need pglast or psycopg).
NOT_IN_ASSET = ("compile.py", "source.py", "psycopg_transport.py")

RUN_IN_ASSET = """\
import json, sys
sys.modules["pglast"] = None
sys.modules["psycopg"] = None
sys.path.insert(0, sys.argv[1])

class Context:
    def get_remaining_time_in_millis(self):
        return 900_000

import migration_runner.handler as handler
response = handler.on_event(json.loads(sys.argv[2]), Context())
leaked = sorted(m for m in sys.modules if m.startswith(("dbmigrate.compile", "lambdas")))
print(json.dumps({"response": response, "leaked": leaked}))
"""


def _build_asset(root: Path, migrations: Path) -> Path:
    """The asset as the construct lays it out (see data_constructs/migration_runner.py)."""
    package = root / "migration_runner"
    package.mkdir(parents=True)
    for module in (REPO / "lambdas" / "migration_runner").glob("*.py"):
        shutil.copy(module, package / module.name)
    shutil.copytree(
        REPO / "dbmigrate",
        root / "dbmigrate",
        ignore=shutil.ignore_patterns("__pycache__", *NOT_IN_ASSET),
    )
    write_bundle(migrations, package / "bundle.json")
    return root


def test_the_asset_imports_without_pglast_and_runs_a_create(
    data_api: DataApiEndpoint, fresh_db_url: str, tmp_path: Path
) -> None:
    migrations = copy_repo_migrations(tmp_path / "migrations")
    asset = _build_asset(tmp_path / "asset", migrations)
    event = create_event(properties(data_api, write_bundle(migrations, tmp_path / "b.json")))
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
    assert state(fresh_db_url) == [(4, False)]
