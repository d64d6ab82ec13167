"""cdk-nag and cfn-lint over every synthesized template, plus the checks nag cannot make."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.synth import ENVIRONMENTS, ROOT, Synthesized


def nag_report(synthesized: Synthesized) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((synthesized.outdir / "validation-report.json").read_text())
    return report


def test_nag_ran_and_found_nothing_unacknowledged(synthesized: Synthesized) -> None:
    (plugin,) = nag_report(synthesized)["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []


def test_every_acknowledgment_has_a_specific_reason(synthesized: Synthesized) -> None:
    (plugin,) = nag_report(synthesized)["pluginReports"]
    reasons = [
        (v["ruleName"], c["constructPath"], v.get("reason", ""))
        for v in plugin.get("suppressedViolations", [])
        for c in v["violatingConstructs"]
    ]
    assert reasons, "expected the known acknowledgments (dev RDS10, LogRetention IAM4/IAM5)"
    for rule, path, reason in reasons:
        assert len(reason) >= 40, f"{rule} on {path} has no specific reason: {reason!r}"


def test_cfn_lint_finds_nothing(synthesized: Synthesized) -> None:
    """The CLI, as `make lint` runs it, with the project's .cfnlintrc.yaml."""
    templates = sorted(str(p) for p in Path(synthesized.outdir).glob("*.template.json"))
    assert len(templates) == len(ENVIRONMENTS)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), *templates],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_where_nag_is_blind_tables_have_pitr_and_encryption(
    synthesized: Synthesized, env: str
) -> None:
    """cdk-nag's DynamoDB rules look at CfnTable only; TableV2 is a GlobalTable."""
    tables = synthesized.resources(env, "AWS::DynamoDB::GlobalTable")
    assert tables
    for table in tables.values():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
        for replica in table["Properties"]["Replicas"]:
            assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_where_nag_is_blind_clusters_are_encrypted_with_backups(
    synthesized: Synthesized, env: str
) -> None:
    for cluster in synthesized.resources(env, "AWS::RDS::DBCluster").values():
        assert cluster["Properties"]["StorageEncrypted"] is True
        assert cluster["Properties"]["BackupRetentionPeriod"] >= 1
