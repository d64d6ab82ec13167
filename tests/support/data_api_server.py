"""A local stand-in for the RDS Data API, backed by a real PostgreSQL.

There is no AWS account in CI, and moto's ``rds-data`` returns canned results
without running SQL. This server speaks the Data API's REST-JSON wire protocol
well enough for an unmodified boto3 ``rds-data`` client (``endpoint_url``) and
runs every statement on a real PostgreSQL, reproducing the behaviour that the
migration runner depends on:

* one statement per ExecuteStatement ("Multistatements aren't supported.");
* ``:name`` parameters from typed ``Field`` values, typed ``records`` back
  (int/float/bool natively, everything else as PostgreSQL's text, UTC);
* calls without ``transactionId`` autocommit on a fresh connection, so no
  session state carries over; each transaction holds its own connection;
* SQL errors as ``BadRequestException`` with PostgreSQL's message and SQLState;
* injectable faults (``POST /_fault {"DatabaseResumingException": 2}``: the next
  two calls answer it) and an optional per-call limit emulating the 45 s cut,
  after which the statement keeps running only with ``continueAfterTimeout``;
* an optional per-call latency (``--latency-ms``) before each call is answered, to
  model the real service's round trip from a Lambda (tens of milliseconds).

The ``database`` request field picks the database on the server named by
``--database-url``, so one emulator serves every test database.

Run: ``python -m tests.support.data_api_server --port P --database-url URL``.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pglast
import psycopg
import psycopg.postgres
from pglast.parser import ParseError, scan
from psycopg.conninfo import make_conninfo
from psycopg.types.string import TextLoader

# HTTP status per error code, from botocore's rds-data service model
# (ThrottlingException is not modelled; 429 is what AWS front doors send).
STATUS = {
    "BadRequestException": 400,
    "DatabaseResumingException": 400,
    "StatementTimeoutException": 400,
    "ThrottlingException": 429,
    "InternalServerErrorException": 500,
    "ServiceUnavailableError": 503,
    "UnknownOperationException": 404,
}
# Types the Data API returns as long/double/boolean/blob; all others as strings.
NATIVE_TYPES = frozenset({"bool", "int2", "int4", "int8", "oid", "float4", "float8", "bytea"})
SCALAR_FIELDS = {
    "booleanValue": (bool,),
    "longValue": (int,),
    "doubleValue": (float, int),
    "stringValue": (str,),
}
TYPE_HINT_CASTS = {
    "UUID": "uuid",
    "TIMESTAMP": "timestamp",
    "DATE": "date",
    "TIME": "time",
    "DECIMAL": "numeric",
    "JSON": "json",
}
Json = dict[str, Any]


class ApiError(Exception):
    """An error answer: ``code`` goes to ``x-amzn-ErrorType``, the rest to the body."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.body: Json = {"message": message, **extra}


def bad_request(message: str) -> ApiError:
    return ApiError("BadRequestException", message)


def require(body: Json, name: str) -> Any:
    """Reject requests missing a field the real service insists on."""
    if not body.get(name):
        raise bad_request(f"{name} is required")
    return body[name]


# --- values: Data API Field <-> Python ---------------------------------------


def from_field(field: Json) -> Any:
    """A parameter's value; a JSON type that does not fit the member is refused,
    as the service's typed deserializer would (``{"longValue": true}``)."""
    if field.get("isNull"):
        return None
    if "blobValue" in field:
        return base64.b64decode(field["blobValue"])
    if "arrayValue" in field:
        return from_array(field["arrayValue"])
    ((key, value),) = field.items()
    if key not in SCALAR_FIELDS or type(value) not in SCALAR_FIELDS[key]:
        raise bad_request(f"invalid parameter value {key}: {value!r}")
    return value


def from_array(array: Json) -> list[Any]:
    (kind, values), *_ = array.items()
    return [from_array(inner) for inner in values] if kind == "arrayValues" else list(values)


def to_field(value: Any) -> Json:
    if value is None:
        return {"isNull": True}
    if isinstance(value, list):
        return {"arrayValue": to_array(value)}
    if isinstance(value, bytes):
        return {"blobValue": base64.b64encode(value).decode()}
    for kind, key in ((bool, "booleanValue"), (int, "longValue"), (float, "doubleValue")):
        if isinstance(value, kind):
            return {key: value}
    return {"stringValue": str(value)}


def to_array(values: list[Any]) -> Json:
    if any(isinstance(value, list) for value in values):
        return {"arrayValues": [to_array(value) for value in values]}
    key = next(iter(to_field(next((v for v in values if v is not None), ""))))
    plural = {"booleanValue": "booleanValues", "longValue": "longValues"}
    return {plural.get(key, "doubleValues" if key == "doubleValue" else "stringValues"): values}


