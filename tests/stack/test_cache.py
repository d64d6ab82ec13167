"""The optional ElastiCache Serverless cache: two environments that turn it on, synthesized once.

``cached`` has the section with its defaults (plus ingress sources), ``cachedlab``
overrides every key. The committed environments have none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.fixtures.nag_report import read_report, undocumented
from tests.fixtures.synth import (
    ENVIRONMENTS,
    Synthesized,
    cfn_lint,
    of_type,
    run_app,
    synthesize_environments,
)
from tests.stack.test_snapshots import normalized

CACHE = "CacheDAF337C5"
KEY = "CacheKeyCDF9DE27"
SECURITY_GROUP = "CacheSecurityGroup79A9F160"
LOGICAL_IDS = {
    CACHE: "AWS::ElastiCache::ServerlessCache",
    KEY: "AWS::KMS::Key",
    SECURITY_GROUP: "AWS::EC2::SecurityGroup",
}
"""The deployed contract: never edited to make a test pass."""
SOURCES = {
    "ingress_cidrs": ["10.60.0.0/16"],
    "ingress_security_group_ids": ["sg-0fedcba9876543210"],
}
LAB = {
    "engine_version": "7",
    "max_data_storage_gb": 2,
    "max_ecpu_per_second": 1000,
    "snapshot_retention_days": 5,
    "daily_snapshot_time": "23:15",
    "removal_policy": "retain",
}


@pytest.fixture(scope="module")
def synthesized_caches(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    environments = {
        "cached": {"region": "eu-west-1", "table": {"table_name": "app-data-c"}, "cache": SOURCES},
        "cachedlab": {
            "region": "eu-west-1",
            "table": {"table_name": "app-data-cl"},
            "cache": LAB,
            "monitoring": {"alarms": {"cache_ecpu": {"threshold": 50, "period_minutes": 1}}},
        },
    }
    outdir = tmp_path_factory.mktemp("cache")
    return outdir, synthesize_environments(environments, outdir)


@pytest.fixture(scope="module")
def cached(synthesized_caches: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return synthesized_caches[1]["cached"]


@pytest.fixture(scope="module")
def lab(synthesized_caches: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return synthesized_caches[1]["cachedlab"]


def test_logical_ids(cached: dict[str, Any], lab: dict[str, Any]) -> None:
    for template in (cached, lab):
        resources = template["Resources"]
        assert {k: resources[k]["Type"] for k in LOGICAL_IDS if k in resources} == LOGICAL_IDS
        assert len(of_type(template, "AWS::ElastiCache::ServerlessCache")) == 1


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_committed_environments_have_no_cache(synthesized: Synthesized, env: str) -> None:
    assert synthesized.resources(env, "AWS::ElastiCache::ServerlessCache") == {}


def test_defaults_valkey_8_encrypted_capped_snapshotted_and_destroyed(
    cached: dict[str, Any],
) -> None:
    cache = cached["Resources"][CACHE]
    props = cache["Properties"]
    assert (props["Engine"], props["MajorEngineVersion"]) == ("valkey", "8")
    assert props["ServerlessCacheName"] == "appdata-cached"
    assert props["KmsKeyId"] == {"Fn::GetAtt": [KEY, "Arn"]}
    assert props["CacheUsageLimits"] == {
        "DataStorage": {"Maximum": 10, "Unit": "GB"},
        "ECPUPerSecond": {"Maximum": 5000},
    }
    assert (props["SnapshotRetentionLimit"], props["DailySnapshotTime"]) == (1, "04:30")
    assert (cache["DeletionPolicy"], cache["UpdateReplacePolicy"]) == ("Delete", "Delete")
    key = cached["Resources"][KEY]
    assert (key["DeletionPolicy"], key["Properties"]["EnableKeyRotation"]) == ("Retain", True)
    assert "TransitEncryptionEnabled" not in props  # always on for serverless: nothing to set


def test_configured_values_reach_the_cache(lab: dict[str, Any]) -> None:
    cache = lab["Resources"][CACHE]
    props = cache["Properties"]
    assert props["MajorEngineVersion"] == "7"
    assert props["CacheUsageLimits"] == {
        "DataStorage": {"Maximum": 2, "Unit": "GB"},
        "ECPUPerSecond": {"Maximum": 1000},
    }
    assert (props["SnapshotRetentionLimit"], props["DailySnapshotTime"]) == (5, "23:15")
    assert (cache["DeletionPolicy"], cache["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert lab["Resources"][SECURITY_GROUP]["Properties"].get("SecurityGroupIngress") is None


def test_in_the_isolated_subnets_reachable_only_from_the_configured_sources(
    cached: dict[str, Any],
) -> None:
    props = cached["Resources"][CACHE]["Properties"]
    isolated = {
        k for k, r in of_type(cached, "AWS::EC2::Subnet").items()
        if r["Properties"]["MapPublicIpOnLaunch"] is False and "Database" in k
    }  # fmt: skip
    assert {s["Ref"] for s in props["SubnetIds"]} == isolated and len(isolated) == 2
    assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [SECURITY_GROUP, "GroupId"]}]
    group = cached["Resources"][SECURITY_GROUP]["Properties"]
    rules = sorted(
        (r.get("CidrIp") or r["SourceSecurityGroupId"], r["FromPort"], r["ToPort"])
        for r in group["SecurityGroupIngress"]
    )
    assert rules == [
        ("10.60.0.0/16", 6379, 6379),
        ("10.60.0.0/16", 6380, 6380),
        ("sg-0fedcba9876543210", 6379, 6379),
        ("sg-0fedcba9876543210", 6380, 6380),
    ]
    assert group["SecurityGroupEgress"][0]["Description"] == "Disallow all traffic"


def _alarms(template: dict[str, Any], env: str) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["AlarmName"].removeprefix(f"appdata-{env}-Cache-"): r["Properties"]
        for r in of_type(template, "AWS::CloudWatch::Alarm").values()
        if r["Properties"]["AlarmName"].startswith(f"appdata-{env}-Cache-")
    }


def test_alarms_on_the_ops_topic_for_throttles_ecpu_and_storage(
    cached: dict[str, Any], lab: dict[str, Any]
) -> None:
    alarms = _alarms(cached, "cached")
    assert sorted(alarms) == [
        "ECPU-Critical",
        "Storage-Critical",
        "ThrottledCommands-Critical",
    ]
    for alarm in alarms.values():
        assert alarm["Namespace"] == "AWS/ElastiCache"
        assert alarm["Dimensions"] == [{"Name": "clusterId", "Value": "appdata-cached"}]
        assert alarm["AlarmActions"] == [{"Ref": "BackupsAlertTopic0BC42FFE"}]
        assert alarm["OKActions"] == [{"Ref": "BackupsAlertTopic0BC42FFE"}]
    throttled = alarms["ThrottledCommands-Critical"]
    assert (throttled["MetricName"], throttled["Statistic"], throttled["Threshold"]) == (
        "ThrottledCmds",
        "Sum",
        0,
    )
    ecpu = alarms["ECPU-Critical"]  # 80% of 5000 ECPU/s, summed over 5 minutes
    assert (ecpu["Statistic"], ecpu["Period"], ecpu["Threshold"]) == ("Sum", 300, 5000 * 0.8 * 300)
    storage = alarms["Storage-Critical"]  # 80% of 10 GB
    assert (storage["MetricName"], storage["Threshold"]) == ("BytesUsedForCache", 8 * 10**9)
    lab_ecpu = _alarms(lab, "cachedlab")["ECPU-Critical"]  # configured: 50%, one minute
    assert (lab_ecpu["Period"], lab_ecpu["Threshold"]) == (60, 1000 * 0.5 * 60)


def test_outputs_and_parameters(cached: dict[str, Any]) -> None:
    parameters = {
        r["Properties"]["Name"].removeprefix("/appdata/cached/"): r["Properties"]["Value"]
        for r in of_type(cached, "AWS::SSM::Parameter").values()
    }
    assert parameters["cache/name"] == "appdata-cached"
    assert parameters["cache/endpoint"] == {"Fn::GetAtt": [CACHE, "Endpoint.Address"]}
    assert parameters["cache/port"] == {"Fn::GetAtt": [CACHE, "Endpoint.Port"]}
    assert parameters["cache/reader-endpoint"] == {"Fn::GetAtt": [CACHE, "ReaderEndpoint.Address"]}
    assert parameters["cache/reader-port"] == {"Fn::GetAtt": [CACHE, "ReaderEndpoint.Port"]}
    assert parameters["cache/arn"] == {"Fn::GetAtt": [CACHE, "ARN"]}
    assert cached["Outputs"]["CacheEndpoint"]["Description"] == (
        "Also in SSM parameter /appdata/cached/cache/endpoint"
    )


def test_the_application_policies_need_nothing_for_the_cache(cached: dict[str, Any]) -> None:
    """No IAM authentication: reach is the security group's (see ServerlessCache)."""
    policies = json.dumps(
        [r["Properties"] for r in of_type(cached, "AWS::IAM::ManagedPolicy").values()]
    )
    assert "elasticache" not in policies.lower()


