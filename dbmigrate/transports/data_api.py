"""The RDS Data API transport: how the migration-runner Lambda reaches Aurora.

The Lambda has no network path to the cluster, only the Data API (boto3
``rds-data``). That service differs from a plain connection in ways that shape
this module:

* one statement per ExecuteStatement call, typed ``Field`` values in and out;
* a paused Serverless v2 cluster (0 ACU) answers ``DatabaseResumingException``
  for about 15 s, so the first calls of a run must be retried with backoff;
* a call is cut after 45 s; ``continueAfterTimeout`` lets a long DDL statement
  (``CREATE INDEX CONCURRENTLY``) keep running on the server, after which the
  only way to learn that it finished is to look at ``pg_stat_activity``;
* calls are pooled, so session state never carries from one call to the next,
  while a BeginTransaction ... CommitTransaction block keeps one backend.

Retry safety, the rule behind every ``retry_on`` set below: a call may only be
repeated if the first attempt provably did not run, or if running it twice is
harmless. ``DatabaseResumingException`` and ``ThrottlingException`` are
answered before the statement reaches PostgreSQL, so autocommit statements are
retried on them. ``ServiceUnavailableError`` (HTTP 503) can come after the
statement ran, so only idempotent calls are retried on it: BeginTransaction
(a duplicate is an empty transaction that the service rolls back after three
idle minutes) and this module's own read-only ``pg_stat_activity`` polls.
Statements inside a transaction, CommitTransaction and RollbackTransaction are
never retried: a failed transaction rolls back as a whole and the engine can
run the migration again, which is safer than guessing what a half-answered
call did. Neither is an HTTP read timeout on an ordinary statement: the
statement may have run, so it surfaces as `StatementOutcomeUnknownError`.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError

from dbmigrate.transport import (
    Executor,
    OutcomeUnknownError,
    Params,
    Row,
    SqlValue,
    StillRunningError,
    UnobservedError,
)

log = logging.getLogger(__name__)

DATABASE_RESUMING = "DatabaseResumingException"
THROTTLING = "ThrottlingException"
SERVICE_UNAVAILABLE = "ServiceUnavailableError"
STATEMENT_TIMEOUT = "StatementTimeoutException"

LOGIN_REJECTED = "login rejected"
"""Not a service error code: PostgreSQL refused the secret's password (SQLSTATE 28P01 or
28000). A rotation's single-user strategy changes the password before it moves the
secret's current version; for those seconds every new connection is refused. A call
refused at login ran nothing."""

# Answered before the statement reached PostgreSQL: nothing ran.
NOT_EXECUTED = frozenset({DATABASE_RESUMING, THROTTLING, LOGIN_REJECTED})
# Worth retrying for calls that are harmless to repeat.
TRANSIENT = NOT_EXECUTED | {SERVICE_UNAVAILABLE}
NEVER: frozenset[str] = frozenset()

# The service cuts calls at 45 s; the client must wait longer than that, or it
# would give up on calls that are still going to answer.
CLIENT_READ_TIMEOUT = 60.0
# Without a deadline callable, wait at most a Lambda's whole lifetime.
DEFAULT_MAX_WAIT = 900.0
# pg_stat_activity.query is cut at track_activity_query_size (1 KiB by
# default); 200 characters stay inside it even at 4 bytes per character.
QUERY_PREFIX_CHARS = 200

_SQLSTATE = re.compile(r"SQLState: ([0-9A-Z]{5})")
_LOGIN_SQLSTATES = frozenset({"28P01", "28000"})
_FATAL = re.compile(r"(^|\s)FATAL:")

_STILL_RUNNING_SQL = """\
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND state = 'active'
  AND starts_with(ltrim(query), :prefix)
  AND (:pid = 0 OR pid = :pid)"""


class TransportError(Exception):
    """A database call failed; one line, without file or statement context.

    The engine's error layer knows which migration and statement were running
    and adds that; this layer only says what the database or service answered.
    """


class DataApiError(TransportError):
    """The Data API answered with an error (``code`` is its error type).

    For SQL errors the service answers ``BadRequestException`` carrying
    PostgreSQL's own message and SQLSTATE, which `sqlstate` exposes so that
    callers can react to, say, ``55P03`` (lock not available).
    """

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation = operation
        self.code = code
        self.message = message
        match = _SQLSTATE.search(message)
        self.sqlstate = match.group(1) if match else None
        super().__init__(f"{operation} failed: {code}: {_one_line(message)}")

    @property
    def reason(self) -> str:
        """What retry lists name: the service's code, or ``LOGIN_REJECTED``.

        Only a FATAL error is a refused login: a statement can raise an ERROR with the
        same SQLSTATE (RAISE ... USING ERRCODE), and that one did run.
        """
        login = self.sqlstate in _LOGIN_SQLSTATES and _FATAL.search(self.message)
        return LOGIN_REJECTED if login else self.code


class RetriesExhaustedError(DataApiError):
    """A retryable error persisted past the retry budget (attempts or time)."""

    def __init__(self, operation: str, code: str, message: str, attempts: int) -> None:
        super().__init__(operation, code, message)
        self.attempts = attempts
        self.args = (f"{self.args[0]} (gave up after {attempts} attempts)",)


class CallCutError(DataApiError):
    """The call ended before the statement did: the 45 s cut or the HTTP read timeout.

    ``connection_id`` is the backend pid the service reports with
    ``StatementTimeoutException``; ``None`` when the client gave up on its own.
    """

    def __init__(self, operation: str, code: str, message: str, connection_id: int | None) -> None:
        super().__init__(operation, code, message)
        self.connection_id = connection_id


class StatementOutcomeUnknownError(CallCutError, OutcomeUnknownError):
    """An ordinary statement's call was cut: it may or may not have run.

    Raised instead of retrying, because running a migration statement twice
    is worse than stopping and letting a human (or a rerun) check.
    """


class StatementEndedUnobservedError(TransportError, UnobservedError):
    """A long-running statement's call was cut; the statement has ended since, its outcome
    unknown (the Data API gives no handle on a cut call's result)."""


class StatementStillRunningError(TransportError, StillRunningError):
    """A long-running statement outlived the transport's deadline.

    It is still running on the server (the Data API cannot cancel it after the
    call returned); starting it again would only queue behind it.
    """


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and in total time.

    The defaults cover a paused cluster's ~15 s resume with room to spare and
    stay far below a Lambda's timeout. ``sleep``, ``clock`` and ``jitter`` are
    injectable so tests can run the schedule without waiting.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_elapsed: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.SystemRandom().random

    def delay(self, attempt: int) -> float:
        """Delay after failed attempt ``attempt`` (1-based): equal jitter.

        Half the exponential step is fixed, half random, so the backoff keeps
        growing while concurrent runs do not retry in lockstep.
        """
        step = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return step / 2 + step / 2 * self.jitter()


def make_rds_data_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    *,
    session: Any = None,
    read_timeout: float = CLIENT_READ_TIMEOUT,
) -> Any:
    """Build an ``rds-data`` client fit for this transport.

    The read timeout must exceed the service's 45 s cut, or the client would
    abandon calls the service is still going to answer. botocore's own retries
    are switched off (one attempt): its standard mode retries read timeouts,
    which would re-send a statement that may already have run; this
    transport's retry policy decides instead.
    """
    config = Config(
        read_timeout=read_timeout,
        connect_timeout=10,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    factory = session if session is not None else boto3
    return factory.client("rds-data", region_name=region, endpoint_url=endpoint_url, config=config)


class DataApiTransport:
    """Runs the engine's statements through the RDS Data API.

    ``execute`` autocommits each statement; ``transaction()`` wraps
    BeginTransaction / ExecuteStatement(transactionId) / CommitTransaction and
    rolls back when the block raises. ``deadline`` returns the seconds this
    run may still spend (in the Lambda:
    ``lambda: context.get_remaining_time_in_millis() / 1000 - margin``); it
    bounds retry sleeps, and waits for long-running statements unless
    ``long_wait`` (the runner's invocation budget) bounds those.
    """

    def __init__(
        self,
        client: Any,
        resource_arn: str,
        secret_arn: str,
        database: str,
        *,
        retry: RetryPolicy | None = None,
        deadline: Callable[[], float] | None = None,
        long_wait: Callable[[], float] | None = None,
        poll_interval: float = 5.0,
    ) -> None:
        self._client = client
        self._arns = {"resourceArn": resource_arn, "secretArn": secret_arn}
        self._database = database
        self._retry = retry or RetryPolicy()
        self._deadline = deadline
        self._long_wait = long_wait or deadline
        self._poll_interval = poll_interval

    def execute(
        self, sql: str, params: Params | None = None, *, long_running: bool = False
    ) -> list[Row]:
        """Run one statement in autocommit mode and return its rows.

        ``long_running`` statements are sent with ``continueAfterTimeout``; if
        the call is cut, wait for the server to finish the statement (see
        `_wait_until_finished`), then raise `StatementEndedUnobservedError`: it
        ended, but whether it failed is unknown.
        """
        request = self._statement(sql, params, continueAfterTimeout=long_running or None)
        try:
            response = self._call("ExecuteStatement", request, retry_on=NOT_EXECUTED)
        except CallCutError as cut:
            if not long_running:
                raise StatementOutcomeUnknownError(
                    cut.operation, cut.code, cut.message, cut.connection_id
                ) from cut
            self._wait_until_finished(sql, cut.connection_id)
            raise StatementEndedUnobservedError(
                f"the statement ended on the server after its call was cut ({cut.code}); "
                "its result never came back"
            ) from cut
        return _rows(response)

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        """Yield an executor bound to one Data API transaction.

        A failing rollback is logged, never raised: the error that caused the
        rollback is the one worth reporting, and the service rolls back an
        abandoned transaction after three idle minutes anyway.
        """
        begin = {**self._arns, "database": self._database}
        response = self._call("BeginTransaction", begin, retry_on=TRANSIENT)
        transaction_id: str = response["transactionId"]
        try:
            yield _TransactionExecutor(self, transaction_id)
        except BaseException:
            self._rollback_quietly(transaction_id)
            raise
        self._call(
            "CommitTransaction", {**self._arns, "transactionId": transaction_id}, retry_on=NEVER
        )

    def close(self) -> None:
        """Nothing to release: the Data API holds no connection on our side."""

    def _statement(self, sql: str, params: Params | None, **extra: Any) -> dict[str, Any]:
        request: dict[str, Any] = {**self._arns, "database": self._database, "sql": sql}
        if params:
            request["parameters"] = [
                {"name": name, "value": to_field(value)} for name, value in params.items()
            ]
        request.update({key: value for key, value in extra.items() if value is not None})
        return request

    def _rollback_quietly(self, transaction_id: str) -> None:
        request = {**self._arns, "transactionId": transaction_id}
        try:
            self._call("RollbackTransaction", request, retry_on=NEVER)
        except TransportError as exc:
            log.warning("rollback of transaction %s failed: %s", transaction_id, exc)

    def _call(
        self, operation: str, request: dict[str, Any], *, retry_on: frozenset[str]
    ) -> dict[str, Any]:
        """Make one Data API call, retrying codes in ``retry_on`` with backoff."""
        policy = self._retry
        started = policy.clock()
        attempt = 1
        while True:
            try:
                return self._call_once(operation, request)
            except DataApiError as exc:
                if exc.reason not in retry_on:
                    raise
                delay = policy.delay(attempt)
                if not self._may_retry(attempt, started, delay):
                    raise RetriesExhaustedError(operation, exc.code, exc.message, attempt) from exc
                log.warning("%s: %s; retry %d in %.1f s", operation, exc.reason, attempt, delay)
                policy.sleep(delay)
                attempt += 1

    def _may_retry(self, attempt: int, started: float, delay: float) -> bool:
        """Another attempt fits the policy's budget and the run's deadline."""
        policy = self._retry
        return (
            attempt < policy.max_attempts
            and policy.clock() - started + delay <= policy.max_elapsed
            and (self._deadline is None or self._deadline() > delay)
        )

    def _call_once(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """Call the client and turn botocore's exceptions into `TransportError`."""
        method = getattr(self._client, _SNAKE[operation])
        try:
            response: dict[str, Any] = method(**request)
        except ClientError as exc:
            raise _from_client_error(operation, exc) from exc
        except (ReadTimeoutError, ConnectionClosedError) as exc:
            raise CallCutError(operation, type(exc).__name__, str(exc), None) from exc
        except BotoCoreError as exc:
            raise TransportError(f"{operation} failed: {_one_line(str(exc))}") from exc
        return response

    def _wait_until_finished(self, sql: str, connection_id: int | None) -> None:
        """Poll ``pg_stat_activity`` until no backend runs ``sql`` any more.

        The Data API gives no handle on a statement whose call was cut, so the
        transport looks for an active backend (the reported pid, when known)
        whose query text starts like ``sql``. This assumes the service passes
        parameterless SQL through verbatim. Only completion is observed, not
        success: a failed ``CREATE INDEX CONCURRENTLY`` leaves an invalid
        index, which the caller must check for if it matters.
        """
        policy = self._retry
        give_up_at = policy.clock() + self._seconds_left()
        log.info("call cut; waiting for the statement to finish on the server")
        while self._still_running(sql, connection_id):
            if policy.clock() + self._poll_interval > give_up_at:
                raise StatementStillRunningError(
                    "statement still running on the server after the transport's deadline"
                    f" (backend pid {connection_id or 'unknown'}); wait for it to finish"
                    " before running migrations again"
                )
            policy.sleep(self._poll_interval)

    def _still_running(self, sql: str, connection_id: int | None) -> bool:
        params: Params = {"prefix": sql.lstrip()[:QUERY_PREFIX_CHARS], "pid": connection_id or 0}
        request = self._statement(_STILL_RUNNING_SQL, params)
        rows = _rows(self._call("ExecuteStatement", request, retry_on=TRANSIENT))
        return bool(rows and rows[0][0])

    def _seconds_left(self) -> float:
        """How long a cut statement may be waited for (``long_wait``, else the deadline)."""
        return self._long_wait() if self._long_wait is not None else DEFAULT_MAX_WAIT


class _TransactionExecutor:
    """Executes statements inside one Data API transaction, never retrying.

    A statement here may have run even when its call failed, and the
    transaction's outcome is decided by commit or rollback, so a retry could
    only repeat work; the failure propagates and the block rolls back.
    ``long_running`` sets ``continueAfterTimeout`` but a cut call still fails
    the transaction: its statement's result is unknown.
    """

    def __init__(self, transport: DataApiTransport, transaction_id: str) -> None:
        self._transport = transport
        self._transaction_id = transaction_id

    def execute(
        self, sql: str, params: Params | None = None, *, long_running: bool = False
    ) -> list[Row]:
        request = self._transport._statement(
            sql,
            params,
            transactionId=self._transaction_id,
            continueAfterTimeout=long_running or None,
        )
        return _rows(self._transport._call("ExecuteStatement", request, retry_on=NEVER))


_SNAKE = {
    "ExecuteStatement": "execute_statement",
    "BeginTransaction": "begin_transaction",
    "CommitTransaction": "commit_transaction",
    "RollbackTransaction": "rollback_transaction",
}

# Checked in order: bool is a subclass of int, so it must come first.
_FIELD_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "booleanValue"),
    (int, "longValue"),
    (float, "doubleValue"),
    (str, "stringValue"),
)


