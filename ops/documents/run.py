"""Running ``ops documents``: connect, plan or apply, print; every failure one line and a code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from pymongo import MongoClient
from pymongo.errors import (
    ConfigurationError,
    InvalidURI,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from documents.indexes import IndexConflictError, IndexStep, apply, plan
from ops import exit_codes
from ops.documents import URL_VARIABLE
from ops.errors import OpsError

SERVER_TIMEOUT_MS = 5000


def run(args: argparse.Namespace) -> int:
    command = f"documents {args.command}"
    try:
        steps = _steps(args)
    except OpsError as exc:
        return _fail(args, command, str(exc), exc.code)
    code = exit_codes.ERROR if any(s.action == "conflict" for s in steps) else exit_codes.OK
    if args.json:
        document = {
            "ok": code == exit_codes.OK,
            "command": command,
            "exit_code": code,
            "steps": [s.document() for s in steps],
        }
        print(json.dumps(document, sort_keys=True, default=str))
    else:
        print("\n".join(s.line() for s in steps))
    return code


def _steps(args: argparse.Namespace) -> list[IndexStep]:
    url = args.mongodb_url or os.environ.get(URL_VARIABLE)
    if not url:
        raise OpsError(
            f"no document store: pass --mongodb-url or set {URL_VARIABLE}="
            "mongodb://host:port/DATABASE",
            exit_codes.USAGE,
        )
    try:
        client: MongoClient[Any] = MongoClient(url, serverSelectionTimeoutMS=SERVER_TIMEOUT_MS)
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        raise OpsError(f"invalid {URL_VARIABLE}: {exc}", exit_codes.USAGE) from exc
    try:
        try:
            db = client.get_default_database()
        except ConfigurationError as exc:
            raise OpsError(
                f"{_redacted(url)} names no database: end it with /DATABASE (e.g. /appdata)",
                exit_codes.USAGE,
            ) from exc
        return apply(db) if args.command == "apply" else plan(db)
    except IndexConflictError as exc:
        raise OpsError(f"refused, nothing created: {exc}") from exc
    except ServerSelectionTimeoutError as exc:
        raise OpsError(f"cannot reach the document store {_redacted(url)}: {_first(exc)}") from exc
    except PyMongoError as exc:
        raise OpsError(f"document store {_redacted(url)}: {_first(exc)}") from exc
    finally:
        client.close()


def _first(exc: PyMongoError) -> str:
    """pymongo's message without its full error document, timeouts and topology."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for cut in (", full error", " (configured timeouts", ", Timeout:"):
        text = text.split(cut)[0]
    return text


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def _fail(args: argparse.Namespace, command: str, text: str, code: int) -> int:
    print(f"error: {text}", file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": False, "command": command, "error": text, "exit_code": code}))
    return code
