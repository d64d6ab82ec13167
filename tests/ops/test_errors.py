"""Every error path of ``python -m ops backup|restore``: one line, documented exit code.

The CLI runs in-process (``run_ops``) against the moto server process over
HTTP; ``test_native_cli`` covers the same code run as a subprocess.
"""

from __future__ import annotations

import pytest

from ops import exit_codes
from ops.database import URL_VARIABLES
from tests.fixtures.moto_server import MotoServer
from tests.ops._helpers import (
    CLUSTER,
    ENV,
    TABLE,
    create_resources,
    deploy,
    json_out,
    one_error_line,
    ops,
    publish_ssm,
    published,
)
from tests.ops.conftest import RunOps


def test_discovery_falls_back_to_the_stack_outputs(moto: MotoServer, run_ops: RunOps) -> None:
    deploy(moto, via="stack")
    result = run_ops("backup", "list", "--env", ENV, "--json")
    assert result.returncode == 0, result.stderr
    document = json_out(result)
    assert document["source"] == "stack DatabaseStack-dev"
    assert (document["table"], document["cluster"]) == (TABLE, CLUSTER)


def test_stack_not_deployed_in_that_region(moto: MotoServer, run_ops: RunOps) -> None:
    deploy(moto)  # in eu-west-1
    result = run_ops("backup", "list", "--env", ENV, "--region", "us-east-1", "--json")
    assert result.returncode == 6
    message = (
        "stack DatabaseStack-dev is not deployed in us-east-1 (and no SSM parameters under "
        "/appdata/dev/): check --region / AWS_REGION and --env (cdk.json deploys dev to eu-west-1)"
    )
    assert one_error_line(result) == f"error: {message}"
    assert json_out(result) == {
        "ok": False,
        "command": "backup list",
        "error": message,
        "error_type": "OpsError",
        "exit_code": 6,
    }


@pytest.mark.parametrize(
    "args",
    [
        ("backup", "list", "--env", "staging"),
        ("backup", "start", "--env", "qa", "--target", "all", "--native"),
        ("restore", "dynamodb", "--env", "qa", "--point-in-time", "latest", "--to-table", "t2"),
        ("migrate", "version", "--env", "staging"),
        ("access", "plan", "--env", "staging"),
        ("status", "--env", "staging"),
    ],
)
def test_an_environment_cdk_json_lacks_is_bad_input(
    moto: MotoServer, args: tuple[str, ...]
) -> None:
    """Without a region anywhere this used to say "no AWS region"; the env is what is wrong."""
    env = {k: v for k, v in moto.cli_env(region=None).items() if k not in URL_VARIABLES}
    result = ops(moto, *args, env=env)
    assert result.returncode == 2
    env_name = args[args.index("--env") + 1]
    assert one_error_line(result) == (
        f"error: unknown environment {env_name!r}: cdk.json defines dev, prod"
    )


def test_no_credentials(moto: MotoServer, run_ops: RunOps) -> None:
    deploy(moto)
    result = run_ops("backup", "list", "--env", ENV, env=moto.cli_env(credentials=False))
    assert result.returncode == 5
    assert one_error_line(result) == (
        "error: no AWS credentials: set AWS_PROFILE or run `aws configure` / `aws sso login`"
    )
    assert result.stdout == ""


def test_unknown_profile_and_no_region(moto: MotoServer, run_ops: RunOps) -> None:
    profile = run_ops("backup", "status", "x", "--profile", "nope")
    assert (
        profile.returncode == 5
        and "AWS profile 'nope' is not in ~/.aws/config" in one_error_line(profile)
    )
    no_region = run_ops("backup", "status", "x", env=moto.cli_env(region=None))
    assert no_region.returncode == 2
    assert one_error_line(no_region) == (
        "error: no AWS region: pass --region or set AWS_REGION (or a region in the profile)"
    )
    # With --env, the environment's region in cdk.json is the last resort.
    from_cdk_json = run_ops(
        "backup", "list", "--env", "dev", "--json", env=moto.cli_env(region=None)
    )
    assert json_out(from_cdk_json)["error"].startswith(
        "stack DatabaseStack-dev is not deployed in eu-west-1"
    )


def test_table_not_found(moto: MotoServer, run_ops: RunOps) -> None:
    deploy(moto)
    moto.client("dynamodb").delete_table(TableName=TABLE)
    result = run_ops("backup", "start", "--env", ENV, "--target", "dynamodb", "--native")
    assert result.returncode == 6
    assert one_error_line(result) == f"error: table {TABLE} not found in eu-west-1"