# --- SQL: statement check, parameter binding, errors ------------------------


def check_single_statement(sql: str) -> None:
    """The service runs exactly one statement per call; pglast's scanner splits
    like PostgreSQL does (dollar quotes, comments). SQL it cannot scan goes on
    to PostgreSQL, whose error message is the one the service would relay."""
    try:
        statements = pglast.split(sql, with_parser=False)
    except ParseError:
        return
    if len(statements) > 1:
        raise bad_request("Multistatements aren't supported.")


def bind(sql: str, parameters: list[Json]) -> tuple[str, Json | None]:
    """Rewrite ``:name`` placeholders (found by PostgreSQL's own scanner, so
    never inside literals, comments or ``::`` casts) to psycopg's ``%(name)s``."""
    if not parameters:
        return sql, None
    values = {p["name"]: from_field(p.get("value", {"isNull": True})) for p in parameters}
    casts = {p["name"]: TYPE_HINT_CASTS.get(p.get("typeHint", ""), "") for p in parameters}
    raw = sql.encode()
    try:
        tokens = scan(sql)
    except ParseError:
        return sql, None
    pieces, pos = [], 0
    for colon, word in itertools.pairwise(tokens):
        name = raw[word.start : word.end + 1].decode()
        if colon.name == "ASCII_58" and word.start == colon.end + 1 and name in values:
            pieces.append(raw[pos : colon.start].decode().replace("%", "%%"))
            pieces.append(f"%({name})s" + (f"::{casts[name]}" if casts[name] else ""))
            pos = word.end + 1
    pieces.append(raw[pos:].decode().replace("%", "%%"))
    return "".join(pieces), values


def pg_message(exc: psycopg.Error) -> str:
    """PostgreSQL's error laid out as the service does it.

    For example ``ERROR: relation "x" does not exist\\n  Position: 15; SQLState: 42P01``.
    """
    diag = exc.diag
    lines = [f"{diag.severity or 'ERROR'}: {diag.message_primary or exc}"]
    for label, value in (
        ("Detail", diag.message_detail),
        ("Hint", diag.message_hint),
        ("Position", diag.statement_position),
    ):
        if value:
            lines.append(f"  {label}: {value}")
    return "\n".join(lines) + f"; SQLState: {exc.sqlstate}"


# --- the backend: PostgreSQL connections, transactions, faults --------------


