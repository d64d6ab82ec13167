"""What a CloudFormation custom-resource event means for the database schema.

Plain logic, no boto3: the handler gives it a bundle loader and a factory that
opens a transport, so the tests drive it with the real engine over any
transport. The rules, each there to keep a deployment recoverable:

* Create and Update apply every pending bundled migration (forward only),
  then bring the application roles to the ``Roles`` property (`.access`).
  The properties carry the bundle's checksum and target version, computed at
  synth; a mismatch with the bundle in this asset means code and template
  come from different synths, so nothing runs.
* A database newer than the bundle (the rollback Update after a failed
  deploy sends the older properties and runs the older code) is left as it
  is and the call succeeds: failing there would end in UPDATE_ROLLBACK_FAILED.
* Delete never touches the database: the schema, its data and the roles
  outlive the resource (and the stack, whose cluster is retained).
* The physical id never changes: a new one on Update would make
  CloudFormation send a Delete for the old one.
* Only a raised exception reports FAILED through the Provider framework; its
  message is the reason CloudFormation shows, so it is one line that names the
  file, the statement, PostgreSQL's error and the state the database was left in.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dbaccess.errors import AccessError
from dbaccess.roles import RoleSet
from dbmigrate.bundle import Bundle
from dbmigrate.engine import AppliedStep, Engine, EngineConfig, RunResult
from dbmigrate.errors import (
    DirtyDatabaseError,
    LockBusyError,
    MigrationError,
    StatementRunningError,
    one_line,
)
from dbmigrate.lock_waits import DATA_API_MAX_LOCK_WAIT_MS
from dbmigrate.transport import Transport

from .access import failure_reason as access_failure_reason
from .access import parse_roles, reconcile_roles
from .timing import INVOCATION_MARGIN_SECONDS, MAX_TOTAL_TIMEOUT_SECONDS, Slice, Timing

log = logging.getLogger("migration_runner")

PHYSICAL_RESOURCE_ID = "schema-migrations"
"""Constant on purpose: nothing a deployment changes may change the resource's identity."""

MAX_REASON_BYTES = 2048
"""CloudFormation refuses a response body over 4096 bytes, and the Provider framework
sends the Node stack trace and the log group after our message, plus the stack id,
request id and the other fields: half the budget is left for them."""

MAX_DATA_CHARS = 1000
"""Cap on each ``Data`` value, which travels in the same 4096-byte response."""

MAX_TIMEOUT_MS = 2_147_483_647
"""PostgreSQL's largest lock_timeout / statement_timeout (INT_MAX milliseconds)."""

REQUIRED = ("ClusterArn", "SecretArn", "Database", "TargetVersion", "BundleChecksum")
OPTIONAL_TIMEOUTS = ("LockTimeoutMs", "StatementTimeoutMs", "LockWaitMs")
TIMING = ("TotalTimeoutSeconds", "QueryIntervalSeconds", "InvocationBudgetSeconds")
"""All or none: templates synthesized before the asynchronous mode send none (a rollback
Update), and onEvent then runs the whole migration itself, as those templates expect."""
MAX_BUDGET_SECONDS = 840
"""The runner function's 14-minute timeout."""

RUN_KEY = "MigrationRun"
"""The key onEvent adds to its response. The framework hands that response, merged into the
event, to every isComplete call: the key tells the two calls apart, and carries when the
run started (``StartedAt``, epoch seconds), from which the total timeout counts."""
ENVIRONMENT = "Environment"
"""Optional: templates synthesized before it existed (a rollback Update) do not send it."""

