"""``python -m ops`` start-up: the parser and ``migrate`` never import boto3 or botocore.

They cost about 0.3 s of imports, which only a backup or restore that runs may
pay, or ``migrate --env`` when it runs (the Data API; parsing it imports
neither). A fresh interpreter is the only honest check: this process has imported
them long ago.
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
for args in (["backup", "list", "--env", "dev"], ["restore", "aurora", "--env", "dev",
             "--point-in-time", "latest", "--to-cluster", "copy"]):
    parser.parse_args(args)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore"))))
"""


def test_building_and_parsing_import_no_boto3_or_botocore() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
