"""The runner's rules on their own: properties, physical ids, bundles, reasons, Data.

Where a database is needed it is real: the emulator, or PostgreSQL directly
through the psycopg transport when many files make HTTP too slow.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from dbmigrate.bundle import Bundle
from dbmigrate.compile import compile_directory
from dbmigrate.errors import BundleError
from dbmigrate.transport import Transport
from dbmigrate.transports.psycopg_transport import PsycopgTransport
from lambdas.migration_runner import runner
from lambdas.migration_runner.runner import (
    BundleLoader,
    Deadline,
    DeploymentError,
    Properties,
    TransportFactory,
)
from tests.fixtures.data_api import DataApiEndpoint
from tests.lambdas._support import (
    MIGRATIONS,
    create_event,
    delete_event,
    properties,
    provide,
    state,
    update_event,
    write_migration,
)


def _never_load() -> Bundle:
    raise AssertionError("the bundle must not be loaded")


def _never_open(props: Properties, deadline: Deadline, long_wait: Deadline) -> Transport:
    raise AssertionError(f"no transport may be opened (asked for {props.database})")


def run(
    event: dict[str, Any], load: BundleLoader, open_transport: TransportFactory
) -> dict[str, Any]:
    """The runner's two calls, driven as the Provider framework drives them."""
    return provide(
        event,
        lambda e: runner.on_event(e, load, open_transport, deadline=lambda: 600.0),
        lambda e: runner.is_complete(e, load, open_transport, lambda_left=840.0),
    )


def _json_bytes(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode())


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return compile_directory(MIGRATIONS)


def test_delete_loads_nothing_opens_nothing_and_returns_the_existing_id(
    data_api: DataApiEndpoint, bundle: Bundle
) -> None:
    event = delete_event(properties(data_api, bundle), physical_id="id-from-an-older-version")

    assert run(event, _never_load, _never_open) == {
        "PhysicalResourceId": "id-from-an-older-version"
    }


def test_delete_with_invalid_properties_still_succeeds() -> None:
    event = delete_event({"ServiceToken": "arn:aws:lambda:x"})

    assert run(event, _never_load, _never_open) == {"PhysicalResourceId": "schema-migrations"}


def test_update_keeps_whatever_physical_id_cloudformation_holds(
    data_api: DataApiEndpoint, bundle: Bundle
) -> None:
    props = properties(data_api, bundle)
    event = update_event(props, props, physical_id="id-from-an-older-version")

    response = run(event, lambda: bundle, lambda _p, _d, _w: data_api.transport())

    assert response["PhysicalResourceId"] == "id-from-an-older-version"
    assert response["Data"]["Applied"] == "1,2,3,4"


def test_an_unknown_request_type_fails(data_api: DataApiEndpoint, bundle: Bundle) -> None:
    event = {**create_event(properties(data_api, bundle)), "RequestType": "Replace"}

    with pytest.raises(DeploymentError, match="unknown RequestType 'Replace'"):
        run(event, _never_load, _never_open)


def test_every_property_problem_is_reported_at_once(
    data_api: DataApiEndpoint, bundle: Bundle
) -> None:
    props = properties(
        data_api,
        bundle,
        ClusterArn="arn:aws:rds:us-east-1:123456789012:db:an-instance",
        SecretArn="my-secret",
        TargetVersion="v4",
        BundleChecksum="abc",
        LockTimeoutMs="-5",
        StatementTimeoutMs="1.5",
        LockWaitMs="45000",
        Environment="dev; rm -rf /",
    )
    del props["Database"]

    with pytest.raises(DeploymentError) as failure:
        run(create_event(props), _never_load, _never_open)

    assert str(failure.value) == (
        "invalid custom resource properties: Database is missing; "
        "LockTimeoutMs must be a whole number of milliseconds (0..2147483647); "
        "StatementTimeoutMs must be a whole number of milliseconds (0..2147483647); "
        "LockWaitMs must be 1..40000 (one Data API call); "
        "ClusterArn must be an Aurora cluster ARN, "
        "got 'arn:aws:rds:us-east-1:123456789012:db:an-instance'; "
        "SecretArn must be a Secrets Manager secret ARN, got 'my-secret'; "
        "BundleChecksum must be a sha256 hex digest, got 'abc'; "
        "TargetVersion must be a migration version number, got 'v4'; "
        "Environment must be an environment name, got 'dev; rm -rf /'"
    )


def test_properties_are_parsed_with_region_cluster_and_timeouts(
    data_api: DataApiEndpoint, bundle: Bundle
) -> None:
    raw = properties(
        data_api,
        bundle,
        ClusterArn="arn:aws-cn:rds:cn-north-1:123456789012:cluster:app-data",
        LockTimeoutMs="250",
        StatementTimeoutMs="",
        LockWaitMs="2500",
    )

    props = runner.parse_properties(raw)
    event = create_event(raw)
    config = runner.engine_config(event, props)

    assert (props.region, props.cluster_name) == ("cn-north-1", "app-data")
    assert (config.lock_timeout_ms, config.statement_timeout_ms) == (250, 40_000)
    assert config.lock_wait_ms == 2500
    assert config.applied_by == (
        f"cloudformation:AppData-dev/MigrationRunnerSchemaMigrations5A1C2D3E {event['RequestId']}"
    )
    assert props.environment == "dev"
    assert config.force_hint.format(version=3) == (
        "python -m ops migrate force 3 --env dev --region cn-north-1"
    )