_CLUSTER_ARN = re.compile(
    r"^arn:aws[a-z-]*:rds:([a-z0-9-]+):\d{12}:cluster:([A-Za-z][A-Za-z0-9-]*)$"
)
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:\S+$")
_CHECKSUM = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^[0-9]+$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class DeploymentError(Exception):
    """The failure CloudFormation reports; ``str()`` is the whole reason, one line.

    Every message is fitted to `MAX_REASON_BYTES` here, whichever path raised
    it, because an oversized response is refused as a whole by CloudFormation.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(fit_reason("", reason))


@dataclass(frozen=True)
class Properties:
    """The custom resource's validated properties (CloudFormation sends them all as strings)."""

    cluster_arn: str
    secret_arn: str
    database: str
    target_version: str
    bundle_checksum: str
    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    lock_wait_ms: int | None = None
    """How long to wait for another migration run (golang-migrate's ``migrate``) to finish."""
    environment: str | None = None
    """The stack's environment name (``dev``), for the operator's ``--env``."""
    roles: RoleSet | None = None
    """The application roles; None when the template predates them."""
    timing: Timing | None = None
    """The asynchronous run's timeouts; None when the template predates them."""

    @property
    def region(self) -> str:
        """The cluster's region: the Data API must be called there, whatever the Lambda's."""
        return _cluster_arn_part(self.cluster_arn, 1)

    @property
    def cluster_name(self) -> str:
        return _cluster_arn_part(self.cluster_arn, 2)


BundleLoader = Callable[[], Bundle]
Deadline = Callable[[], float]
"""Seconds this invocation may still spend: on retries (the Lambda's time), or waiting on a
long statement (the invocation's budget)."""
TransportFactory = Callable[[Properties, Deadline, Deadline], Transport]
"""(properties, retries' deadline, long statements' deadline) -> transport."""


