"""``python -m ops`` start-up: building the parser imports neither boto3/botocore nor
psycopg/pglast (nor aws-cdk-lib, which `config` must only import for synth).

Each costs about 0.3 s of imports, which only a command that runs may pay: a
backup or restore, or ``migrate --env`` (the Data API), for boto3; a migrate
command for psycopg. A fresh interpreter is the only honest check: this process
has imported them all long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.ops._helpers import REPO

_PROBE = """\
import json, sys
from ops.cli import build_parser
parser = build_parser()
parser.parse_args(["migrate", "version"])
parser.parse_args(["migrate", "--env", "dev", "version", "--region", "eu-west-1"])
parser.parse_args(["access", "plan", "--env", "dev"])
parser.parse_args(["status", "--env", "dev", "--json"])
for args in (["backup", "list", "--env", "dev"], ["restore", "aurora", "--env", "dev",
             "--point-in-time", "latest", "--to-cluster", "copy"]):
    parser.parse_args(args)
heavy = ("boto3", "botocore", "psycopg", "pglast", "aws_cdk", "jsii")
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))))
"""


def _probe(code: str, *args: str) -> object:
    """Run ``code`` in a fresh interpreter; its last stdout line, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_building_and_parsing_import_no_heavy_driver() -> None:
    assert _probe(_PROBE) == []


_MIGRATE = """\
import json, sys
from ops.cli import main
code = main(sys.argv[1:])
heavy = ("boto3", "botocore", "psycopg", "psycopg2", "pglast", "aws_cdk", "jsii",
         "ssl", "dataclasses", "inspect", "socket", "secrets")
print(json.dumps([code, sorted({m.split(".")[0] for m in sys.modules} & set(heavy))]))
"""


def test_migrate_commands_connect_through_psycopg2_without_psycopg_or_pglast(
    fresh_db_url: str,
) -> None:
    """``version``, ``plan`` and a no-op ``up`` over a URL: psycopg2 (0.06 s to import here)
    instead of psycopg 3 (0.21 s), and cached files need no parser.

    Nor do they import what a few-file command cannot afford (bench/few_files.py): ssl
    (30 ms, `psycopg2_without_ssl`), dataclasses with inspect (45 ms with the class
    decorations: the engine's records are NamedTuples), socket or secrets."""
    found = [
        _probe(_MIGRATE, "migrate", command, "--database-url", fresh_db_url)
        for command in ("up", "version", "plan", "up")
    ]
    assert found[1:] == [[0, ["psycopg2"]]] * 3  # the first `up` may have parsed the files
