#!/usr/bin/env python3
"""Migrations over the Data API: calls per file and time, a statement per call vs one call.

The engine runs in process, as in the Lambda, over the Data API transport and an
unmodified boto3 client, against the Data API emulator (tests/support/) with a
per-call latency (``--latency-ms``, default 20: a Data API call from a Lambda
takes tens of milliseconds) on a throwaway PostgreSQL. Two workloads: the
standards' migrations (migrations/) and generated ones (bench/migrate_bench.py's,
``--migrations``, default 500). Two ways: a statement per call (``single_call``
off: the way before, and the fallback) and a transactional file in one call.
Every run starts on a fresh database; calls are counted by botocore's own events.
Printed: calls in all and per file (the goal: at most 2 per transactional file),
medians of the rounds, and the ratio of the two ways. Nothing is asserted.

Run: ``.venv/bin/python bench/data_api_bench.py [--rounds 3] [--latency-ms 20] [--migrations 500]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.migrate_bench import generate  # noqa: E402
from dbmigrate.bundle import Bundle  # noqa: E402
from dbmigrate.compile import compile_directory  # noqa: E402
from dbmigrate.engine import Engine, EngineConfig  # noqa: E402
from devtools.postgres import Server, throwaway_server  # noqa: E402
from tests.fixtures.data_api import DataApiEndpoint, EmulatorProcess, counted_calls  # noqa: E402

WAYS = (("per statement", False), ("one call", True))


def run_once(
    server: Server, emulator: EmulatorProcess, bundle: Bundle, single_call: bool, name: str
) -> tuple[float, int]:
    """(seconds, Data API calls) of one ``up`` on a fresh database."""
    server.create_database(name)
    try:
        endpoint = DataApiEndpoint(emulator.url, name)
        client = endpoint.client()
        engine = Engine(
            endpoint.transport(client), bundle, config=EngineConfig(single_call=single_call)
        )
        with counted_calls(client) as counted:
            started = time.perf_counter()
            result = engine.up()
            seconds = time.perf_counter() - started
        wanted = bundle.versions[-1] if bundle.versions else None
        if result.end_version != wanted:
            raise RuntimeError(f"{name}: ended at {result.end_version}, not {wanted}")
        return seconds, sum(counted.values())
    finally:
        server.drop_database(name)


def bench(
    server: Server,
    emulator: EmulatorProcess,
    label: str,
    bundle: Bundle,
    *,
    rounds: int,
    fixed: int,
) -> None:
    """Both ways on ``bundle``; ``fixed``: the calls of a run with no file to apply."""
    files = len(bundle.versions)
    statements = sum(len(m.up.statements) for m in bundle.migrations)
    print(f"\n  {label}: {files} files, {statements} statements")
    medians: dict[bool, float] = {}
    for way, single in WAYS:
        times, calls = [], 0
        for number in range(rounds):
            name = f"dab_{single:d}_{number}"
            seconds, calls = run_once(server, emulator, bundle, single, name)
            times.append(seconds)
        medians[single] = statistics.median(times)
        rounds_text = " ".join(f"{t:.2f}" for t in times)
        print(
            f"    {way:<14} {calls:>6} calls: {fixed} per run + {(calls - fixed) / files:5.2f} "
            f"per file; median {medians[single]:7.2f} s   rounds: {rounds_text}"
        )
    print(f"    one call / per statement: {medians[True] / medians[False]:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--migrations", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="data-api-bench-") as tmp, throwaway_server() as server:
        emulator = EmulatorProcess(
            server.admin_url, Path(tmp) / "emulator.log", None, latency_ms=args.latency_ms
        )
        try:
            print(
                f"Data API benchmark: emulator with {args.latency_ms:g} ms per call, "
                f"{args.rounds} rounds, a fresh database per run"
            )
            empty = Path(tmp) / "none"
            empty.mkdir()
            _, fixed = run_once(server, emulator, compile_directory(empty), True, "dab_fixed")
            print(f"  a run with nothing to apply: {fixed} calls")
            standards = compile_directory(ROOT / "migrations")
            bench(
                server, emulator, "the standards' migrations", standards,
                rounds=args.rounds, fixed=fixed,
            )  # fmt: skip
            generated = compile_directory(generate(Path(tmp), args.migrations).golang_dir)
            bench(server, emulator, "generated", generated, rounds=args.rounds, fixed=fixed)
        finally:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
