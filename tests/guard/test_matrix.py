"""The guard over real template pairs: prod synthesized before and after one configuration change.

Each case names the change a platform engineer would make in cdk.json and the
finding (logical ID, type, property, rule) the guard must print, with its exit code.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ops import exit_codes
from tests.guard._helpers import run_guard
from tests.guard.conftest import Variants

TABLE = "AppDataTable0F9DE268"
TABLE_KEY = "AppDataTableKeyD4EBE193"
CLUSTER = "AuroraClusterCDFC8250"
WRITER = "AuroraClusterWriter38835843"
READER = "AuroraClusterReader136442C1D"
GLOBAL_TABLE = "AWS::DynamoDB::GlobalTable"
DB_CLUSTER = "AWS::RDS::DBCluster"
DB_INSTANCE = "AWS::RDS::DBInstance"

BLOCKED_CASES = {
    # (baseline, new): the blocking findings, exactly
    ("committed", "table-name"): {(TABLE, GLOBAL_TABLE, "TableName", "replaced")},
    ("committed", "database-name"): {
        (CLUSTER, DB_CLUSTER, "DatabaseName", "replaced"),
        # the instances name the cluster, so they are replaced with it
        (WRITER, DB_INSTANCE, "DBClusterIdentifier", "replaced"),
        (READER, DB_INSTANCE, "DBClusterIdentifier", "replaced"),
    },
    # customer-managed -> AWS-managed: the table's own SSE changes in place, its key goes
    ("committed", "table-encryption"): {(TABLE_KEY, "AWS::KMS::Key", "(resource)", "removed")},
    ("committed", "deletion-protection-off"): {
        (TABLE, GLOBAL_TABLE, "DeletionProtectionEnabled", "deletion-protection-off"),
        (CLUSTER, DB_CLUSTER, "DeletionProtection", "deletion-protection-off"),
    },
    ("engine-16", "committed"): {(CLUSTER, DB_CLUSTER, "EngineVersion", "engine-major-version")},
    # the created VPC's retained flow-log group goes, and the cluster would change VPC
    ("account", "existing-vpc"): {
        ("NetworkFlowLogGroup4F8CEEEF", "AWS::Logs::LogGroup", "(resource)", "removed"),
        (CLUSTER, DB_CLUSTER, "DBSubnetGroupName", "vpc-changed"),
    },
}


@pytest.mark.parametrize(("baseline", "new"), list(BLOCKED_CASES), ids="->".join)
def test_a_change_that_loses_or_unprotects_data_is_blocked(
    variants: Variants, capsys: pytest.CaptureFixture[str], baseline: str, new: str
) -> None:
    run = run_guard(capsys, variants.template_file(baseline), variants.assembly(new))
    assert run.code == exit_codes.BLOCKED, run.out
    assert run.findings() == BLOCKED_CASES[baseline, new], run.out
    assert "BLOCKED:" in run.out


def test_weakening_the_cluster_removal_policy_is_blocked(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_guard(
        capsys, variants.template_file("committed"), variants.assembly("removal-policy")
    )
    assert run.code == exit_codes.BLOCKED
    found = run.findings()
    assert (CLUSTER, DB_CLUSTER, "DeletionPolicy", "removal-policy-weakened") in found
    assert (CLUSTER, DB_CLUSTER, "UpdateReplacePolicy", "removal-policy-weakened") in found
    assert "Retain -> Snapshot" in run.out
    # CDK gives the instances and the subnet group Delete once the cluster is not retained
    assert {(i, "removal-policy-weakened") for i in (WRITER, READER)} <= {
        (f[0], f[3]) for f in found
    }


def _without_indexes(template: dict[str, Any], *names: str) -> dict[str, Any]:
    """The template as deployed before the GSIs ``names`` existed."""
    older = copy.deepcopy(template)
    table = older["Resources"][TABLE]["Properties"]
    table["GlobalSecondaryIndexes"] = [
        i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] not in names
    ]
    for replica in table["Replicas"]:
        replica["GlobalSecondaryIndexes"] = [
            i for i in replica.get("GlobalSecondaryIndexes", []) if i["IndexName"] not in names
        ]
    return older


def test_two_new_gsis_in_one_deploy_are_blocked(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    older = _without_indexes(variants.template("committed"), "EmailIndex", "TimestampIndex")
    run = run_guard(capsys, variants.write("before-gsis", older), variants.assembly("committed"))
    assert run.code == exit_codes.BLOCKED
    assert run.findings() == {(TABLE, GLOBAL_TABLE, "GlobalSecondaryIndexes", "gsi-per-update")}
    assert "creates EmailIndex, TimestampIndex" in run.out


def test_one_new_gsi_goes_ahead(variants: Variants, capsys: pytest.CaptureFixture[str]) -> None:
    older = _without_indexes(variants.template("committed"), "TimestampIndex")
    run = run_guard(capsys, variants.write("before-one-gsi", older), variants.assembly("committed"))
    assert run.code == exit_codes.OK, run.out
    assert run.findings() == set()
    assert f"modified {TABLE} {GLOBAL_TABLE}: GlobalSecondaryIndexes" in run.out


def test_a_gsi_whose_key_changes_is_blocked(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    older = copy.deepcopy(variants.template("committed"))
    email = older["Resources"][TABLE]["Properties"]["GlobalSecondaryIndexes"][0]
    assert email["IndexName"] == "EmailIndex"
    email["KeySchema"] = [{"AttributeName": "PK", "KeyType": "HASH"}]
    run = run_guard(
        capsys, variants.write("older-email-key", older), variants.assembly("committed")
    )
    assert run.code == exit_codes.BLOCKED
    # rebuilding an index is a deletion and a creation: two in one update as well
    assert run.findings() == {
        (TABLE, GLOBAL_TABLE, "GlobalSecondaryIndexes", "gsi-recreated"),
        (TABLE, GLOBAL_TABLE, "GlobalSecondaryIndexes", "gsi-per-update"),
    }


def test_a_changed_table_key_schema_replaces_the_table(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    """The schema lists KeySchema as conditional; the guard treats it as replacement."""
    older = copy.deepcopy(variants.template("committed"))
    older["Resources"][TABLE]["Properties"]["KeySchema"] = [
        {"AttributeName": "PK", "KeyType": "HASH"}
    ]
    run = run_guard(capsys, variants.write("older-key", older), variants.assembly("committed"))
    assert run.code == exit_codes.BLOCKED
    assert (TABLE, GLOBAL_TABLE, "KeySchema", "replaced") in run.findings()


def test_a_cluster_whose_key_changes_is_replaced(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refactor that renamed the key's construct: a new key, so a new cluster."""
    older = copy.deepcopy(variants.template("committed"))
    resources = older["Resources"]
    resources["AuroraClusterOldKey1234ABCD"] = resources.pop("AuroraClusterKeyA2C8F84D")
    resources[CLUSTER]["Properties"]["KmsKeyId"] = {
        "Fn::GetAtt": ["AuroraClusterOldKey1234ABCD", "Arn"]
    }
    run = run_guard(
        capsys, variants.write("older-cluster-key", older), variants.assembly("committed")
    )
    assert run.code == exit_codes.BLOCKED
    found = run.findings()
    assert (CLUSTER, DB_CLUSTER, "KmsKeyId", "replaced") in found
    assert ("AuroraClusterOldKey1234ABCD", "AWS::KMS::Key", "(resource)", "removed") in found


