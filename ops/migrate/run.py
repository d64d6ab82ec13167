"""Running one ``python -m ops migrate`` subcommand: database, engine, output, exit code.

Imported by ``ops.migrate`` only when a migrate command runs, so that the
backup and restore commands and ``--help`` do not pay for psycopg. Progress goes
to stderr; the result goes to stdout, as text or, with ``--json``, as one JSON
document (also on failure). Every failure is one ``error: ...`` line on stderr
and a documented exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbmigrate.bundle import Bundle
from dbmigrate.cache import compile_directory_cached, default_cache_dir
from dbmigrate.engine import AppliedStep, Engine, EngineConfig
from dbmigrate.errors import (
    BundleError,
    DirtyDatabaseError,
    InvalidConnectionStringError,
    InvalidRequestError,
    LockBusyError,
    MigrationError,
    MigrationSourceError,
    db_error_text,
)
from ops import exit_codes, report
from ops.database import owner_url
from ops.errors import OpsError
from ops.migrate import DATA_API_MAX_LOCK_WAIT_SECONDS

if TYPE_CHECKING:
    from dbmigrate.transports.psycopg2_transport import Psycopg2Transport
    from dbmigrate.transports.psycopg_transport import PsycopgTransport

_INTERRUPTED = (
    "interrupted: the file that was running was rolled back (each file is all or nothing), files "
    "sent with it may have committed: run `version` to see the database's version"
)

_progress = logging.getLogger("dbmigrate.progress")
"""A child of the engine's logger: its lines go to the same stderr handler."""

_USAGE_ERRORS = (
    MigrationSourceError,
    BundleError,
    InvalidRequestError,
    InvalidConnectionStringError,
)


def run(args: argparse.Namespace) -> int:
    """Run one migrate subcommand and turn every failure into a line and an exit code."""
    _log_progress_to_stderr()
    try:
        document, text, code = _dispatch(args)
    except MigrationError as exc:
        return report.fail(args, exc, _exit_code(exc))
    except OpsError as exc:  # --env: discovery and AWS failures, already one line and a code
        return report.fail(args, exc, exc.code)
    except OSError as exc:
        return report.fail(
            args, exc, exit_codes.ERROR, f"{exc.strerror or exc}: {exc.filename or ''}"
        )
    except Exception as exc:
        if not _is_driver_error(exc):
            raise
        return report.fail(args, exc, exit_codes.ERROR, db_error_text(exc))
    except KeyboardInterrupt as exc:
        return report.fail(args, exc, exit_codes.INTERRUPTED, _INTERRUPTED)
    report.emit(args, {"ok": code == exit_codes.OK, "command": args.command, **document}, text)
    return code


