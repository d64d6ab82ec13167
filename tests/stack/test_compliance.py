"""The compliance packs: clean at synth, what they caught fixed, and their configuration.

The session's synthesis runs cdk.json's packs (AwsSolutions, HIPAA.Security,
NIST.800.53.R5); PCI.DSS.321 gets its own synthesis of dev. The fixes are asserted
on the template itself, so that losing one fails here even if nag missed it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from config import ConfigError, NagPack, load_compliance
from tests.fixtures.nag_report import acknowledged, documented, read_report, undocumented
from tests.fixtures.synth import (
    ENVIRONMENTS,
    Synthesized,
    cdk_json_context,
    run_app,
    synthesize,
)

CONFIGURED = ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5")
LOG_KEY = "LogEncryptionKeyA864C340"
ROTATION_RULE = {
    "dev": "AuroraClusterSecurityGroupfromDatabaseStackdevAuroraClusterRotationSecurityGroup"
    "48A5E2AAIndirectPortCF751316",
    "prod": "AuroraClusterSecurityGroupfromDatabaseStackprodAuroraClusterRotationSecurityGroup"
    "0B84693CIndirectPort11F19FB9",
}


def _report(outdir: Path) -> dict[str, dict[str, Any]]:
    return {plugin["pluginName"]: plugin for plugin in read_report(outdir)["pluginReports"]}


def test_every_configured_pack_ran_and_found_nothing_unacknowledged(
    synthesized: Synthesized,
) -> None:
    plugins = _report(synthesized.outdir)
    assert sorted(plugins) == sorted(CONFIGURED)
    for name, plugin in plugins.items():
        assert plugin["conclusion"] == "success", name
        assert plugin["violations"] == [], name


def _acknowledged(plugin: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (v["ruleName"], c["constructPath"], v.get("reason", ""))
        for v in plugin.get("suppressedViolations", [])
        for c in v["violatingConstructs"]
    ]


def test_every_acknowledgment_in_every_pack_has_a_specific_reason(
    synthesized: Synthesized,
) -> None:
    for name, plugin in _report(synthesized.outdir).items():
        acknowledged = _acknowledged(plugin)
        assert acknowledged, f"{name}: expected the known acknowledgments"
        for rule, path, reason in acknowledged:
            assert len(reason) >= 40, f"{rule} on {path} has no specific reason: {reason!r}"


def test_the_compliance_packs_acknowledge_the_same_constructs(synthesized: Synthesized) -> None:
    """HIPAA and NIST share these rules: a construct acknowledged in one but not the other
    would mean an acknowledgment sat on the wrong scope."""
    plugins = _report(synthesized.outdir)

    def where(pack: str) -> set[tuple[str, str]]:
        prefix = f"{pack}-"
        return {(rule.removeprefix(prefix), path) for rule, path, _ in _acknowledged(plugins[pack])}

    assert where("HIPAA.Security") == where("NIST.800.53.R5")


def test_an_acknowledged_finding_the_readme_does_not_name_is_reported() -> None:
    """The README check itself: a new rule, or a known rule with a detail no row quotes
    (a wildcard on another resource), is missing; a detail a row's snippet ends is not."""

    def report(*rules: str) -> dict[str, Any]:
        return {"pluginReports": [{"suppressedViolations": [{"ruleName": r} for r in rules]}]}

    assert undocumented(report("HIPAA.Security-S3BucketLoggingEnabled")) == {
        "S3BucketLoggingEnabled"
    }
    assert undocumented(report("AwsSolutions-IAM5[Resource::arn:aws:s3:::bucket/*]")) == {
        "AwsSolutions-IAM5[Resource::arn:aws:s3:::bucket/*]"
    }
    assert undocumented(report(
        "NIST.800.53.R5-LambdaDLQ",
        "AwsSolutions-IAM5[Resource::<MigrationRunnerFunction61BDFD35.Arn>:*]",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
    )) == set()  # fmt: skip


def test_pci_dss_is_available_and_clean(tmp_path: Path) -> None:
    context = copy.deepcopy(cdk_json_context())
    context["compliance"] = {"packs": ["PCI.DSS.321"]}
    context["env"] = "dev"
    synthesize(context, tmp_path)
    plugins = _report(tmp_path)
    assert sorted(plugins) == ["AwsSolutions", "PCI.DSS.321"]  # AwsSolutions always runs
    assert all(p["violations"] == [] for p in plugins.values())
    assert undocumented(tmp_path) == set(), "acknowledged but not in README's Compliance tables"