def test_replacement_follows_references(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cluster's DBSubnetGroupName is the same Ref in both templates, but the subnet
    group it names is replaced (its create-only name changes), so the cluster is too."""
    older = copy.deepcopy(variants.template("committed"))
    group = older["Resources"]["AuroraClusterSubnets921ED553"]["Properties"]
    group["DBSubnetGroupName"] = "appdata-prod-subnets"
    run = run_guard(
        capsys, variants.write("named-subnet-group", older), variants.assembly("committed")
    )
    assert run.code == exit_codes.BLOCKED
    found = run.findings()
    subnet_group = ("AuroraClusterSubnets921ED553", "AWS::RDS::DBSubnetGroup")
    assert (*subnet_group, "DBSubnetGroupName", "replaced") in found
    assert (CLUSTER, DB_CLUSTER, "DBSubnetGroupName", "replaced") in found
    assert "names AuroraClusterSubnets921ED553, which is replaced" in run.out


def test_no_change_at_all(variants: Variants, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_guard(capsys, variants.template_file("committed"), variants.assembly("committed"))
    assert run.code == exit_codes.OK
    assert run.findings() == set() and run.findings("warn") == set()
    assert "other changes: none" in run.out


def test_tags_capacity_up_and_log_retention_are_harmless(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_guard(capsys, variants.template_file("committed"), variants.assembly("harmless"))
    assert run.code == exit_codes.OK, run.out
    assert run.findings() == set() and run.findings("warn") == set(), run.out
    # listed in the summary all the same
    assert f"modified {CLUSTER} {DB_CLUSTER}: ServerlessV2ScalingConfiguration, Tags" in run.out


def test_capacity_pitr_and_retention_cuts_are_warnings(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_guard(capsys, variants.template_file("committed"), variants.assembly("cuts"))
    assert run.code == exit_codes.OK, run.out
    assert run.findings() == set()
    assert {(f[0], f[3]) for f in run.findings("warn")} == {
        (TABLE, "pitr-shortened"),
        (CLUSTER, "capacity-reduced"),
        (CLUSTER, "backup-retention-shortened"),
        ("BackupsPlanAF2A6E1B", "backup-retention-shortened"),
        # the continuous (point-in-time) rule keeps aurora.backup_retention_days
        ("BackupsContinuousPlan96CA9638", "backup-retention-shortened"),
    }
    assert "16 -> 8 ACU maximum" in run.out and "35 -> 14 days of point-in-time" in run.out