def test_without_the_environment_property_the_hint_leaves_env_to_fill_in(
    data_api: DataApiEndpoint, bundle: Bundle
) -> None:
    """Properties from a template older than the property (a rollback Update) still run."""
    raw = properties(data_api, bundle)
    del raw["Environment"]

    props = runner.parse_properties(raw)

    assert props.environment is None
    assert runner.force_hint(props).format(version=2) == (
        "python -m ops migrate force 2 --env <ENV> --region us-east-1"
    )


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (FileNotFoundError(2, "No such file or directory"), "No such file or directory"),
        (BundleError("bundle_checksum does not match"), "bundle_checksum does not match"),
    ],
)
def test_an_unreadable_bundle_fails_before_any_database_call(
    data_api: DataApiEndpoint, bundle: Bundle, error: Exception, shown: str
) -> None:
    def load() -> Bundle:
        raise error

    with pytest.raises(DeploymentError) as failure:
        run(create_event(properties(data_api, bundle)), load, _never_open)

    assert str(failure.value).startswith("cannot load the migration bundle (")
    assert shown in str(failure.value)
    assert "nothing was run" in str(failure.value)


def test_a_transport_that_cannot_be_opened_fails_with_its_cause(
    data_api: DataApiEndpoint, bundle: Bundle
) -> None:
    def cannot_open(props: Properties, deadline: Deadline, long_wait: Deadline) -> Transport:
        raise RuntimeError("You must specify a region.\nsecond line")

    with pytest.raises(DeploymentError) as failure:
        run(create_event(properties(data_api, bundle)), lambda: bundle, cannot_open)

    assert str(failure.value) == (
        "cannot open the Data API transport: RuntimeError: You must specify a region. "
        "second line; nothing was run"
    )


def test_applied_versions_too_long_for_the_response_are_summarised(
    fresh_db_url: str, data_api: DataApiEndpoint, tmp_path: Path
) -> None:
    versions = [20240101000000 + n for n in range(1, 71)]
    for version in versions:
        write_migration(tmp_path, f"{version}_step.up.sql", f"CREATE TABLE t{version} (id int);\n")
    many = compile_directory(tmp_path)

    response = run(
        create_event(properties(data_api, many)),
        lambda: many,
        lambda _p, _d, _w: PsycopgTransport.connect(fresh_db_url),
    )

    assert response["Data"] == {
        "Version": "20240101000070",
        "Applied": "20240101000001..20240101000070 (70 migrations)",
        "Message": "applied 70 migration(s) up; now at 20240101000070",
        "Access": "not managed by this template",
    }
    assert state(fresh_db_url) == [(20240101000070, False)]
    assert len(json.dumps(response)) < 1024


def test_fit_reason_keeps_short_reasons_whole() -> None:
    assert runner.fit_reason("failed: ", "a\n  b", "state") == "failed: a b; state"


def test_fit_reason_cuts_the_middle_and_keeps_head_and_tail() -> None:
    detail = 'x "ü\\' * 2000

    reason = runner.fit_reason("failed: ", detail, "database left at version 7, not dirty", 500)

    assert _json_bytes(reason) <= 500
    assert _json_bytes(reason) > 490
    assert reason.startswith('failed: x "ü\\')
    assert reason.endswith("…; database left at version 7, not dirty")


def test_fit_reason_cuts_even_an_oversized_tail_to_the_limit() -> None:
    reason = runner.fit_reason("failed: ", "detail", "é" * 5000, 300)

    assert 290 < _json_bytes(reason) <= 300
    assert reason.startswith("failed: …; éé")


def test_every_deployment_error_is_one_line_within_the_limit() -> None:
    error = DeploymentError("first line\n" + "é" * 5000)

    assert "\n" not in str(error)
    assert _json_bytes(str(error)) <= runner.MAX_REASON_BYTES
    assert str(error).startswith("first line éé")


def test_an_empty_bundle_with_target_zero_runs_and_changes_nothing(
    data_api: DataApiEndpoint, fresh_db_url: str
) -> None:
    empty = Bundle(())
    props = properties(data_api, empty, TargetVersion="0")

    response = run(create_event(props), lambda: empty, lambda _p, _d, _w: data_api.transport())

    assert response["Data"] == {
        "Version": "none",
        "Applied": "",
        "Message": "no change: database at version none",
        "Access": "not managed by this template",
    }
    assert state(fresh_db_url) == []


def test_retries_keep_the_lambdas_time_while_long_waits_keep_the_budget(
    data_api: DataApiEndpoint, bundle: Bundle
) -> None:
    """A call retried after the budget ran out (a resuming cluster, a rotation) must not be
    refused: only waiting on a long statement stops at the budget."""
    seen: list[tuple[float, float]] = []

    def factory(props: Properties, deadline: Deadline, long_wait: Deadline) -> Transport:
        seen.append((deadline(), long_wait()))
        return data_api.transport()

    props = properties(data_api, bundle, InvocationBudgetSeconds="1")
    event = {**create_event(props), runner.RUN_KEY: {"StartedAt": time.time()}}

    runner.is_complete(event, lambda: bundle, factory, lambda_left=840.0)

    ((retries, long_wait),) = seen
    assert 700 < retries <= 840 - 60
    assert long_wait <= 1
