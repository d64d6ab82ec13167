"""Lambda entry point ``migration_runner.handler.on_event``: the I/O around `runner`.

It reads ``bundle.json`` (compiled at synth, shipped next to this module),
builds the boto3 ``rds-data`` client and the Data API transport, and writes
JSON log lines to stdout. Imports are kept to what a run needs: the asset
holds neither pglast nor psycopg, so ``dbmigrate.compile`` must never be
imported from here.

Environment:

* ``MIGRATION_BUNDLE_PATH``: another bundle file (tests);
* ``AWS_ENDPOINT_URL_RDS_DATA``: another Data API endpoint, read by boto3
  itself (tests point it at the emulator).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from dbmigrate.bundle import Bundle
from dbmigrate.transports.data_api import DataApiTransport, make_rds_data_client

from . import runner
from .runner import Deadline, Properties

BUNDLE_PATH_ENV = "MIGRATION_BUNDLE_PATH"
DEFAULT_BUNDLE_PATH = Path(__file__).with_name("bundle.json")

DEADLINE_MARGIN_SECONDS = 60.0
"""Time kept back from the Lambda's remaining time, so that a run that has to give up
(retries, waiting on a long statement) still returns its own error to CloudFormation
instead of being killed by the Lambda timeout with no reason at all."""

LOGGERS = ("migration_runner", "dbmigrate")


class LambdaContext(Protocol):
    """The part of the Lambda context object this handler uses."""

    def get_remaining_time_in_millis(self) -> int: ...


def main(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Provider framework's onEvent and isComplete, told apart by ``runner.RUN_KEY``."""
    if runner.RUN_KEY in event:
        return is_complete(event, context)
    return on_event(event, context)


def on_event(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Checks the request and starts the run; raises to report FAILED."""
    with json_logging():
        return runner.on_event(event, load_bundle, open_transport, deadline=_deadline(context))


def is_complete(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Applies files for one invocation's budget; raises to report FAILED."""
    lambda_left = context.get_remaining_time_in_millis() / 1000
    with json_logging():
        return runner.is_complete(event, load_bundle, open_transport, lambda_left=lambda_left)


def bundle_path() -> Path:
    return Path(os.environ.get(BUNDLE_PATH_ENV) or DEFAULT_BUNDLE_PATH)


def load_bundle() -> Bundle:
    """Read and verify the bundle (``Bundle.from_json`` rechecks every checksum)."""
    return Bundle.from_json(bundle_path().read_bytes())


def open_transport(props: Properties, deadline: Deadline, long_wait: Deadline) -> DataApiTransport:
    """A Data API transport in the cluster's region: retries bounded by ``deadline``, waits
    on a long statement by ``long_wait``."""
    client = make_rds_data_client(region=props.region)
    return DataApiTransport(
        client,
        props.cluster_arn,
        props.secret_arn,
        props.database,
        deadline=deadline,
        long_wait=long_wait,
    )


def _deadline(context: LambdaContext) -> Deadline:
    """The Lambda's remaining time, less the margin."""

    def seconds_left() -> float:
        remaining = context.get_remaining_time_in_millis() / 1000
        return max(0.0, remaining - DEADLINE_MARGIN_SECONDS)

    return seconds_left


class JsonLinesHandler(logging.Handler):
    """One JSON document per record on the current ``sys.stdout`` (CloudWatch keeps it as is).

    ``sys.stdout`` is looked up at each record, not kept, so redirections
    (pytest's capture) see the lines.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, plus the record's ``fields`` (from ``extra``)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            document.update(fields)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


@contextmanager
def json_logging() -> Iterator[None]:
    """Send the runner's and the engine's records to stdout as JSON for one invocation.

    They do not propagate meanwhile: the Lambda runtime's root handler would
    print each a second time. Restored afterwards, so that importing or calling
    this module in a test process leaves the logging setup as it was.
    """
    handler = JsonLinesHandler()
    handler.setFormatter(JsonFormatter())
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
