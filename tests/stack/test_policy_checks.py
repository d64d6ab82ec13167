"""cdk-nag and cfn-lint over every synthesized template, plus the checks nag cannot make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all

from tests.fixtures.synth import ENVIRONMENTS, Synthesized


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


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cfn_lint_finds_nothing(synthesized: Synthesized, env: str) -> None:
    path = Path(synthesized.outdir) / f"DatabaseStack-{env}.template.json"
    matches = lint_all(path.read_text())
    # Errors and warnings, as the cfn-lint CLI reports by default (I* rules are informational).
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW"] == []


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
