"""cdk-nag and cfn-lint over every synthesized template, plus the checks nag cannot make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.synth import ENVIRONMENTS, ROOT, Synthesized


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