def to_field(value: SqlValue) -> dict[str, Any]:
    """Encode a Python value as a Data API ``Field``."""
    if value is None:
        return {"isNull": True}
    for kind, key in _FIELD_KINDS:
        if isinstance(value, kind):
            return {key: value}
    raise TypeError(f"cannot send {type(value).__name__} through the Data API")


def from_field(field_: Mapping[str, Any]) -> SqlValue:
    """Decode a Data API ``Field`` into a Python value.

    Types the protocol has no Python value for come back as PostgreSQL's text
    form, as the Data API itself does for uuid, numeric or timestamps: arrays
    as ``{...}`` literals, bytea as ``\\x`` hex.
    """
    if field_.get("isNull"):
        return None
    for _, key in _FIELD_KINDS:
        if key in field_:
            value: SqlValue = field_[key]
            return value
    if "arrayValue" in field_:
        return _array_literal(field_["arrayValue"])
    if "blobValue" in field_:
        blob: bytes = field_["blobValue"]
        return "\\x" + blob.hex()
    raise TransportError(f"unsupported Data API field: {sorted(field_)}")


def _array_literal(array: Mapping[str, Any]) -> str:
    if "arrayValues" in array:
        return "{" + ",".join(_array_literal(inner) for inner in array["arrayValues"]) + "}"
    (kind, values), *_ = array.items()
    if kind == "booleanValues":
        return "{" + ",".join("t" if value else "f" for value in values) + "}"
    if kind == "stringValues":
        return "{" + ",".join(_quote_element(str(value)) for value in values) + "}"
    return "{" + ",".join(str(value) for value in values) + "}"


def _quote_element(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rows(response: Mapping[str, Any]) -> list[Row]:
    return [tuple(from_field(value) for value in record) for record in response.get("records", [])]


def _from_client_error(operation: str, exc: Any) -> DataApiError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message") or exc)
    if code == STATEMENT_TIMEOUT:
        connection_id = exc.response.get("dbConnectionId")
        pid = connection_id if isinstance(connection_id, int) else None
        return CallCutError(operation, code, message, pid)
    return DataApiError(operation, code, message)


def _one_line(text: str) -> str:
    """PostgreSQL messages span lines (``\\n  Position: 15``); logs want one."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())
