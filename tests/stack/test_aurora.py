"""The Aurora Serverless v2 cluster: engine, capacity, encryption, protection, logs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.synth import ENVIRONMENTS, Synthesized

CLUSTER = "AWS::RDS::DBCluster"
CLUSTER_KEY = "AuroraClusterKeyA2C8F84D"


def cluster(synthesized: Synthesized, env: str) -> dict[str, Any]:
    return synthesized.only(env, CLUSTER)[1]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_engine_is_a_current_aurora_postgresql(synthesized: Synthesized, env: str) -> None:
    props = cluster(synthesized, env)["Properties"]
    assert props["Engine"] == "aurora-postgresql"
    assert props["EngineVersion"] == "17.9"
    assert props["DatabaseName"] == "app"


@pytest.mark.parametrize(
    ("env", "scaling", "pause"),
    [
        ("dev", {"MinCapacity": 0, "MaxCapacity": 2, "SecondsUntilAutoPause": 1800}, True),
        ("prod", {"MinCapacity": 0.5, "MaxCapacity": 16}, False),
    ],
)
def test_capacity_from_config(
    synthesized: Synthesized, env: str, scaling: dict[str, float], pause: bool
) -> None:
    assert cluster(synthesized, env)["Properties"]["ServerlessV2ScalingConfiguration"] == scaling


@pytest.mark.parametrize(("env", "instances"), [("dev", 1), ("prod", 2)])
def test_writer_and_configured_readers_are_serverless(
    synthesized: Synthesized, env: str, instances: int
) -> None:
    found = synthesized.resources(env, "AWS::RDS::DBInstance")
    assert len(found) == instances
    for instance in found.values():
        props = instance["Properties"]
        assert props["DBInstanceClass"] == "db.serverless"
        assert props["PubliclyAccessible"] is False
        assert props["EnablePerformanceInsights"] is True
        assert props["PerformanceInsightsKMSKeyId"] == {"Fn::GetAtt": [CLUSTER_KEY, "Arn"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_data_api_iam_auth_and_encryption(synthesized: Synthesized, env: str) -> None:
    props = cluster(synthesized, env)["Properties"]
    assert props["EnableHttpEndpoint"] is True
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["StorageEncrypted"] is True
    assert props["KmsKeyId"] == {"Fn::GetAtt": [CLUSTER_KEY, "Arn"]}
    assert props["PerformanceInsightsEnabled"] is True
    assert props["PerformanceInsightsKmsKeyId"] == {"Fn::GetAtt": [CLUSTER_KEY, "Arn"]}
    assert props["DatabaseInsightsMode"] == "standard"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cluster_key_rotates_and_is_retained(synthesized: Synthesized, env: str) -> None:
    key = synthesized.resources(env, "AWS::KMS::Key")[CLUSTER_KEY]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize(
    ("env", "protected", "policy", "retention"),
    [("dev", False, "Snapshot", 3), ("prod", True, "Retain", 14)],
)
def test_protection_removal_policy_and_backups(
    synthesized: Synthesized, env: str, protected: bool, policy: str, retention: int
) -> None:
    found = cluster(synthesized, env)
    assert found["Properties"]["DeletionProtection"] is protected
    assert found["DeletionPolicy"] == found["UpdateReplacePolicy"] == policy
    assert found["Properties"]["BackupRetentionPeriod"] == retention
    assert found["Properties"]["CopyTagsToSnapshot"] is True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secret_is_encrypted_retained_and_rotated(synthesized: Synthesized, env: str) -> None:
    _, secret = synthesized.only(env, "AWS::SecretsManager::Secret")
    assert secret["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [CLUSTER_KEY, "Arn"]}
    assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Retain"
    _, schedule = synthesized.only(env, "AWS::SecretsManager::RotationSchedule")
    assert schedule["Properties"]["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}
    mappings = synthesized.raw[env]["Mappings"]
    (sar,) = [m for name, m in mappings.items() if "RotationSingleUserSARMapping" in name]
    assert sar["aws"]["applicationId"].endswith(
        ":applications/SecretsManagerRDSPostgreSQLRotationSingleUser"
    )


@pytest.mark.parametrize(("env", "days"), [("dev", 14), ("prod", 365)])
def test_postgresql_logs_exported_with_retention(
    synthesized: Synthesized, env: str, days: int
) -> None:
    assert cluster(synthesized, env)["Properties"]["EnableCloudwatchLogsExports"] == ["postgresql"]
    _, retention = synthesized.only(env, "Custom::LogRetention")
    assert retention["Properties"]["RetentionInDays"] == days


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_parameter_group_forces_tls_and_logs_slow_statements(
    synthesized: Synthesized, env: str
) -> None:
    logical_id, group = synthesized.only(env, "AWS::RDS::DBClusterParameterGroup")
    assert group["Properties"]["Family"] == "aurora-postgresql17"
    assert group["Properties"]["Parameters"] == {
        "rds.force_ssl": "1",
        "log_min_duration_statement": "1000",
    }
    assert cluster(synthesized, env)["Properties"]["DBClusterParameterGroupName"] == {
        "Ref": logical_id
    }