class Backend:
    """Everything but HTTP: runs requests (JSON dicts) on PostgreSQL."""

    def __init__(
        self, database_url: str, call_timeout: float | None = None, latency: float = 0.0
    ) -> None:
        self.database_url = database_url
        self.call_timeout = call_timeout
        self.latency = latency
        self.transactions: dict[str, psycopg.Connection[Any]] = {}
        self.faults: dict[str, int] = {}
        self.lock = threading.Lock()

    def connect(self, database: str) -> psycopg.Connection[Any]:
        conninfo = make_conninfo(self.database_url, dbname=database, options="-c TimeZone=UTC")
        try:
            conn = psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise bad_request(str(exc).strip()) from exc
        for info in psycopg.postgres.types:
            if info.name not in NATIVE_TYPES:
                conn.adapters.register_loader(info.oid, TextLoader)
        return conn

    def inject(self, faults: Json) -> None:
        """Replace the pending faults: ``{"DatabaseResumingException": 2}``, or with the
        message to answer: ``{"BadRequestException": {"count": 2, "message": "..."}}``."""
        with self.lock:
            self.faults = {}
            self.messages: dict[str, str] = {}
            for code, fault in faults.items():
                spec = fault if isinstance(fault, dict) else {"count": fault}
                self.faults[code] = int(spec["count"])
                self.messages[code] = str(spec.get("message") or f"injected {code}")

    def take_fault(self) -> None:
        """Answer the next injected fault instead of running the call."""
        with self.lock:
            code = next((code for code, count in self.faults.items() if count > 0), None)
            if code is not None:
                self.faults[code] -= 1
        if code is not None:
            raise ApiError(code, self.messages.get(code, f"injected {code}"))

    def execute(self, body: Json) -> Json:
        check_arns(body)
        sql = require(body, "sql")
        check_single_statement(sql)
        query, values = bind(sql, body.get("parameters") or [])
        if body.get("transactionId"):
            conn, owned = self.transaction(body["transactionId"]), False
        else:
            conn, owned = self.connect(require(body, "database")), True
        return self.within_call_limit(
            conn,
            lambda: run_statement(conn, query, values),
            keep_running=bool(body.get("continueAfterTimeout")),
            cleanup=conn.close if owned else None,
        )

    def within_call_limit(
        self,
        conn: psycopg.Connection[Any],
        run: Callable[[], Json],
        *,
        keep_running: bool,
        cleanup: Callable[[], None] | None,
    ) -> Json:
        """Run in a worker thread so the call can be answered while the
        statement continues (``continueAfterTimeout``) or is being cancelled."""
        pid, done = conn.info.backend_pid, threading.Event()
        results: list[Json] = []
        errors: list[ApiError] = []

        def work() -> None:
            try:
                results.append(run())
            except ApiError as exc:
                errors.append(exc)
            except Exception as exc:  # a bug here must still answer the call
                errors.append(ApiError("InternalServerErrorException", repr(exc)))
            finally:
                done.set()
                if cleanup is not None:
                    cleanup()

        threading.Thread(target=work, daemon=True).start()
        if not done.wait(self.call_timeout):
            if not keep_running:
                conn.cancel_safe()
                done.wait()
            raise ApiError("StatementTimeoutException", "Request timed out", dbConnectionId=pid)
        if errors:
            raise errors[0]
        return results[0]

    def begin(self, body: Json) -> Json:
        check_arns(body)
        conn = self.connect(require(body, "database"))
        conn.execute("BEGIN")
        transaction_id = secrets.token_urlsafe(32)
        with self.lock:
            self.transactions[transaction_id] = conn
        return {"transactionId": transaction_id}

    def commit(self, body: Json) -> Json:
        self.finish(body, "COMMIT")
        return {"transactionStatus": "Transaction Committed"}

    def rollback(self, body: Json) -> Json:
        self.finish(body, "ROLLBACK")
        return {"transactionStatus": "Rollback Complete"}

    def finish(self, body: Json, command: str) -> None:
        check_arns(body)
        transaction_id = require(body, "transactionId")
        conn = self.transaction(transaction_id)
        with self.lock:
            del self.transactions[transaction_id]
        try:
            conn.execute(command)
        except psycopg.Error as exc:
            raise bad_request(pg_message(exc)) from exc
        finally:
            conn.close()

    def transaction(self, transaction_id: str) -> psycopg.Connection[Any]:
        with self.lock:
            conn = self.transactions.get(transaction_id)
        if conn is None:
            raise bad_request(f"Transaction {transaction_id} is not found")
        return conn

    def close(self) -> None:
        with self.lock:
            conns, self.transactions = list(self.transactions.values()), {}
        for conn in conns:
            conn.close()


def check_arns(body: Json) -> None:
    require(body, "resourceArn")
    require(body, "secretArn")


def run_statement(conn: psycopg.Connection[Any], query: str, values: Json | None) -> Json:
    """One statement; SELECTs report 0 records updated, as the service does."""
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, values)
            if cursor.description is None:
                return {"numberOfRecordsUpdated": max(cursor.rowcount, 0), "generatedFields": []}
            records = [[to_field(value) for value in row] for row in cursor.fetchall()]
            return {"records": records, "numberOfRecordsUpdated": 0, "generatedFields": []}
    except psycopg.Error as exc:
        raise bad_request(pg_message(exc)) from exc


# --- HTTP ---------------------------------------------------------------------

ROUTES: dict[str, Callable[[Backend, Json], Json]] = {
    "/Execute": Backend.execute,
    "/BeginTransaction": Backend.begin,
    "/CommitTransaction": Backend.commit,
    "/RollbackTransaction": Backend.rollback,
}


class DataApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        super().__init__(address, Handler)
        self.backend = backend


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DataApiServer

    def setup(self) -> None:
        """Headers and body go out as two writes; without TCP_NODELAY, Nagle's
        algorithm and delayed ACKs add 40 ms to every keep-alive call."""
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.send_json(200 if self.path == "/_health" else 404, {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        backend = self.server.backend
        try:
            if self.path == "/_fault":
                backend.inject(body)
                self.send_json(200, {})
                return
            route = ROUTES.get(self.path)
            if route is None:
                raise ApiError("UnknownOperationException", f"no route {self.path}")
            if backend.latency:
                time.sleep(backend.latency)
            backend.take_fault()
            self.send_json(200, route(backend, body))
        except ApiError as exc:
            self.send_json(STATUS.get(exc.code, 400), exc.body, error_type=exc.code)

    def send_json(self, status: int, payload: Json, error_type: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", secrets.token_hex(16))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the process's stderr only when something fails."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--call-timeout", type=float, default=None, help="seconds; emulates 45 s")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every call")
    args = parser.parse_args(argv)
    backend = Backend(args.database_url, args.call_timeout, args.latency_ms / 1000)
    server = DataApiServer((args.host, args.port), backend)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Data API emulator on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        backend.close()


if __name__ == "__main__":
    main()
