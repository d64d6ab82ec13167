"""The IAM side of application access in the template: one managed policy per role, exactly.

The committed environments are read from the session's synthesis; a variant
with a customer-managed key, a replica region and three roles, plus a
consumer stack that calls ``grant_access``, is synthesized once here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cfnlint
import pytest
from aws_cdk import aws_iam as iam

from app import MIGRATIONS, build_app
from config import load_environments
from tests.fixtures.nag_report import read_report
from tests.fixtures.synth import ENVIRONMENTS, Synthesized, cdk_json_context

CLUSTER = "AuroraClusterCDFC8250"
TABLE = "AppDataTable0F9DE268"
TABLE_KEY = "AppDataTableKeyD4EBE193"
TABLE_ARN = {"Fn::GetAtt": [TABLE, "Arn"]}
RW_ITEMS = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]
RO_ITEMS = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"]
REPLICA_KEY = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def connect_arn(role: str, region: str = "eu-west-1") -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                f"arn:aws:rds-db:{region}:",
                {"Ref": "AWS::AccountId"},
                ":dbuser:",
                {"Fn::GetAtt": [CLUSTER, "DBClusterResourceId"]},
                f"/{role}",
            ],
        ]
    }


def index_arns(table_arn: object) -> list[dict[str, Any]]:
    return [
        {"Fn::Join": ["", [table_arn, f"/index/{name}"]]}
        for name in ("EmailIndex", "TimestampIndex")
    ]


def index_arns_in(replica_arn: dict[str, Any]) -> list[dict[str, Any]]:
    """A replica's index ARNs: CDK folds the suffix into the replica ARN's own join."""
    parts = replica_arn["Fn::Join"][1]
    return [
        {"Fn::Join": ["", [*parts, f"/index/{name}"]]} for name in ("EmailIndex", "TimestampIndex")
    ]


def unordered(values: list[Any]) -> list[str]:
    """IAM resource lists are sets: CDK may order them its own way."""
    return sorted(json.dumps(v, sort_keys=True) for v in values)


def expected_statements(role: str, items: list[str], key: list[str] | None) -> list[Any]:
    statements: list[Any] = [
        {
            "Sid": "ConnectAsDatabaseUser",
            "Action": "rds-db:connect",
            "Effect": "Allow",
            "Resource": connect_arn(role),
        },
        {"Sid": "AppDataItems", "Action": items, "Effect": "Allow", "Resource": TABLE_ARN},
        {
            "Sid": "AppDataIndexes",
            "Action": "dynamodb:Query",
            "Effect": "Allow",
            "Resource": index_arns(TABLE_ARN),
        },
    ]
    if key is not None:
        statements.append(
            {
                "Sid": "AppDataTableKey",
                "Action": key if len(key) > 1 else key[0],
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [TABLE_KEY, "Arn"]},
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": [
                            {"Fn::Join": ["", ["dynamodb.eu-west-1.", {"Ref": "AWS::URLSuffix"}]]}
                        ]
                    }
                },
            }
        )
    return statements


def policy_ids(template: dict[str, Any]) -> dict[str, str]:
    """Each database user the stack publishes, and the logical id of the policy beside it."""
    outputs = template["Outputs"]
    return {
        output["Value"]: outputs[key.removesuffix("DatabaseUser") + "PolicyArn"]["Value"]["Ref"]
        for key, output in outputs.items()
        if key.endswith("DatabaseUser")
    }


def policies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Managed policies by the database role they are published for."""
    found = {role: template["Resources"][lid] for role, lid in policy_ids(template).items()}
    assert all(body["Type"] == "AWS::IAM::ManagedPolicy" for body in found.values())
    every = [b for b in template["Resources"].values() if b["Type"] == "AWS::IAM::ManagedPolicy"]
    assert len(every) == len(found)
    return {role: body["Properties"] for role, body in found.items()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_role_has_a_managed_policy_with_exactly_its_statements(
    synthesized: Synthesized, env: str
) -> None:
    key_rw = ["kms:Decrypt", "kms:GenerateDataKey"] if env == "prod" else None
    key_ro = ["kms:Decrypt"] if env == "prod" else None  # prod's table has its own key
    found = policies(synthesized.raw[env])
    assert sorted(found) == ["app_ro", "app_rw"]
    assert found["app_rw"]["PolicyDocument"]["Statement"] == expected_statements(
        "app_rw", RW_ITEMS, key_rw
    )
    assert found["app_ro"]["PolicyDocument"]["Statement"] == expected_statements(
        "app_ro", RO_ITEMS, key_ro
    )
    for role, policy in found.items():
        assert "ManagedPolicyName" not in policy  # no physical name: the ARN is published
        assert policy["Description"] == (
            f"For the IAM role of a service that logs in to the database as {role}"
        )  # create-only in CloudFormation: never the level, which may change


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_policy_allows_scan_or_names_a_wildcard(synthesized: Synthesized, env: str) -> None:
    for policy in policies(synthesized.raw[env]).values():
        text = json.dumps(policy["PolicyDocument"])
        assert "Scan" not in text
        assert "*" not in text


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_policy_arns_users_and_connection_values_are_published(
    synthesized: Synthesized, env: str
) -> None:
    template = synthesized.raw[env]
    outputs = template["Outputs"]
    parameters = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in synthesized.resources(env, "AWS::SSM::Parameter").values()
    }
    by_role = policy_ids(template)
    assert sorted(by_role) == ["app_ro", "app_rw"]
    for role, pascal in (("app_rw", "AppRw"), ("app_ro", "AppRo")):
        assert outputs[f"{pascal}PolicyArn"]["Value"] == {"Ref": by_role[role]}
        assert parameters[f"/appdata/{env}/access/{role}/policy-arn"] == {"Ref": by_role[role]}
        assert outputs[f"{pascal}DatabaseUser"]["Value"] == role
        assert parameters[f"/appdata/{env}/access/{role}/database-user"] == role
    resource_id = {"Fn::GetAtt": [CLUSTER, "DBClusterResourceId"]}
    assert outputs["ClusterResourceId"]["Value"] == resource_id
    assert parameters[f"/appdata/{env}/cluster-resource-id"] == resource_id
    assert outputs["ClusterPort"]["Value"] == {"Fn::GetAtt": [CLUSTER, "Endpoint.Port"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_custom_resource_carries_the_roles_and_their_checksum(
    synthesized: Synthesized, env: str
) -> None:
    (config,) = load_environments(cdk_json_context()["environments"], selected=env)
    _, resource = synthesized.only(env, "Custom::SchemaMigrations")
    props = resource["Properties"]
    assert json.loads(props["Roles"]) == [
        {"name": "app_ro", "access": "read-only"},
        {"name": "app_rw", "access": "read-write"},
    ]
    assert props["RolesChecksum"] == config.access.roles.checksum


# -- a variant: customer-managed key, a replica, three roles, a consumer stack ------------

ROLES = [
    {"name": "app_rw", "access": "read-write"},
    {"name": "app_ro", "access": "read-write"},  # the committed environments' app_ro, raised
    {"name": "app_svc", "access": "read-only"},
]


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    context = copy.deepcopy(cdk_json_context())
    context["environments"] = {
        "shared": {
            "region": "eu-west-1",
            "table": {
                "table_name": "app-data-shared",
                "encryption": "customer-managed",
                "replica_regions": ["eu-central-1"],
                "replica_key_arns": {"eu-central-1": REPLICA_KEY},
            },
            "access": {"roles": ROLES},
        }
    }
    outdir = tmp_path_factory.mktemp("access-variant")
    app = cdk.App(context=context, outdir=str(outdir))
    (database,) = build_app(app, migrations_dir=MIGRATIONS)
    consumer = cdk.Stack(app, "ConsumerStack", env=cdk.Environment(region="eu-west-1"))
    service = iam.Role(
        consumer, "ServiceRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
    )
    database.grant_access(service, role="app_svc")
    for pack in ("HIPAA.Security", "NIST.800.53.R5"):
        cdk.Validations.of(service).acknowledge(
            cdk.Acknowledgment(
                id=f"{pack}::{pack}-IAMNoInlinePolicy",
                reason="The consuming service's own stack: grant_access adds the role's "
                "statements to its principal policy; that stack's compliance is its owner's.",
            )
        )
    with pytest.raises(
        ValueError,
        match=r"no application role 'reporting' in access.roles \(configured: app_rw, app_ro, app_svc\)",
    ):
        database.grant_access(service, role="reporting")
    assembly = app.synth()
    report = read_report(Path(outdir))
    return {
        "database": assembly.get_stack_by_name("DatabaseStack-shared").template,
        "consumer": assembly.get_stack_by_name("ConsumerStack").template,
        "report": report,
    }


def test_variant_has_a_policy_per_role_and_the_checksum_follows_them(
    variant: dict[str, dict[str, Any]],
) -> None:
    template = variant["database"]
    assert sorted(policies(template)) == ["app_ro", "app_rw", "app_svc"]
    (resource,) = [
        r for r in template["Resources"].values() if r["Type"] == "Custom::SchemaMigrations"
    ]
    (config,) = load_environments(
        {
            "shared": {
                "region": "eu-west-1",
                "table": {"table_name": "xyz"},
                "access": {"roles": ROLES},
            }
        }
    )
    assert resource["Properties"]["RolesChecksum"] == config.access.roles.checksum
    default = load_environments(cdk_json_context()["environments"], selected="dev")[0]
    assert config.access.roles.checksum != default.access.roles.checksum


def test_variant_policies_cover_the_replica_and_its_key(variant: dict[str, dict[str, Any]]) -> None:
    statements = {
        s["Sid"]: s for s in policies(variant["database"])["app_rw"]["PolicyDocument"]["Statement"]
    }
    replica_arn = {
        "Fn::Join": [
            "",
            [
                "arn:aws:dynamodb:eu-central-1:",
                {"Ref": "AWS::AccountId"},
                ":table/",
                {"Ref": TABLE},
            ],
        ]
    }
    assert unordered(statements["AppDataItems"]["Resource"]) == unordered([TABLE_ARN, replica_arn])
    assert unordered(statements["AppDataIndexes"]["Resource"]) == unordered(
        index_arns(TABLE_ARN) + index_arns_in(replica_arn)
    )
    assert unordered(statements["AppDataTableKey"]["Resource"]) == unordered(
        [{"Fn::GetAtt": [TABLE_KEY, "Arn"]}, REPLICA_KEY]
    )
    via = statements["AppDataTableKey"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert [part["Fn::Join"][1][0] for part in via] == [
        "dynamodb.eu-west-1.",
        "dynamodb.eu-central-1.",
    ]


def resolve_outputs(value: Any, outputs: dict[str, Any]) -> Any:
    """Replace the consumer's ``Fn::GetStackOutput`` (weak cross-stack references) by the value."""
    if isinstance(value, dict):
        if set(value) == {"Fn::GetStackOutput"}:
            return outputs[value["Fn::GetStackOutput"]["OutputName"]]["Value"]
        return {k: resolve_outputs(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_outputs(v, outputs) for v in value]
    return value


def test_a_level_change_updates_the_policy_in_place(
    variant: dict[str, dict[str, Any]], synthesized: Synthesized
) -> None:
    """app_ro read-only in dev, read-write in the variant: same logical id and the same values
    of every property CloudFormation can only set by replacing the policy (its schema, from
    cfn-lint), so services that attached it keep it; only the statements differ."""
    schema = create_only_properties("AWS::IAM::ManagedPolicy")
    assert schema >= {"ManagedPolicyName", "Description", "Path"}
    before_id = policy_ids(synthesized.raw["dev"])["app_ro"]
    after_id = policy_ids(variant["database"])["app_ro"]
    assert before_id == after_id
    before = synthesized.raw["dev"]["Resources"][before_id]["Properties"]
    after = variant["database"]["Resources"][after_id]["Properties"]
    assert {k: before.get(k) for k in schema} == {k: after.get(k) for k in schema}
    assert before["PolicyDocument"] != after["PolicyDocument"]


def create_only_properties(resource_type: str) -> set[str]:
    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    providers = json.loads((schemas / "providers" / "eu-west-1.json").read_text())
    schema = json.loads((schemas / "resources" / f"{providers[resource_type]}.json").read_text())
    return {path.removeprefix("/properties/") for path in schema["createOnlyProperties"]}


def test_grant_access_attaches_the_same_statements(variant: dict[str, dict[str, Any]]) -> None:
    policy = policies(variant["database"])["app_svc"]["PolicyDocument"]["Statement"]
    (default_policy,) = [
        r for r in variant["consumer"]["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
    ]
    granted = resolve_outputs(
        default_policy["Properties"]["PolicyDocument"]["Statement"], variant["database"]["Outputs"]
    )
    assert granted == [{k: v for k, v in s.items() if k != "Sid"} for s in policy]


def test_variant_is_clean_under_nag(variant: dict[str, dict[str, Any]]) -> None:
    plugins = variant["report"]["pluginReports"]
    assert [p["pluginName"] for p in plugins] == [
        "AwsSolutions",
        "HIPAA.Security",
        "NIST.800.53.R5",
    ]
    for plugin in plugins:
        assert plugin["violations"] == [], plugin["pluginName"]
