"""AWS Backup for both stores: vault, plans, selection by ARN, alerts, restore testing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.synth import ENVIRONMENTS, Synthesized

TABLE_ARN = {"Fn::GetAtt": ["AppDataTable0F9DE268", "Arn"]}
CLUSTER_ARN = {
    "Fn::Join": [
        "",
        [
            "arn:aws:rds:eu-west-1:",
            {"Ref": "AWS::AccountId"},
            ":cluster:",
            {"Ref": "AuroraClusterCDFC8250"},
        ],
    ]
}
VAULT_KEY = "BackupsKeyC696F888"


def plans(synthesized: Synthesized, env: str) -> dict[str, dict[str, Any]]:
    return {
        body["Properties"]["BackupPlan"]["BackupPlanName"]: body["Properties"]["BackupPlan"]
        for body in synthesized.resources(env, "AWS::Backup::BackupPlan").values()
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_vault_is_encrypted_with_its_own_retained_key(synthesized: Synthesized, env: str) -> None:
    _, vault = synthesized.only(env, "AWS::Backup::BackupVault")
    assert vault["Properties"]["EncryptionKeyArn"] == {"Fn::GetAtt": [VAULT_KEY, "Arn"]}
    assert vault["DeletionPolicy"] == vault["UpdateReplacePolicy"] == "Retain"
    key = synthesized.resources(env, "AWS::KMS::Key")[VAULT_KEY]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


def test_vault_lock_in_prod_only(synthesized: Synthesized) -> None:
    _, prod = synthesized.only("prod", "AWS::Backup::BackupVault")
    _, dev = synthesized.only("dev", "AWS::Backup::BackupVault")
    assert prod["Properties"]["LockConfiguration"] == {
        "MinRetentionDays": 7,
        "MaxRetentionDays": 3650,
        "ChangeableForDays": 3,
    }
    assert "LockConfiguration" not in dev["Properties"]


@pytest.mark.parametrize(
    ("env", "daily", "weekly", "monthly"), [("dev", 7, 35, 90), ("prod", 35, 90, 365)]
)
def test_scheduled_rules_and_retention(
    synthesized: Synthesized, env: str, daily: int, weekly: int, monthly: int
) -> None:
    rules = plans(synthesized, env)[f"appdata_{env}_scheduled"]["BackupPlanRule"]
    assert {r["RuleName"]: (r["ScheduleExpression"], r["Lifecycle"]) for r in rules} == {
        "Daily": ("cron(0 3 * * ? *)", {"DeleteAfterDays": daily}),
        "Weekly": ("cron(0 4 ? * SUN *)", {"DeleteAfterDays": weekly}),
        "Monthly": ("cron(0 5 1 * ? *)", {"DeleteAfterDays": monthly}),
    }
    assert not any(r.get("EnableContinuousBackup") for r in rules)


@pytest.mark.parametrize(("env", "days"), [("dev", 3), ("prod", 14)])
def test_continuous_rule_keeps_the_clusters_retention(
    synthesized: Synthesized, env: str, days: int
) -> None:
    (rule,) = plans(synthesized, env)[f"appdata_{env}_continuous"]["BackupPlanRule"]
    assert rule["EnableContinuousBackup"] is True
    assert rule["Lifecycle"] == {"DeleteAfterDays": days}
    _, cluster = synthesized.only(env, "AWS::RDS::DBCluster")
    assert cluster["Properties"]["BackupRetentionPeriod"] == days


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_selections_name_exactly_the_table_and_cluster_by_arn(
    synthesized: Synthesized, env: str
) -> None:
    selections = {
        body["Properties"]["BackupSelection"]["SelectionName"]: body["Properties"][
            "BackupSelection"
        ]
        for body in synthesized.resources(env, "AWS::Backup::BackupSelection").values()
    }
    assert selections["Selection"]["Resources"] == [TABLE_ARN, CLUSTER_ARN]
    assert selections["ContinuousSelection"]["Resources"] == [CLUSTER_ARN]
    for selection in selections.values():
        assert "ListOfTags" not in selection and "Conditions" not in selection
        assert selection["IamRoleArn"] == {"Fn::GetAtt": ["BackupsRoleD4F311A7", "Arn"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backup_role_only_for_aws_backup(synthesized: Synthesized, env: str) -> None:
    role = synthesized.resources(env, "AWS::IAM::Role")["BackupsRoleD4F311A7"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
    policies = [str(p) for p in role["ManagedPolicyArns"]]
    assert len(policies) == 2
    assert all("AWSBackupServiceRolePolicyFor" in p for p in policies)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_failed_aborted_expired_jobs_reach_an_encrypted_topic(
    synthesized: Synthesized, env: str
) -> None:
    topic_id, topic = synthesized.only(env, "AWS::SNS::Topic")
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [VAULT_KEY, "Arn"]}
    rules = synthesized.resources(env, "AWS::Events::Rule").values()
    patterns = {
        r["Properties"]["EventPattern"]["detail-type"][0]: r["Properties"]["EventPattern"]["detail"]
        for r in rules
        if r["Properties"]["Targets"] == [{"Arn": {"Ref": topic_id}, "Id": "Target0"}]
        and r["Properties"]["EventPattern"]["source"] == ["aws.backup"]
    }
    bad = ["FAILED", "ABORTED", "EXPIRED"]
    assert patterns == {
        "Backup Job State Change": {"state": bad},
        "Copy Job State Change": {"state": bad},
        "Restore Job State Change": {"status": bad},
    }
    key = synthesized.resources(env, "AWS::KMS::Key")[VAULT_KEY]["Properties"]["KeyPolicy"]
    services = [s["Principal"].get("Service", []) for s in key["Statement"]]
    assert any("events.amazonaws.com" in service for service in services)


def test_restore_testing_in_prod_for_both_resources(synthesized: Synthesized) -> None:
    _, plan = synthesized.only("prod", "AWS::Backup::RestoreTestingPlan")
    assert plan["Properties"]["RecoveryPointSelection"]["IncludeVaults"] == [
        {"Fn::GetAtt": ["BackupsVault1F11AFCC", "BackupVaultArn"]}
    ]
    selections = synthesized.resources("prod", "AWS::Backup::RestoreTestingSelection").values()
    assert sorted(
        (s["Properties"]["ProtectedResourceType"], str(s["Properties"]["ProtectedResourceArns"]))
        for s in selections
    ) == sorted([("Aurora", str([CLUSTER_ARN])), ("DynamoDB", str([TABLE_ARN]))])
    assert synthesized.resources("dev", "AWS::Backup::RestoreTestingPlan") == {}