def test_unknown_snapshot_and_backup_arn(moto: MotoServer, run_ops: RunOps) -> None:
    deploy(moto)
    snapshot = run_ops("backup", "status", "appdata-dev-20260101-000000")
    assert snapshot.returncode == 6
    assert one_error_line(snapshot) == (
        "error: cluster snapshot appdata-dev-20260101-000000 not found in eu-west-1"
    )
    arn = f"arn:aws:dynamodb:eu-west-1:123456789012:table/{TABLE}/backup/01700000000000-deadbeef"
    backup = run_ops("backup", "status", arn)
    assert backup.returncode == 6
    assert one_error_line(backup) == f"error: backup {arn} not found in eu-west-1"


def test_endpoint_unreachable(moto: MotoServer, run_ops: RunOps) -> None:
    env = moto.cli_env() | {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    result = run_ops("backup", "list", "--env", ENV, env=env)
    assert result.returncode == 1
    assert one_error_line(result).startswith(
        "error: cannot reach the AWS endpoint (Could not connect"
    )


def test_usage_errors(moto: MotoServer, run_ops: RunOps) -> None:
    deploy(moto)
    retention = run_ops(
        "backup", "start", "--env", ENV, "--target", "all", "--native", "--retention-days", "7"
    )
    assert retention.returncode == 2
    assert "--retention-days applies to AWS Backup jobs" in one_error_line(retention)
    no_vault = run_ops("backup", "start", "--env", ENV, "--target", "all")
    assert no_vault.returncode == 6
    assert "DatabaseStack-dev in eu-west-1 publishes no backup vault/role" in one_error_line(
        no_vault
    )
    wrong_kind = run_ops(
        "restore", "dynamodb", "--env", ENV, "--to-table", "new-table",
        "--recovery-point", "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:s1",
    )  # fmt: skip
    assert wrong_kind.returncode == 2
    assert "is not a recovery point of the DynamoDB table" in one_error_line(wrong_kind)
    future = run_ops(
        "restore", "dynamodb", "--env", ENV, "--to-table", "new-table",
        "--point-in-time", "2999-01-01T00:00:00Z",
    )  # fmt: skip
    assert future.returncode == 2 and "is in the future" in one_error_line(future)
    missing = run_ops("restore", "dynamodb", "--env", ENV, "--to-table", "new-table")
    assert (
        missing.returncode == 2
        and "one of the arguments --recovery-point --point-in-time" in missing.stderr
    )


def test_every_subcommand_help_lists_its_options(run_ops: RunOps) -> None:
    top = run_ops("--help")
    assert top.returncode == 0 and "backup" in top.stdout and "restore" in top.stdout
    expected = {
        ("backup", "start"): [
            "--env", "--target", "--wait", "--retention-days", "--native", "--poll-seconds"
        ],
        ("backup", "list"): ["--env", "--ssm-prefix"],
        ("backup", "status"): ["JOB_ID", "--wait"],
        ("restore", "dynamodb"): ["--recovery-point", "--point-in-time", "--to-table", "--wait"],
        ("restore", "aurora"): ["--recovery-point", "--point-in-time", "--to-cluster", "--wait"],
    }  # fmt: skip
    for (group, name), flags in expected.items():
        text = run_ops(group, name, "--help")
        assert text.returncode == 0
        for flag in [*flags, "--region", "--profile", "--json", "exit codes:"]:
            assert flag in text.stdout, (group, name, flag)
    restore = run_ops("restore", "--help")
    assert "dynamodb" in restore.stdout and "aurora" in restore.stdout


def test_custom_ssm_prefix(moto: MotoServer, run_ops: RunOps) -> None:
    resources = create_resources(moto)
    publish_ssm(moto, published(resources, backups=False), prefix="/teams/data/dev")
    default = run_ops("backup", "list", "--env", ENV)
    assert default.returncode == 6  # nothing under /appdata/dev, no stack
    custom = run_ops("backup", "list", "--env", ENV, "--ssm-prefix", "/teams/data/dev/", "--json")
    assert custom.returncode == 0, custom.stderr
    assert json_out(custom)["source"] == "SSM /teams/data/dev/"


def test_the_exit_code_help_lists_every_code() -> None:
    """Scripts read the table in --help: a new code (9, guard) must be in it."""
    codes = {v for k, v in vars(exit_codes).items() if k.isupper() and isinstance(v, int)}
    listed = {
        int(line.split()[0])
        for line in exit_codes.HELP.splitlines()[1:]
        if line[:5].strip().isdigit()
    }
    assert codes == listed
