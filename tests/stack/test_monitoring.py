"""The alarms, the dashboard, enhanced monitoring and the rotation rule, per environment.

Every alarm is checked field by field against a table written from the
configuration's defaults (config/alarms.py) and the environments in cdk.json:
metric, namespace, dimensions (the stack's own resources), statistic, period,
threshold, evaluation and datapoint counts, missing-data handling, and both
its ALARM and OK actions on the ops topic.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.synth import ENVIRONMENTS, Synthesized

TOPIC = {"Ref": "BackupsAlertTopic0BC42FFE"}
CLUSTER = {"DBClusterIdentifier": {"Ref": "AuroraClusterCDFC8250"}}
TABLE = {"TableName": {"Ref": "AppDataTable0F9DE268"}}
WRITER = {"DBInstanceIdentifier": {"Ref": "AuroraClusterWriter38835843"}}
READER = {"DBInstanceIdentifier": {"Ref": "AuroraClusterReader136442C1D"}}
RUNNER = {"FunctionName": {"Ref": "MigrationRunnerFunction61BDFD35"}}
VAULT = {"BackupVaultName": {"Fn::GetAtt": ["BackupsVault1F11AFCC", "BackupVaultName"]}}
GT, LT = "GreaterThanThreshold", "LessThanThreshold"
# max ACU x 2 GiB / 9531392 (Aurora PostgreSQL's max_connections), at 80%
CONNECTIONS = {"dev": int(450 * 0.8), "prod": int(3604 * 0.8)}
MAX_ACU = {"dev": 2, "prod": 16}


def gsi(name: str) -> dict[str, Any]:
    return {**TABLE, "GlobalSecondaryIndexName": name}


def expected(env: str) -> dict[str, tuple[Any, ...]]:
    """Alarm name suffix -> (namespace, metric, dimensions, statistic, period s, threshold,
    evaluation periods, comparison, missing data)."""
    instances = [WRITER, READER] if env == "prod" else [WRITER]
    alarms: dict[str, tuple[Any, ...]] = {
        "Aurora-Deadlocks-Critical": ("AWS/RDS", "Deadlocks", CLUSTER, "Average", 300, 0, 3, GT,
                                      "notBreaching"),
        "AppData-Read-Throttled-Events-Critical": ("AWS/DynamoDB", "ReadThrottleEvents", TABLE,
                                                   "Sum", 300, 10, 2, GT, "notBreaching"),
        "AppData-Write-Throttled-Events-Critical": ("AWS/DynamoDB", "WriteThrottleEvents", TABLE,
                                                    "Sum", 300, 10, 2, GT, "notBreaching"),
        "AppData-SystemErrors-Critical": ("AWS/DynamoDB", "SystemErrors", TABLE, "Sum", 300, 0, 2,
                                          GT, "notBreaching"),
        "MigrationRunner-Fault-Count-Critical": ("AWS/Lambda", "Errors", RUNNER, "Sum", 300, 0, 1,
                                                 GT, "notBreaching"),
        "MigrationRunner-Throttled-Count-Critical": ("AWS/Lambda", "Throttles", RUNNER, "Sum", 300,
                                                     0, 1, GT, "notBreaching"),
        "Backups-Freshness-Critical": ("AWS/Backup", "NumberOfBackupJobsCompleted", VAULT, "Sum",
                                       3600, 1, 26, LT, "breaching"),
    }  # fmt: skip
    for n, instance in enumerate(instances):
        alarms[f"Aurora-Instance{n}-Capacity-Critical"] = (
            "AWS/RDS",
            "ServerlessDatabaseCapacity",
            instance,
            "Average",
            300,
            MAX_ACU[env] * 0.9,
            12,
            GT,
            "notBreaching",
        )
        alarms[f"Aurora-Instance{n}-CPU-Critical"] = (
            "AWS/RDS",
            "CPUUtilization",
            instance,
            "Average",
            300,
            90,
            3,
            GT,
            "notBreaching",
        )
        alarms[f"Aurora-Instance{n}-Connections-Critical"] = (
            "AWS/RDS",
            "DatabaseConnections",
            instance,
            "Maximum",
            300,
            CONNECTIONS[env],
            3,
            GT,
            "notBreaching",
        )
        alarms[f"Aurora-Instance{n}-FreeLocalStorage-Critical"] = (
            "AWS/RDS",
            "FreeLocalStorage",
            instance,
            "Minimum",
            300,
            2 * 1024**3,
            3,
            LT,
            "notBreaching",
        )
        if env == "prod":  # readers exist: every instance, since a failover swaps the roles
            alarms[f"Aurora-Instance{n}-ReplicaLag-Critical"] = (
                "AWS/RDS",
                "AuroraReplicaLag",
                instance,
                "Maximum",
                60,
                2000,
                5,
                GT,
                "notBreaching",
            )
    for index in ("EmailIndex", "TimestampIndex"):
        for kind in ("Read", "Write"):
            alarms[f"AppData-{index}-{kind}-Throttled-Events-Critical"] = (
                "AWS/DynamoDB",
                f"{kind}ThrottleEvents",
                gsi(index),
                "Sum",
                300,
                10,
                2,
                GT,
                "notBreaching",
            )
    return alarms  # fmt: skip


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        body["Properties"]["AlarmName"]: body["Properties"]
        for body in template["Resources"].values()
        if body["Type"] == "AWS::CloudWatch::Alarm"
    }


def metric_of(alarm: dict[str, Any]) -> tuple[str, str, dict[str, Any], str, int]:
    """(namespace, metric, dimensions, statistic, period) of the alarm's metric.

    cdk-monitoring-constructs writes metric-math alarms (``Metrics``); the DynamoDB
    system-error alarm sums one metric per operation, whose Operation dimension is
    dropped here after checking that every part is the same metric. Every part of a
    sum is FILLed with 0 (a silent part would otherwise void every datapoint).
    """
    if "Metrics" not in alarm:
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        statistic, period = alarm["Statistic"], alarm["Period"]
        return alarm["Namespace"], alarm["MetricName"], dimensions, statistic, period
    stats = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
    expressions = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    for expression in expressions:
        for metric in alarm["Metrics"]:
            if "MetricStat" in metric:
                assert f"FILL({metric['Id']},0)" in expression, alarm["AlarmName"]
    shapes = set()
    for stat in stats:
        dimensions = {
            d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"] if d["Name"] != "Operation"
        }
        metric = stat["Metric"]
        parts = [
            metric["Namespace"],
            metric["MetricName"],
            dimensions,
            stat["Stat"],
            stat["Period"],
        ]
        shapes.add(json.dumps(parts, sort_keys=True))
    (shape,) = shapes
    namespace, name, dimensions, statistic, period = json.loads(shape)
    return namespace, name, dimensions, statistic, period


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_alarm_watches_the_stacks_resources_with_its_settings(
    synthesized: Synthesized, env: str
) -> None:
    found = alarms(synthesized.raw[env])
    prefix = f"appdata-{env}-"
    assert all(name.startswith(prefix) for name in found)
    actual = {}
    for name, alarm in found.items():
        actual[name.removeprefix(prefix)] = (
            *metric_of(alarm),
            alarm["Threshold"],
            alarm["EvaluationPeriods"],
            alarm["ComparisonOperator"],
            alarm["TreatMissingData"],
        )
        assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"], name  # M of M
        assert (alarm["AlarmActions"], alarm["OKActions"], alarm["ActionsEnabled"]) == (
            [TOPIC],
            [TOPIC],
            True,
        ), name
    want = {
        key: (namespace, metric, dims, stat, period, threshold, evaluations, comparison, missing)
        for key, (namespace, metric, dims, stat, period, threshold, evaluations, comparison,
                  missing) in expected(env).items()
    }  # fmt: skip
    assert actual == want


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_ops_topic_lets_cloudwatch_publish(synthesized: Synthesized, env: str) -> None:
    key = synthesized.resources(env, "AWS::KMS::Key")["BackupsKeyC696F888"]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    granted = [
        s for s in statements if "cloudwatch.amazonaws.com" in s["Principal"].get("Service", [])
    ]
    assert granted and set(granted[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert granted[0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    (topic_id, topic) = synthesized.only(env, "AWS::SNS::Topic")
    assert topic_id == "BackupsAlertTopic0BC42FFE"
    (_, policy) = synthesized.only(env, "AWS::SNS::TopicPolicy")
    publishers = {
        json.dumps(s["Principal"], sort_keys=True): s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    }
    cloudwatch = publishers['{"Service": "cloudwatch.amazonaws.com"}']
    assert (cloudwatch["Action"], cloudwatch["Resource"]) == ("sns:Publish", TOPIC)
    assert cloudwatch["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    assert '{"Service": "events.amazonaws.com"}' in publishers
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["BackupsKeyC696F888", "Arn"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_failed_secret_rotation_reaches_the_topic(synthesized: Synthesized, env: str) -> None:
    rules = [
        {k: v for k, v in r["Properties"].items() if k != "Tags"}
        for r in synthesized.resources(env, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.secretsmanager"]
    ]
    assert rules == [
        {
            "Description": "A Secrets Manager rotation failed (the cluster secret rotates here)",
            "EventPattern": {
                "source": ["aws.secretsmanager"],
                "detail-type": ["AWS Service Event via CloudTrail"],
                "detail": {
                    "eventSource": ["secretsmanager.amazonaws.com"],
                    "eventName": ["RotationFailed"],
                },
            },
            "State": "ENABLED",
            "Targets": [{"Arn": TOPIC, "Id": "Target0"}],
        }
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_enhanced_monitoring_on_every_instance_with_its_role(
    synthesized: Synthesized, env: str
) -> None:
    resources = synthesized.raw[env]["Resources"]
    instances = synthesized.resources(env, "AWS::RDS::DBInstance")
    assert len(instances) == (2 if env == "prod" else 1)
    roles = set()
    for instance in instances.values():
        assert instance["Properties"]["MonitoringInterval"] == 60
        roles.add(instance["Properties"]["MonitoringRoleArn"]["Fn::GetAtt"][0])
    (role_id,) = roles
    role = resources[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "monitoring.rds.amazonaws.com"
    }
    assert "AmazonRDSEnhancedMonitoringRole" in json.dumps(role["ManagedPolicyArns"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_dashboard_shows_the_stores_and_the_alarm_states(
    synthesized: Synthesized, env: str
) -> None:
    (_, dashboard) = synthesized.only(env, "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == f"appdata-{env}"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in (
        '{"Ref": "AuroraClusterCDFC8250"}',
        '{"Ref": "AppDataTable0F9DE268"}',
        '{"Ref": "MigrationRunnerFunction61BDFD35"}',
        "ServerlessDatabaseCapacity",
        "CPUUtilization",
        "DatabaseConnections",
        "CommitLatency",
        "ConsumedReadCapacityUnits",
        "ReadThrottleEvents",
        "SuccessfulRequestLatency",
        "EmailIndex",
        "TimestampIndex",
        "Alarm states",
    ):
        assert needle in body, needle
    alarm_ids = [
        logical_id
        for logical_id, r in synthesized.raw[env]["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    for logical_id in alarm_ids:  # the alarm-status widget lists every alarm
        assert f'{{"Fn::GetAtt": ["{logical_id}", "Arn"]}}' in body, logical_id
