#!/usr/bin/env python3
"""Local data layer benchmark: ``python -m devtools.local up`` cold and warm, and the
access-pattern suites (``pytest tests/appdata``, and the document patterns).

* cold: after ``reset`` (no data directory, nothing running), dependencies installed
  (FerretDB built: its first build is reported apart, in the README), the template
  already synthesized: initdb, start PostgreSQL, create the database, apply the
  migrations, start moto, create the table, start FerretDB, create its indexes.
* warm: ``up`` again with both running (the idempotent path: checks only).
* suite: the whole ``pytest tests/appdata`` run (wall clock, including the session's
  in-process synth and moto start-up), and the sum of the tests' own call times.

Runs on a temporary LOCAL_DIR and free ports, so a developer's ``.local`` is left
alone. Several rounds; prints medians (and min/max).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.local import Settings, ensure_template  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _local(env: dict[str, str], command: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "devtools.local", command],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"devtools.local {command} failed: {result.stderr.strip()}")
    return elapsed


DOCUMENT_SUITE = ("tests/documents/test_users.py", "tests/documents/test_indexes.py")


def _suite(*paths: str) -> tuple[float, float, int]:
    """(wall seconds, sum of test call seconds, tests passed) for ``pytest PATHS``."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *paths, "--durations=0",
             "--durations-min=0", f"--junitxml={report}"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"pytest {' '.join(paths)} failed:\n{result.stdout[-3000:]}")
        suite = ElementTree.parse(report).getroot().find("testsuite")  # noqa: S314 - our own file
        tests = int(suite.get("tests", "0")) if suite is not None else 0
    calls = sum(float(m.group(1)) for m in re.finditer(r"^([\d.]+)s call ", result.stdout, re.M))
    return wall, calls, tests


def _summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):6.2f} s"
        f"  (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of cold/warm up")
    parser.add_argument("--suite-rounds", type=int, default=3)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="local-bench-"))
    base.chmod(0o755)  # the postgres OS user must reach it when run as root
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCAL_")}
    env.update(
        LOCAL_DIR=str(base / "local"),
        LOCAL_ENV_FILE=str(base / ".env"),
        LOCAL_PG_PORT=str(_free_port()),
        LOCAL_DYNAMODB_PORT=str(_free_port()),
        LOCAL_MONGODB_PORT=str(_free_port()),
    )
    # The template synthesized (if stale) before timing: the figures exclude synth.
    ensure_template(Settings.from_env(env), print)
    cold: list[float] = []
    warm: list[float] = []
    try:
        for _ in range(args.rounds):
            _local(env, "reset")
            cold.append(_local(env, "up"))
            warm.append(_local(env, "up"))
        down = _local(env, "down")
    finally:
        _local(env, "reset")
        shutil.rmtree(base, ignore_errors=True)
    suite = [_suite("tests/appdata") for _ in range(args.suite_rounds)]
    documents = [_suite(*DOCUMENT_SUITE) for _ in range(args.suite_rounds)]

    print(f"make local, cold (after reset):  {_summary(cold)}")
    print(f"make local, warm (already up):   {_summary(warm)}")
    print(f"make local-down (last round):    {down:6.2f} s")
    print(f"pytest tests/appdata, wall:      {_summary([s[0] for s in suite])}")
    print(
        f"  sum of test call times:        {_summary([s[1] for s in suite])}"
        f"  ({suite[-1][2]} tests)"
    )
    print(f"document patterns (FerretDB), wall: {_summary([s[0] for s in documents])}")
    print(
        f"  sum of test call times:        {_summary([s[1] for s in documents])}"
        f"  ({documents[-1][2]} tests)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
