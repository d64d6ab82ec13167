"""The real `cdk synth` through the pinned CLI, as platform engineers and CI run it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import aws_cdk as cdk
import pytest

from tests.fixtures.synth import ROOT, app_command

CDK = ROOT / "node_modules" / ".bin" / "cdk"


def run_cdk(*args: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    assert CDK.exists(), "the pinned CLI is missing: run `make install` (npm ci)"
    env = {**os.environ, "PATH": f"{CDK.parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(CDK), "synth", "--quiet", "--output", str(outdir), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def cli_version() -> str:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    return str(pinned)


def test_cdk_synth_of_one_environment(tmp_path: Path, cli_version: str) -> None:
    result = run_cdk("-c", "env=dev", outdir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.glob("*.template.json")) == [
        "DatabaseStack-dev.template.json"
    ]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["artifacts"]["DatabaseStack-dev"]["type"] == "aws:cloudformation:stack"
    version = subprocess.run(
        [str(CDK), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert version.stdout.startswith(cli_version)


def test_cdk_synth_with_bad_context_fails_with_one_line(tmp_path: Path) -> None:
    result = run_cdk("-c", "env=staging", outdir=tmp_path)
    assert result.returncode != 0
    assert (
        "error: invalid configuration: env: unknown environment 'staging'; allowed: dev, prod"
        in (result.stderr)
    )
    assert "Traceback" not in result.stderr


def test_cdk_synth_runs_the_app_optimized_while_the_tests_keep_the_type_checks() -> None:
    """`cdk synth` skips the jsii bindings' typeguard check of every call (python -O, about 8%
    of a synth); the tests build the same stacks with the checks on, so CI still runs them."""
    command = app_command()
    assert command[1:] == ["-O", "app.py"], f"cdk.json's app command is {command}"
    assert (ROOT / command[0]).is_file(), f"{command[0]} is the venv's Python: run `make install`"
    with pytest.raises(TypeError, match="argument amount must be one of"):
        cdk.Duration.days("7")  # type: ignore[arg-type]  # under -O, jsii's RuntimeError instead