def _dispatch(args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    """(JSON fields, text for stdout, exit code) of a successful command."""
    if args.command == "create":
        from dbmigrate.source import create_migration  # noqa: PLC0415 - only create needs it

        up, down = create_migration(Path(args.dir), args.name)
        return {"created": [str(up), str(down)]}, f"created {up}\ncreated {down}", exit_codes.OK
    url = owner_url(args)
    bundle = _compile(Path(args.dir), cached=not args.no_cache)
    lock_wait_ms = args.lock_wait * 1000
    if url is None:
        if args.lock_wait > DATA_API_MAX_LOCK_WAIT_SECONDS:
            raise InvalidRequestError(
                f"--lock-wait {args.lock_wait}: with --env the wait is one Data API call, "
                f"which ends at 45 s: use at most {DATA_API_MAX_LOCK_WAIT_SECONDS}"
            )
        # Here, not at the top: boto3 and botocore, which only --env needs.
        from ops.data_api import data_api_transport  # noqa: PLC0415

        config = EngineConfig(
            applied_by=f"{_applied_by()} via data-api",
            force_hint=_env_force_hint(args),
            lock_wait_ms=lock_wait_ms,
        )
        with data_api_transport(args, label="migrate") as data_api:
            engine = Engine(data_api, bundle, config=config, on_step=_log_applied)
            return _COMMANDS[args.command](engine, args)
    writes = args.command not in ("version", "plan")
    config = EngineConfig(
        applied_by=_applied_by() if writes else "ops-cli", lock_wait_ms=lock_wait_ms
    )
    with _connect(url) as transport:
        engine = Engine(transport, bundle, config=config, on_step=_log_applied)
        return _COMMANDS[args.command](engine, args)


def _connect(url: str) -> Psycopg2Transport | PsycopgTransport:
    """psycopg2 for its start-up time (``dbmigrate.transports.psycopg2_transport``); psycopg 3
    when psycopg2 is not installed."""
    try:
        from dbmigrate.transports.psycopg2_transport import Psycopg2Transport  # noqa: PLC0415
    except ImportError:
        return _psycopg3(url)
    return Psycopg2Transport.connect(url)


def _psycopg3(url: str) -> PsycopgTransport:
    from dbmigrate.transports.psycopg_transport import PsycopgTransport  # noqa: PLC0415

    return PsycopgTransport.connect(url)


def _is_driver_error(exc: Exception) -> bool:
    """psycopg's or psycopg2's error (a server error, a lost connection), by the module that
    defined it: importing a driver only to test would cost the start-up it is there to save."""
    return type(exc).__module__.split(".")[0] in ("psycopg", "psycopg2")


def _env_force_hint(args: argparse.Namespace) -> str:
    """The ``force`` command for this ``--env`` run: same environment, region, profile."""
    words = ["--env", args.env]
    for flag in ("ssm_prefix", "region", "profile"):
        if getattr(args, flag, None):
            words += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
    tail = shlex.join(words).replace("{", "{{").replace("}", "}}")  # the engine str.formats it
    return f"python -m ops migrate force {{version}} {tail}"


def _compile(directory: Path, *, cached: bool) -> Bundle:
    """The directory compiled; files unchanged since the last command come from the cache."""
    if cached:
        return compile_directory_cached(directory, cache_dir=default_cache_dir())
    from dbmigrate.compile import compile_directory  # noqa: PLC0415 - pglast is slow to import

    return compile_directory(directory)


def _cmd_up(engine: Engine, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    result = engine.up(args.n)
    return result.to_dict(), result.message, exit_codes.OK


def _cmd_down(engine: Engine, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    result = engine.down_all() if args.all else engine.down(args.n)
    return result.to_dict(), result.message, exit_codes.OK


def _cmd_goto(engine: Engine, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    result = engine.goto(args.version)
    return result.to_dict(), result.message, exit_codes.OK


def _cmd_version(engine: Engine, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    del args
    state = engine.version()
    shown = "none" if state.version is None else str(state.version)
    if state.dirty:
        print(f"error: {engine.dirty_message(state.version)}", file=sys.stderr)
        return {"version": state.version, "dirty": True}, f"{shown} (dirty)", exit_codes.DIRTY
    return {"version": state.version, "dirty": False}, shown, exit_codes.OK


def _cmd_force(engine: Engine, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    state = engine.force(args.version)
    shown = "none" if state.version is None else str(state.version)
    return {"version": state.version, "dirty": False}, f"forced version {shown}", exit_codes.OK


def _cmd_plan(engine: Engine, args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    del args
    plan = engine.plan()
    lines = [
        f"pending: {step.file}" + ("" if step.transactional else " (no transaction)")
        for step in plan.steps
    ]
    return plan.to_dict(), "\n".join([*lines, plan.message]), exit_codes.OK


_COMMANDS: dict[str, Callable[[Engine, argparse.Namespace], tuple[dict[str, Any], str, int]]] = {
    "up": _cmd_up,
    "down": _cmd_down,
    "goto": _cmd_goto,
    "version": _cmd_version,
    "force": _cmd_force,
    "plan": _cmd_plan,
}


def _exit_code(exc: MigrationError) -> int:
    if isinstance(exc, DirtyDatabaseError):
        return exit_codes.DIRTY
    if isinstance(exc, LockBusyError):
        return exit_codes.LOCKED
    if isinstance(exc, _USAGE_ERRORS):
        return exit_codes.USAGE
    return exit_codes.ERROR


def _applied_by() -> str:
    """Who the history names; looked up only by commands that write it (getpass is a few ms
    of a start-up). The host is ``uname``'s node name, which is what ``gethostname``
    returns, without importing socket (5 ms) where there is ``os.uname``."""
    import getpass  # noqa: PLC0415

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"ops-cli:{user}@{_host_name()}"


def _host_name() -> str:
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket  # noqa: PLC0415 - Windows

    return socket.gethostname()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now; being its own class, it is installed once."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _log_applied(step: AppliedStep) -> None:
    """Each committed file, with the time it took (files may be sent several at a time)."""
    _progress.info("applied %s (%s) in %s ms", step.file, step.direction, step.duration_ms)


def _log_progress_to_stderr() -> None:
    logger = logging.getLogger("dbmigrate")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("migrate: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