def test_nag_packs_found_nothing_unacknowledged(
    synthesized_caches: tuple[Path, dict[str, Any]],
) -> None:
    report = read_report(synthesized_caches[0])
    for plugin in report["pluginReports"]:
        assert (plugin["conclusion"], plugin["violations"]) == ("success", []), plugin["pluginName"]
        suppressed = [
            v["ruleName"]
            for v in plugin.get("suppressedViolations", [])
            if any("/Cache/" in c["constructPath"] for c in v["violatingConstructs"])
        ]
        assert suppressed == [], plugin["pluginName"]  # nothing about the cache acknowledged
    assert undocumented(report) == set(), "acknowledged but not in README's Compliance tables"


def test_template_matches_snapshot(cached: dict[str, Any], snapshot: SnapshotAssertion) -> None:
    assert normalized(cached) == snapshot.use_extension(JSONSnapshotExtension)


def test_cfn_lint_passes(synthesized_caches: tuple[Path, dict[str, Any]]) -> None:
    outdir = synthesized_caches[0]
    result = cfn_lint(
        *(outdir / f"DatabaseStack-{env}.template.json" for env in ("cached", "cachedlab"))
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"engine_version": "6"}, "engine_version: '6' is not a Valkey major version (7 or 8)"),
        ({"max_ecpu_per_second": 10}, "max_ecpu_per_second: 10 is not a whole number from 1000"),
        ({"max_data_storage_gb": 0}, "max_data_storage_gb: 0 is not a whole number from 1 to 5000"),
        ({"daily_snapshot_time": "25:00"}, "daily_snapshot_time: '25:00' is not a UTC time HH:MM"),
        (
            {"removal_policy": "snapshot"},
            "removal_policy: 'snapshot' is not one of destroy, retain",
        ),
        ({"ingress_cidrs": ["0.0.0.0/0"]}, "ingress_cidrs: '0.0.0.0/0' is not an IPv4 CIDR"),
        ({"engine": "redis"}, "engine: unknown key; allowed keys here:"),
        ("on", "must be an object, got 'on'"),
    ],
)
def test_bad_cache_settings_exit_2_with_one_line(change: object, expected: str) -> None:
    context = {
        "environments": {
            "dev": {"region": "eu-west-1", "table": {"table_name": "app-data-dev"}, "cache": change}
        }
    }
    result = run_app(context)
    assert result.returncode == 2
    (line,) = [l for l in result.stderr.splitlines() if l.startswith("error:")]  # noqa: E741
    assert line.startswith("error: invalid configuration: environments.dev.cache")
    assert expected in line
    assert "Traceback" not in result.stderr
