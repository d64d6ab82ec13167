"""How the database commands (migrate, access) end: a result on stdout, or one error line.

Text or, with ``--json``, one JSON document on stdout (also on failure); every
failure is one ``error: ...`` line on stderr and the exit code. No botocore here:
``--database-url`` commands never import it (`ops.command` does, for AWS commands).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dbmigrate.errors import one_line


def emit(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    print(json.dumps(document, sort_keys=True) if args.json else text)


def fail(args: argparse.Namespace, exc: BaseException, code: int, text: str | None = None) -> int:
    message = one_line(text if text is not None else str(exc))
    print(f"error: {message}", file=sys.stderr)
    if args.json:
        document = {
            "ok": False,
            "command": args.command,
            "error": message,
            "error_type": type(exc).__name__,
            "exit_code": code,
        }
        print(json.dumps(document, sort_keys=True))
    return code
