"""``make guard`` and ``make deploy`` in a copy of the project whose cdk.json renames the table.

The copy holds the tracked files and links this checkout's .venv, node_modules and
.tools, so make finds everything installed; its cdk.json is the only difference.
The deployed stack is moto's (see test_deployed for what moto can hold).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.moto_server import MotoServer
from tests.guard.conftest import Variants
from tests.guard.test_deployed import deploy
from tests.guard.test_matrix import GLOBAL_TABLE, TABLE
from tests.ops._helpers import REPO

LINKED = (".venv", "node_modules", ".tools")
MAKE_TIMEOUT = 600
BLOCK_LINE = f"block: {TABLE} {GLOBAL_TABLE} TableName [replaced]: "


@pytest.fixture(scope="module")
def renamed_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("project")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)  # copy2: mtimes kept, so make installs nothing
    for name in LINKED:
        (copy / name).symlink_to(REPO / name)
    marker = REPO / ".ci" / ".system-packages"
    if marker.exists():
        shutil.copy2(marker, copy / ".ci" / ".system-packages")
    cdk_json = json.loads((copy / "cdk.json").read_text())
    cdk_json["context"]["environments"]["prod"]["table"]["table_name"] = "app-data-v2"
    (copy / "cdk.json").write_text(json.dumps(cdk_json, indent=2))
    return copy


def make(
    project: Path, moto: MotoServer, *args: str, exported: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=project,
        env={**moto.cli_env(), **(exported or {})},
        capture_output=True,
        text=True,
        timeout=MAKE_TIMEOUT,
        check=False,
    )


def test_make_guard_stops_a_renamed_table(
    renamed_project: Path, moto: MotoServer, variants: Variants
) -> None:
    deploy(moto, variants.template("committed"))
    done = make(renamed_project, moto, "guard", "ENV=prod")
    assert done.returncode != 0
    assert BLOCK_LINE in done.stdout, done.stdout + done.stderr
    assert "guard] Error 9" in done.stderr


def test_make_deploy_stops_before_cloudformation(
    renamed_project: Path, moto: MotoServer, variants: Variants
) -> None:
    deploy(moto, variants.template("committed"))
    # left over in the shell, not on the command line: no effect
    stale = {"GUARD": "0", "ALLOW": TABLE}
    done = make(renamed_project, moto, "deploy", "ENV=prod", exported=stale)
    assert done.returncode != 0
    assert BLOCK_LINE in done.stdout, done.stdout + done.stderr
    assert "deploy] Error 9" in done.stderr
    # the guard checked the assembly that `cdk deploy --app` would have deployed
    assembly = renamed_project / "cdk.out.deploy" / "prod"
    template = json.loads((assembly / "DatabaseStack-prod.template.json").read_text())
    assert template["Resources"][TABLE]["Properties"]["TableName"] == "app-data-v2"
    assert "deploying" not in done.stdout + done.stderr


def test_allow_on_the_command_line_lets_the_deploy_go_on(
    renamed_project: Path, moto: MotoServer, variants: Variants
) -> None:
    """The guard passes with the finding allowed, and `cdk deploy` runs: it gets as far as
    moto lets it, the bootstrap check (nothing is bootstrapped there)."""
    deploy(moto, variants.template("committed"))
    done = make(renamed_project, moto, "deploy", "ENV=prod", f"ALLOW={TABLE}:replaced")
    output = done.stdout + done.stderr
    assert f"allowed: {TABLE} {GLOBAL_TABLE} TableName [replaced]: " in done.stdout, output
    assert "OK: nothing blocks (0 warning(s), 1 allowed)" in done.stdout
    assert "/cdk-bootstrap/hnb659fds/version not found" in output
    assert done.returncode != 0


def test_guard_0_deploys_without_the_guard(renamed_project: Path, moto: MotoServer) -> None:
    """The deliberate replacement: the guard is skipped and `cdk deploy` runs (as far as the
    bootstrap check)."""
    done = make(renamed_project, moto, "deploy", "ENV=prod", "GUARD=0")
    output = done.stdout + done.stderr
    assert "guard skipped (GUARD=0): deploying without the check" in done.stderr
    assert BLOCK_LINE not in output and "guard DatabaseStack-prod" not in output
    assert "/cdk-bootstrap/hnb659fds/version not found" in output, output
    assert done.returncode != 0
