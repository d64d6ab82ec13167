#!/usr/bin/env python3
"""The standards' hot reads through the cache vs the store directly, on the local stack.

Servers as ``make local`` runs them, in a temporary directory: Redis
(`devtools.cache_store`), the DynamoDB endpoint (moto's server, the table from the
synthesized dev template) and a throwaway PostgreSQL, migrated. Each round, in
turn: the store read alone (the baseline), a cache hit, and a cache miss
(the entry invalidated before each read), for the DynamoDB profile and the
PostgreSQL user by id; then ``--cold`` concurrent readers of one cold key,
counting the reads that reach DynamoDB (threads of this one process: the tests
measure the lock across processes). Prints medians over the rounds of the p50 and
p99 latency and the reads per second of each path (one caller, one read after the
other: 1 / mean latency), and the ratios.

Everything is on loopback: moto's DynamoDB (several ms a GetItem, far slower than
DynamoDB itself), PostgreSQL and Redis (a fraction of a ms). In AWS both sides pay
a network round trip, so these ratios say how the paths compare here, not there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appdata import postgres  # noqa: E402
from appdata.cache.client import connect  # noqa: E402
from appdata.cache.core import ReadThroughCache  # noqa: E402
from appdata.cache.keys import Namespace  # noqa: E402
from appdata.cache.repositories import PROFILE, USER_BY_ID, CachedProfiles, CachedUsers  # noqa: E402
from appdata.dynamo import AppDataRepository  # noqa: E402
from dbmigrate.compile import compile_directory  # noqa: E402
from dbmigrate.engine import Engine  # noqa: E402
from dbmigrate.transports.psycopg_transport import PsycopgTransport  # noqa: E402
from devtools.cache_store import RedisProcess  # noqa: E402
from devtools.dynamodb_local import ensure_table, load_template, table_from_template  # noqa: E402
from devtools.local import Settings, ensure_template  # noqa: E402
from devtools.postgres import throwaway_server  # noqa: E402
from tests.fixtures.moto_server import MotoServer, start_moto  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

Timings = dict[str, list[float]]


def _measure(
    read: Callable[[], Any], count: int, before: Callable[[], None] | None = None
) -> dict[str, float]:
    """p50 and p99 of one read (ms), and reads per second over the ``count`` reads."""
    samples = []
    for _ in range(count):
        if before is not None:
            before()
        start = time.perf_counter()
        read()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return {
        "p50_ms": samples[len(samples) // 2] * 1000,
        "p99_ms": samples[int(len(samples) * 0.99)] * 1000,
        "reads_per_s": count / sum(samples),
    }


def _cold_key(cache: ReadThroughCache, repo: AppDataRepository, readers: int) -> tuple[int, float]:
    """``readers`` threads read one cold profile at once: (DynamoDB reads, wall seconds)."""
    cache.invalidate(PROFILE, "hot")
    reads: list[int] = []

    def load() -> Any:
        reads.append(1)
        return repo.get_user_profile("hot")

    barrier = threading.Barrier(readers)

    def reader() -> None:
        barrier.wait()
        cache.get(PROFILE, "hot", load)

    threads = [threading.Thread(target=reader) for _ in range(readers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(reads), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reads", type=int, default=2000, help="reads per path per round")
    parser.add_argument("--cold", type=int, default=1000, help="concurrent readers of a cold key")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cache-bench-"))
    redis_process = RedisProcess(work / "redis", free_port())
    redis_process.start()
    moto_process = start_moto(work)
    try:
        with throwaway_server() as server:
            results = _run(args, server.create_database("bench"), MotoServer(moto_process.url),
                           redis_process)  # fmt: skip
    finally:
        moto_process.stop()
        redis_process.stop()
    _report(results, args)
    return 0


def _run(
    args: argparse.Namespace, db_url: str, moto: MotoServer, redis_process: RedisProcess
) -> Timings:
    template = load_template(ensure_template(Settings.from_env(), lambda _line: None))
    definition = table_from_template(template)
    client = moto.client("dynamodb")
    ensure_table(definition, client)
    repo = AppDataRepository(client, definition.table_name)
    repo.create_user("u1", email="ann@example.com", name="Ann")
    repo.create_user("hot", email="hot@example.com", name="Hot")
    with PsycopgTransport.connect(db_url) as transport:
        Engine(transport, compile_directory(ROOT / "migrations")).up()
    cache = ReadThroughCache(connect(redis_process.url()), Namespace("bench"))
    profiles, users = CachedProfiles(repo, cache), CachedUsers(cache)
    results: Timings = {}
    with psycopg.connect(db_url, autocommit=True) as conn:
        user, _ = postgres.create_user_with_post(
            conn, email="ada@example.com", name="Ada", title="t"
        )
        paths: dict[str, tuple[Callable[[], Any], Callable[[], None] | None]] = {
            "dynamodb profile: store": (lambda: repo.get_user_profile("u1"), None),
            "dynamodb profile: hit": (lambda: profiles.get_user_profile("u1"), None),
            "dynamodb profile: miss": (
                lambda: profiles.get_user_profile("u1"),
                lambda: cache.invalidate(PROFILE, "u1"),
            ),
            "postgres user by id: store": (lambda: postgres.get_user(conn, user.id), None),
            "postgres user by id: hit": (lambda: users.get_user(conn, user.id), None),
            "postgres user by id: miss": (
                lambda: users.get_user(conn, user.id),
                lambda: cache.invalidate(USER_BY_ID, str(user.id)),
            ),
        }
        for read, _ in paths.values():
            read()  # warm connections and the hit paths' entries
        for _ in range(args.rounds):
            for name, (read, before) in paths.items():
                for metric, value in _measure(read, args.reads, before).items():
                    results.setdefault(f"{name}|{metric}", []).append(value)
            store_reads, wall = _cold_key(cache, repo, args.cold)
            results.setdefault("cold|store_reads", []).append(store_reads)
            results.setdefault("cold|wall_s", []).append(wall)
    return results


def _report(results: Timings, args: argparse.Namespace) -> None:
    med = {key: statistics.median(values) for key, values in results.items()}
    print(f"{args.rounds} rounds, {args.reads} reads per path per round; medians")
    print(f"{'path':<30} {'p50 ms':>9} {'p99 ms':>9} {'reads/s':>10}")
    for store in ("dynamodb profile", "postgres user by id"):
        for path in ("store", "hit", "miss"):
            name = f"{store}: {path}"
            print(f"{name:<30} {med[name + '|p50_ms']:9.3f} {med[name + '|p99_ms']:9.3f} "
                  f"{med[name + '|reads_per_s']:10.0f}")  # fmt: skip
        ratio = med[f"{store}: store|p50_ms"] / med[f"{store}: hit|p50_ms"]
        throughput = med[f"{store}: hit|reads_per_s"] / med[f"{store}: store|reads_per_s"]
        verdict = "faster" if ratio > 1 else "slower"
        print(f"  {store}: store p50 / hit p50 = {ratio:.1f}x (the cache is {verdict}), "
              f"hit reads/s / store reads/s = {throughput:.1f}x")  # fmt: skip
    reads = results["cold|store_reads"]
    print(
        f"{args.cold} concurrent readers of a cold key: store reads per round {reads} "
        f"(median {med['cold|store_reads']:g}), wall {med['cold|wall_s']:.3f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