def on_event(
    event: Mapping[str, Any],
    load_bundle: BundleLoader,
    open_transport: TransportFactory,
    *,
    deadline: Deadline,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The Provider framework's onEvent: check what can be checked without the database.

    The migrations run in `is_complete`, which the framework calls at once and then
    every query interval. A template without the timing properties (from before
    the asynchronous mode: a rollback) has no isComplete: all runs here.
    """
    request_type = event.get("RequestType")
    started = {RUN_KEY: {"StartedAt": now()}}
    if request_type == "Delete":
        return {**_delete(event), **started}
    _check_request_type(request_type)
    props = parse_properties(event.get("ResourceProperties"))
    if props.timing is None:
        # Under a Provider that still calls isComplete (a rollback reaching this code before
        # the old template's framework), that call finds no timing either and says done.
        return {**handle(event, load_bundle, open_transport, deadline=deadline), **started}
    bundle = _load(load_bundle)
    check_bundle(props, bundle)
    _log_start(event, props, bundle, "accepted")
    return {"PhysicalResourceId": physical_resource_id(event), **started}


def is_complete(
    event: Mapping[str, Any],
    load_bundle: BundleLoader,
    open_transport: TransportFactory,
    *,
    lambda_left: float,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The Provider framework's isComplete: apply files until this invocation's time is up.

    Returns ``IsComplete`` False to be called again, True with the resource's
    ``Data`` when the database is at the bundle's version and the roles are
    reconciled; raises `DeploymentError` to report FAILED (a failed file, or no
    time left for the rest).
    """
    if event.get("RequestType") == "Delete":
        return {"IsComplete": True}
    props = parse_properties(event.get("ResourceProperties"))
    timing = props.timing
    if timing is None:  # onEvent ran the whole migration (a template without timing)
        return {"IsComplete": True}
    bundle = _load(load_bundle)
    check_bundle(props, bundle)
    window = Slice.start(timing, _started_at(event, now), lambda_left, now)

    def retries_deadline() -> float:
        return max(0.0, lambda_left - window.elapsed() - INVOCATION_MARGIN_SECONDS)

    transport = _open(open_transport, props, retries_deadline, window.seconds_left)
    try:
        if window.expired():  # no file may start this close to the total timeout
            return _not_yet(props, bundle, transport, window, "no time left to start a file")
        result = _migrate(event, props, bundle, transport, window)
        if result is None or not result.complete:
            return _not_yet(props, bundle, transport, window, _doing(result))
        whole = _whole_run(transport, event, result)
        access = _reconcile(transport, props, ahead=result.ahead)
    finally:
        transport.close()
    return {"IsComplete": True, "Data": _data(whole, access)}


def handle(
    event: Mapping[str, Any],
    load_bundle: BundleLoader,
    open_transport: TransportFactory,
    *,
    deadline: Deadline,
) -> dict[str, Any]:
    """The whole run in one call (a template without isComplete); raise to report FAILED.

    The bundle is loaded lazily so that a Delete succeeds even with a broken
    asset: a failing Delete would block the stack's deletion or rollback.
    """
    request_type = event.get("RequestType")
    if request_type == "Delete":
        return _delete(event)
    _check_request_type(request_type)
    props = parse_properties(event.get("ResourceProperties"))
    bundle = _load(load_bundle)
    check_bundle(props, bundle)
    transport = _open(open_transport, props, deadline, deadline)
    try:
        result = _migrate(event, props, bundle, transport, None)
        assert result is not None  # without a time window nothing stops early
        access = _reconcile(transport, props, ahead=result.ahead)
    finally:
        transport.close()
    return _response(physical_resource_id(event), result, access)


def physical_resource_id(event: Mapping[str, Any]) -> str:
    """The id CloudFormation already knows on Update/Delete, else the constant."""
    existing = event.get("PhysicalResourceId")
    if event.get("RequestType") != "Create" and isinstance(existing, str) and existing.strip():
        return existing
    return PHYSICAL_RESOURCE_ID


def parse_properties(raw: object) -> Properties:
    """Validate every property at once, so one failed deploy reports every mistake."""
    values = raw if isinstance(raw, Mapping) else {}
    problems: list[str] = []
    text = {name: _required_text(values, name, problems) for name in REQUIRED}
    timeouts = {name: _optional_timeout(values, name, problems) for name in OPTIONAL_TIMEOUTS}
    wait = timeouts["LockWaitMs"]
    if wait is not None and not 1 <= wait <= DATA_API_MAX_LOCK_WAIT_MS:
        problems.append(f"LockWaitMs must be 1..{DATA_API_MAX_LOCK_WAIT_MS} (one Data API call)")
    environment = {ENVIRONMENT: str(values.get(ENVIRONMENT) or "").strip()}
    _check_format(text, "ClusterArn", _CLUSTER_ARN, "an Aurora cluster ARN", problems)
    _check_format(text, "SecretArn", _SECRET_ARN, "a Secrets Manager secret ARN", problems)
    _check_format(text, "BundleChecksum", _CHECKSUM, "a sha256 hex digest", problems)
    _check_format(text, "TargetVersion", _VERSION, "a migration version number", problems)
    _check_format(environment, ENVIRONMENT, _ENVIRONMENT, "an environment name", problems)
    roles = parse_roles(values, problems)
    timing = _timing(values, problems)
    if problems:
        raise DeploymentError("invalid custom resource properties: " + "; ".join(problems))
    return Properties(
        cluster_arn=text["ClusterArn"],
        secret_arn=text["SecretArn"],
        database=text["Database"],
        target_version=text["TargetVersion"],
        bundle_checksum=text["BundleChecksum"],
        lock_timeout_ms=timeouts["LockTimeoutMs"],
        statement_timeout_ms=timeouts["StatementTimeoutMs"],
        lock_wait_ms=wait,
        environment=environment[ENVIRONMENT] or None,
        roles=roles,
        timing=timing,
    )


def check_bundle(props: Properties, bundle: Bundle) -> None:
    """Refuse to run a bundle other than the one the template was synthesized with.

    An empty bundle's target is 0 in the properties, as the construct writes it.
    """
    bundled_target = str(bundle.target_version or 0)
    wanted_target = str(int(props.target_version))
    if props.bundle_checksum == bundle.bundle_checksum and wanted_target == bundled_target:
        return
    raise DeploymentError(
        "stale migration asset: the properties ask for BundleChecksum "
        f"{props.bundle_checksum} / TargetVersion {wanted_target}, but this function's "
        f"bundle.json has {bundle.bundle_checksum} / {bundled_target}; the Lambda code and the "
        "template come from different synths: synthesize and deploy again (nothing was run)"
    )


def force_hint(props: Properties) -> str:
    """The engine's ``force`` instruction: the ops CLI over the Data API, no tunnel needed."""
    return ops_command(props, "force {version}")


def ops_command(props: Properties, command: str) -> str:
    """``python -m ops migrate COMMAND --env ENV --region REGION`` for this database.

    ``--env`` finds this cluster, its secret and database from what the stack
    publishes; ``--region`` is the cluster's, whatever the operator's default.
    Without the Environment property (an older template) the name is left to fill in.
    The result goes through ``str.format`` (the force hint's ``{version}``), so the
    names' braces are escaped.
    """
    environment = _format_literal(props.environment) if props.environment else "<ENV>"
    region = _format_literal(props.region)
    return f"python -m ops migrate {command} --env {environment} --region {region}"


def engine_config(event: Mapping[str, Any], props: Properties) -> EngineConfig:
    """Timeouts from the properties (engine defaults otherwise), and who applied the files."""
    defaults = EngineConfig()
    return EngineConfig(
        lock_timeout_ms=_first_set(props.lock_timeout_ms, defaults.lock_timeout_ms),
        statement_timeout_ms=_first_set(props.statement_timeout_ms, defaults.statement_timeout_ms),
        lock_wait_ms=_first_set(props.lock_wait_ms, defaults.lock_wait_ms),
        applied_by=_applied_by(event),
        force_hint=force_hint(props),
    )


def fit_reason(head: str, detail: str, tail: str = "", limit: int = MAX_REASON_BYTES) -> str:
    """``head + detail; tail`` on one line, at most ``limit`` bytes once JSON-encoded.

    ``head`` is the caller's own one-line prefix; ``detail`` and ``tail`` are
    flattened (driver messages span lines).

    The middle (the engine's message, which can quote a huge PostgreSQL error)
    is what gets cut, so the head and the database state at the end survive;
    cutting whole characters keeps the result valid UTF-8.
    """
    detail, tail = one_line(detail, 10**9), one_line(tail, 10**9)

    def build(middle: str) -> str:
        return f"{head}{middle}; {tail}" if tail else f"{head}{middle}"

    whole = build(detail)
    if _json_bytes(whole) <= limit:
        return whole
    low, high = 0, len(detail)
    while low < high:
        middle = (low + high + 1) // 2
        if _json_bytes(build(detail[:middle].rstrip() + "…")) <= limit:
            low = middle
        else:
            high = middle - 1
    best = build(detail[:low].rstrip() + "…")
    return best if _json_bytes(best) <= limit else _cut_end(best, limit)


def failure_reason(exc: BaseException, engine: Engine, hint: str) -> str:
    """The reason for a failed run: the engine's message and the state it left.

    Engine errors already name the file, line, statement excerpt and
    PostgreSQL's message; anything else (a transport or service failure) is
    shown with its type. The state is read back from the database rather than
    guessed, unless the error itself already says it is dirty.
    """
    detail = str(exc) if isinstance(exc, MigrationError) else f"{type(exc).__name__}: {exc}"
    # A lock not granted: the state belongs to the run holding it (golang-migrate marks its
    # file dirty while it runs); reading it back would tell the operator to force it.
    settled = not isinstance(exc, DirtyDatabaseError | LockBusyError)
    tail = _state_after_failure(engine, hint) if settled else ""
    return fit_reason("schema migration failed: ", detail, tail)


# -- steps of handle() ------------------------------------------------------


def _delete(event: Mapping[str, Any]) -> dict[str, Any]:
    physical_id = physical_resource_id(event)
    _info(
        "Delete: the database, its schema and data are left untouched",
        event="delete",
        physical_resource_id=physical_id,
        request_id=event.get("RequestId"),
    )
    return {"PhysicalResourceId": physical_id}


def _load(load_bundle: BundleLoader) -> Bundle:
    try:
        return load_bundle()
    except (OSError, MigrationError) as exc:
        raise DeploymentError(
            f"cannot load the migration bundle ({exc}): the function's asset is incomplete or "
            "corrupt; synthesize and deploy again (nothing was run)"
        ) from exc


def _check_request_type(request_type: object) -> None:
    if request_type not in ("Create", "Update"):
        raise DeploymentError(
            f"unknown RequestType {request_type!r}: expected Create, Update or Delete"
        )


def _log_start(event: Mapping[str, Any], props: Properties, bundle: Bundle, name: str) -> None:
    _info(
        f"{event.get('RequestType')}: migrating database {props.database} to version "
        f"{_show(bundle.target_version)}",
        event=name,
        request_id=event.get("RequestId"),
        database=props.database,
        cluster=props.cluster_name,
        target_version=bundle.target_version,
        bundle_checksum=bundle.bundle_checksum,
    )


def _migrate(
    event: Mapping[str, Any],
    props: Properties,
    bundle: Bundle,
    transport: Transport,
    window: Slice | None,
) -> RunResult | None:
    """Run the engine's ``up`` and turn any failure into a `DeploymentError`.

    With a ``window`` the run stops after the file that ends it; None means a
    statement is still running on the server (logged: the next call waits for it).
    """
    if window is None:
        _log_start(event, props, bundle, "start")
    config = engine_config(event, props)
    engine = Engine(transport, bundle, config=config, on_step=_log_step)
    try:
        result = engine.migrate_to_latest(stop_when=window.over if window else None)
    except StatementRunningError as running:
        if window is None:
            raise DeploymentError(fit_reason("schema migration failed: ", str(running))) from None
        log.info(str(running), extra={"fields": {"event": "waiting", "file": running.file}})
        return None
    except Exception as exc:
        reason = failure_reason(exc, engine, config.force_hint)
        log.error(reason, extra={"fields": {"event": "failed", "error": type(exc).__name__}})
        raise DeploymentError(reason) from exc
    _log_result(result)
    return result


def _doing(result: RunResult | None) -> str:
    if result is None:
        return "waiting on a statement still running on the server"
    return f"applied {len(result.applied)} file(s) in this call"


def _not_yet(
    props: Properties, bundle: Bundle, transport: Transport, window: Slice, doing: str
) -> dict[str, Any]:
    """Ask to be called again, or fail if no call could come in time."""
    state = Engine(transport, bundle).version()
    progress = _progress(bundle, state.version, state.dirty)
    if window.expired() or window.last():
        minutes = window.total_timeout_seconds // 60
        raise DeploymentError(_timed_out_reason(props, minutes, state.dirty, progress, doing))
    _info(
        f"{doing}; {progress}; next check in {window.query_interval_seconds} s",
        event="progress",
        version=state.version,
        dirty=state.dirty,
    )
    return {"IsComplete": False}


APPLIED_BY_SQL = (
    "SELECT version FROM schema_migrations_history WHERE direction = 'up' "
    "AND applied_by = :applied_by ORDER BY id"
)


def _whole_run(transport: Transport, event: Mapping[str, Any], last: RunResult) -> RunResult:
    """The result of the whole deploy: every invocation's files, read from the history
    (the last invocation alone applied only the last ones; ``applied_by`` names the request)."""
    if last.ahead:
        return last
    rows = transport.execute(APPLIED_BY_SQL, {"applied_by": _applied_by(event)})
    versions = tuple(int(str(row[0])) for row in rows)
    if versions == last.applied_versions:
        return last
    message = f"applied {len(versions)} migration(s) up; now at {_show(last.end_version)}"
    steps = tuple(AppliedStep(v, "", "up", "", 0) for v in versions)
    return RunResult(last.start_version, last.end_version, steps, message=message)


def _progress(bundle: Bundle, version: int | None, dirty: bool) -> str:
    """``database at version V: D of N bundled files applied, L left``."""
    current = -1 if version is None else version
    done = sum(1 for v in bundle.versions if v < current or (v == current and not dirty))
    left = len(bundle.versions) - done
    shown = f"{_show(version)}{' (dirty: its file is running)' if dirty else ''}"
    total = len(bundle.versions)
    return f"database at version {shown}: {done} of {total} bundled files applied, {left} left"


def _timed_out_reason(
    props: Properties, minutes: int, dirty: bool, progress: str, doing: str
) -> str:
    finish = ops_command(props, "up")
    check = ops_command(props, "version")
    what = (
        "a no-transaction statement is still running on the server (see the log for which)"
        if dirty
        else "files are still pending"
    )
    return fit_reason(
        f"schema migration did not finish within the deploy's {minutes}-minute total timeout "
        f"(migrations.total_timeout_minutes): ",
        f"{what}; {doing}; {progress}",
        f"the deploy fails and rolls back; the database stays as it is (forward only); "
        f"finish outside the deploy with `{finish}` (it waits for a running statement, then "
        f"applies the rest), check with `{check}`, then deploy again",
    )


def _reconcile(transport: Transport, props: Properties, *, ahead: bool) -> str:
    """The roles step; its failure is reported as the migrations' is, one line.

    ``ahead`` (the database is newer than this bundle) means a rollback Update:
    the same refusal that failed the deploy would fail the rollback too and end
    in UPDATE_ROLLBACK_FAILED, so there it is logged and the call succeeds.
    """
    try:
        return reconcile_roles(transport, props.roles)
    except Exception as exc:
        detail = exc if isinstance(exc, AccessError) else f"{type(exc).__name__}: {exc}"
        fields = {"event": "access-failed", "error": type(exc).__name__}
        if ahead:
            log.warning(
                f"roles not reconciled on this rollback: {detail}", extra={"fields": fields}
            )
            return one_line(f"not reconciled on this rollback: {detail}", MAX_DATA_CHARS)
        reason = access_failure_reason(detail)
        log.error(reason, extra={"fields": fields})
        raise DeploymentError(reason) from exc


def _open(
    open_transport: TransportFactory, props: Properties, deadline: Deadline, long_wait: Deadline
) -> Transport:
    """Client construction fails on configuration (region, credentials), before any SQL."""
    try:
        return open_transport(props, deadline, long_wait)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        reason = fit_reason("cannot open the Data API transport: ", detail, "nothing was run")
        raise DeploymentError(reason) from exc


def _response(physical_id: str, result: RunResult, access: str) -> dict[str, Any]:
    return {"PhysicalResourceId": physical_id, "Data": _data(result, access)}


def _data(result: RunResult, access: str) -> dict[str, str]:
    applied = ",".join(str(v) for v in result.applied_versions)
    if len(applied) > MAX_DATA_CHARS:
        first, last = result.applied_versions[0], result.applied_versions[-1]
        applied = f"{first}..{last} ({len(result.applied_versions)} migrations)"
    return {
        "Version": _show(result.end_version),
        "Applied": applied,
        "Message": one_line(result.message, MAX_DATA_CHARS),
        "Access": one_line(access, MAX_DATA_CHARS),
    }


# -- logging ----------------------------------------------------------------


def _info(message: str, **fields: object) -> None:
    log.info(message, extra={"fields": fields})


def _log_step(step: AppliedStep) -> None:
    _info(
        f"applied {step.file} in {step.duration_ms} ms",
        event="step",
        file=step.file,
        version=step.version,
        direction=step.direction,
        duration_ms=step.duration_ms,
    )


def _log_result(result: RunResult) -> None:
    if result.ahead:
        log.warning(
            f"{result.message}: the database stays ahead; deployments never run down migrations",
            extra={"fields": {"event": "ahead", "version": result.end_version}},
        )
        return
    _info(
        result.message,
        event="done",
        version=result.end_version,
        applied=list(result.applied_versions),
    )


# -- helpers ----------------------------------------------------------------


def _required_text(values: Mapping[str, Any], name: str, problems: list[str]) -> str:
    value = values.get(name)
    if value is None:
        problems.append(f"{name} is missing")
        return ""
    text = str(value).strip()
    if not text:
        problems.append(f"{name} is blank")
    return text


def _optional_timeout(values: Mapping[str, Any], name: str, problems: list[str]) -> int | None:
    value = values.get(name)
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if not text.isdecimal() or int(text) > MAX_TIMEOUT_MS:
        problems.append(f"{name} must be a whole number of milliseconds (0..{MAX_TIMEOUT_MS})")
        return None
    return int(text)


def _check_format(
    text: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str, problems: list[str]
) -> None:
    value = text[name]
    if value and not pattern.match(value):
        problems.append(f"{name} must be {what}, got {one_line(value, 120)!r}")


def _cluster_arn_part(arn: str, group: int) -> str:
    match = _CLUSTER_ARN.match(arn)
    return match.group(group) if match else ""


def _state_after_failure(engine: Engine, hint: str) -> str:
    try:
        state = engine.version()
    except Exception as exc:
        return f"the database state could not be read back ({one_line(str(exc), 300)})"
    shown = -1 if state.version is None else state.version
    if state.dirty:
        return (
            f"database left DIRTY at version {shown} (read back after the failure): fix the "
            f"schema by hand, then run `{hint.format(version=shown)}`"
        )
    return (
        f"database left at version {_show(state.version)}, not dirty (read back after the failure)"
    )


def _applied_by(event: Mapping[str, Any]) -> str:
    """``cloudformation:<stack name>/<logical id> <request id>``, recorded with each applied
    file: which deploy applied it (the files of one deploy, over several invocations)."""
    stack_id = str(event.get("StackId") or "")
    stack = stack_id.split(":stack/", 1)[-1].split("/", 1)[0] if ":stack/" in stack_id else ""
    logical = str(event.get("LogicalResourceId") or "")
    request = one_line(str(event.get("RequestId") or ""), 64)
    who = f"cloudformation:{stack}/{logical}" if stack or logical else "cloudformation"
    return f"{who} {request}" if request else who


def _timing(values: Mapping[str, Any], problems: list[str]) -> Timing | None:
    """The three timing properties, all or none, each within what the framework allows."""
    given = {name: _optional_timeout(values, name, problems) for name in TIMING}
    present = {name: value for name, value in given.items() if value is not None}
    if not present:
        return None
    if len(present) < len(TIMING):
        missing = ", ".join(name for name in TIMING if name not in present)
        problems.append(f"{missing} missing: the timing properties come together")
        return None
    timing = Timing(
        total_timeout_seconds=present["TotalTimeoutSeconds"],
        query_interval_seconds=present["QueryIntervalSeconds"],
        invocation_budget_seconds=present["InvocationBudgetSeconds"],
    )
    if not 60 <= timing.total_timeout_seconds <= MAX_TOTAL_TIMEOUT_SECONDS:
        problems.append(f"TotalTimeoutSeconds must be 60..{MAX_TOTAL_TIMEOUT_SECONDS}")
    if not 1 <= timing.query_interval_seconds < timing.total_timeout_seconds:
        problems.append("QueryIntervalSeconds must be at least 1 and below TotalTimeoutSeconds")
    if not 1 <= timing.invocation_budget_seconds <= MAX_BUDGET_SECONDS:
        problems.append(f"InvocationBudgetSeconds must be 1..{MAX_BUDGET_SECONDS}")
    return timing


def _started_at(event: Mapping[str, Any], now: Callable[[], float]) -> float:
    """When onEvent accepted the request (its response's ``StartedAt``); now if absent."""
    run = event.get(RUN_KEY)
    started = run.get("StartedAt") if isinstance(run, Mapping) else None
    return float(started) if isinstance(started, int | float) else now()


def _first_set(value: int | None, default: int) -> int:
    return default if value is None else value


def _format_literal(text: str) -> str:
    """Escape braces: the engine calls ``str.format`` on the hint."""
    return text.replace("{", "{{").replace("}", "}}")


def _json_bytes(text: str) -> int:
    """Size of ``text`` as a JSON string in the response body (quoted, with escapes)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "replace"))


def _cut_end(text: str, limit: int) -> str:
    while text and _json_bytes(text) > limit:
        text = text[: max(0, len(text) - max(1, (_json_bytes(text) - limit) // 4))]
    return text


def _show(version: int | None) -> str:
    return "none" if version is None else str(version)
