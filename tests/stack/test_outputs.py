"""What ops and later constructs read: outputs for humans, SSM parameters for tools."""

from __future__ import annotations

import pytest

from tests.fixtures.synth import ENVIRONMENTS, Synthesized

PUBLISHED = {
    "TableName": "table-name",
    "TableArn": "table-arn",
    "ClusterArn": "cluster-arn",
    "ClusterIdentifier": "cluster-id",
    "ClusterEndpoint": "cluster-endpoint",
    "ClusterReaderEndpoint": "cluster-reader-endpoint",
    "SecretArn": "secret-arn",
    "DatabaseName": "database-name",
    "BackupVaultName": "backup-vault-name",
    "BackupRoleArn": "backup-role-arn",
    "BackupPlanId": "backup-plan-id",
    "BackupTopicArn": "backup-topic-arn",
    "AlarmNamePrefix": "alarm-name-prefix",
    "ClusterResourceId": "cluster-resource-id",
    "ClusterPort": "cluster-port",
    "AppRwPolicyArn": "access/app_rw/policy-arn",
    "AppRwDatabaseUser": "access/app_rw/database-user",
    "AppRoPolicyArn": "access/app_ro/policy-arn",
    "AppRoDatabaseUser": "access/app_ro/database-user",
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_value_is_an_output_and_an_ssm_parameter(synthesized: Synthesized, env: str) -> None:
    outputs = synthesized.raw[env]["Outputs"]
    parameters = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in synthesized.resources(env, "AWS::SSM::Parameter").values()
    }
    assert set(outputs) == set(PUBLISHED)
    assert set(parameters) == {f"/appdata/{env}/{name}" for name in PUBLISHED.values()}
    for output_id, name in PUBLISHED.items():
        assert outputs[output_id]["Value"] == parameters[f"/appdata/{env}/{name}"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs_point_at_the_stateful_resources(synthesized: Synthesized, env: str) -> None:
    outputs = synthesized.raw[env]["Outputs"]
    table_id, _ = synthesized.only(env, "AWS::DynamoDB::GlobalTable")
    cluster_id, _ = synthesized.only(env, "AWS::RDS::DBCluster")
    secret_id, _ = synthesized.only(env, "AWS::SecretsManager::Secret")
    assert outputs["TableName"]["Value"] == {"Ref": table_id}
    assert outputs["TableArn"]["Value"] == {"Fn::GetAtt": [table_id, "Arn"]}
    assert outputs["ClusterIdentifier"]["Value"] == {"Ref": cluster_id}
    assert outputs["ClusterEndpoint"]["Value"] == {"Fn::GetAtt": [cluster_id, "Endpoint.Address"]}
    assert outputs["ClusterReaderEndpoint"]["Value"] == {
        "Fn::GetAtt": [cluster_id, "ReadEndpoint.Address"]
    }
    assert outputs["SecretArn"]["Value"] == {"Ref": secret_id}
    assert outputs["DatabaseName"]["Value"] == "app"  # aurora.database_name, the default
    assert cluster_id in str(outputs["ClusterArn"]["Value"])