def test_the_readme_explains_every_acknowledged_rule(synthesized: Synthesized) -> None:
    """The auditor's one table: a rule acknowledged in any pack has a row in README's
    Compliance section (the variants' syntheses check theirs the same way)."""
    assert undocumented(synthesized.outdir) == set()
    # The check reads both sides: the report's acknowledgments and the README's rows.
    assert {("LambdaDLQ", ""), ("AwsSolutions-IAM5", "Resource::*")} <= acknowledged(
        read_report(synthesized.outdir)
    )
    assert {"LambdaDLQ", "AwsSolutions-IAM5"} <= set(documented())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_log_group_is_encrypted_with_the_log_key(synthesized: Synthesized, env: str) -> None:
    groups = synthesized.resources(env, "AWS::Logs::LogGroup")
    assert len(groups) == 5, sorted(groups)  # flow logs, runner, Provider, waiter, key association
    for logical_id, body in groups.items():
        assert body["Properties"].get("KmsKeyId") == {"Fn::GetAtt": [LOG_KEY, "Arn"]}, logical_id
    key = synthesized.raw[env]["Resources"][LOG_KEY]
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    assert key["Properties"]["EnableKeyRotation"] is True
    [logs_statement] = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    ]
    condition = logs_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert condition["Fn::Join"][1][-1].endswith(":log-group:*")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_aurora_s_own_log_group_gets_the_log_key(synthesized: Synthesized, env: str) -> None:
    """RDS makes /aws/rds/cluster/<id>/postgresql: the key is associated after CDK's
    LogRetention resource (which creates the group when RDS has not yet)."""
    resources = synthesized.raw[env]["Resources"]
    [(logical_id, association)] = [
        (k, v) for k, v in resources.items() if v["Type"] == "Custom::AWS"
    ]
    create = association["Properties"]["Create"]
    text = json.dumps(create)
    assert '\\"action\\":\\"associateKmsKey\\"' in text
    assert "/aws/rds/cluster/" in text and "/postgresql" in text
    assert LOG_KEY in text
    assert "AuroraClusterLogRetentionpostgresqlE6BD30B4" in association["DependsOn"], logical_id
    [policy] = [
        v for k, v in resources.items()
        if v["Type"] == "AWS::IAM::Policy" and "KeyAssociationCustomResourcePolicy" in k
    ]  # fmt: skip
    associate, use_key = policy["Properties"]["PolicyDocument"]["Statement"]
    assert associate["Action"] == "logs:AssociateKmsKey"
    # IAM matches log-group actions against the ":*" form of the ARN
    group = [
        "arn:aws:logs:eu-west-1:",
        {"Ref": "AWS::AccountId"},
        ":log-group:/aws/rds/cluster/",
        {"Ref": "AuroraClusterCDFC8250"},
    ]
    assert associate["Resource"] == [
        {"Fn::Join": ["", [*group, "/postgresql"]]},
        {"Fn::Join": ["", [*group, "/postgresql:*"]]},
    ]
    assert use_key["Resource"] == {"Fn::GetAtt": [LOG_KEY, "Arn"]}
    assert use_key["Condition"] == {
        "StringEquals": {"kms:ViaService": "logs.eu-west-1.amazonaws.com"}
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_migration_runner_s_concurrency_is_bounded(synthesized: Synthesized, env: str) -> None:
    """3, not 1: a stale isComplete and a rollback's onEvent may meet (RESERVED_CONCURRENCY)."""
    functions = synthesized.resources(env, "AWS::Lambda::Function")
    [runner] = [b for b in functions.values() if "migration_runner" in b["Properties"]["Handler"]]
    assert runner["Properties"]["ReservedConcurrentExecutions"] == 3


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ingress_rules_name_their_port_as_a_number(synthesized: Synthesized, env: str) -> None:
    rules = synthesized.resources(env, "AWS::EC2::SecurityGroupIngress")
    assert rules
    for logical_id, rule in rules.items():
        assert isinstance(rule["Properties"]["FromPort"], int), logical_id
        assert rule["Properties"]["FromPort"] == rule["Properties"]["ToPort"], logical_id
    # the rotation Lambda's rule keeps its logical ID: deployed stacks see the same rule
    assert (
        "AuroraClusterSecurityGroupfromDatabaseStack"
        f"{env}AuroraClusterRotationSecurityGroup" in (" ".join(rules))
    )


def test_the_default_packs_and_the_configured_list() -> None:
    assert load_compliance(None).packs == (
        NagPack.AWS_SOLUTIONS,
        NagPack.HIPAA_SECURITY,
        NagPack.NIST_800_53_R5,
    )
    assert load_compliance({"packs": []}).packs == (NagPack.AWS_SOLUTIONS,)
    assert load_compliance({"packs": ["PCI.DSS.321", "AwsSolutions"]}).packs == (
        NagPack.AWS_SOLUTIONS,
        NagPack.PCI_DSS_321,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"packs": ["HIPAA"]}, "compliance.packs: 'HIPAA' is not a cdk-nag pack (AwsSolutions, "
         "HIPAA.Security, NIST.800.53.R5, PCI.DSS.321)"),
        ({"packs": "HIPAA.Security"}, "compliance.packs: 'HIPAA.Security' is not a list"),
        ({"pack": []}, "compliance.pack: unknown key; allowed keys here: packs"),
        ({"packs": ["HIPAA.Security", "HIPAA.Security"]}, "compliance.packs: contains duplicates"),
    ],
)  # fmt: skip
def test_bad_compliance_configuration(raw: object, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_compliance(raw)
    assert str(caught.value) == expected


def test_an_unknown_pack_stops_the_app_with_one_line() -> None:
    result = run_app({**cdk_json_context(), "compliance": {"packs": ["SOC2"]}})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: invalid configuration: compliance.packs: 'SOC2' is not a cdk-nag pack "
        "(AwsSolutions, HIPAA.Security, NIST.800.53.R5, PCI.DSS.321)"
    )
    assert "Traceback" not in result.stderr
