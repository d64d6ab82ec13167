#!/usr/bin/env python3
"""``python -m ops status`` against the emulators: its AWS calls one after the other vs concurrent.

The environment is the status tests' own (tests/ops/_status_env.py): the moto
server process, the Data API emulator on a throwaway PostgreSQL, the AWS Backup
emulator. Each round runs ``python -m ops status --env dev --json`` as a process,
with ``--max-workers 1`` (sequential) and ``--max-workers 8`` (the default),
alternating; it reports the command's wall time and the checks' own time (the
document's ``seconds``: discovery, then the checks), as medians, and the ratio.

Loopback emulators answer in about a millisecond, where AWS takes tens of
milliseconds a call, so this is a lower bound of what concurrency saves;
``--latency-ms`` adds that delay to every emulated AWS call (the Backup and
Data API emulators and moto, through a local delaying proxy) for a closer picture.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.postgres import throwaway_server  # noqa: E402
from tests.fixtures.backup_api import BackupApi, start_backup_api  # noqa: E402
from tests.fixtures.data_api import DataApiEndpoint, EmulatorProcess  # noqa: E402
from tests.fixtures.moto_server import MotoServer, start_moto  # noqa: E402
from tests.ops._status_env import Environment, deploy_environment  # noqa: E402
from tests.support.delay_proxy import DelayProxy  # noqa: E402
from tests.support.processes import ServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="status-bench-"))
    servers: list[ServerProcess] = []
    proxies: list[DelayProxy] = []
    try:
        with throwaway_server() as server:
            db_url = server.create_database("bench")
            servers += [start_moto(work), start_backup_api(work)]
            moto, backup = MotoServer(servers[0].url), BackupApi(servers[1].url)
            data_api = EmulatorProcess(server.admin_url, work / "data-api.log", None)
            try:
                endpoint = DataApiEndpoint(data_api.url, "bench")
                environment = deploy_environment(moto, endpoint, backup, db_url)
                urls = {"moto": moto.url, "data_api": data_api.url, "backup": backup.url}
                if args.latency_ms:
                    for name, url in list(urls.items()):
                        proxy = DelayProxy(url, args.latency_ms / 1000)
                        proxies.append(proxy)
                        urls[name] = proxy.url
                report(environment, urls, args.rounds, args.latency_ms)
            finally:
                data_api.stop()
    finally:
        for proxy in proxies:
            proxy.stop()
        for process in servers:
            process.stop()
    return 0


def report(environment: Environment, urls: dict[str, str], rounds: int, latency_ms: float) -> None:
    env = {
        "AWS_ENDPOINT_URL": urls["moto"],
        "AWS_ENDPOINT_URL_RDS_DATA": urls["data_api"],
        "AWS_ENDPOINT_URL_BACKUP": urls["backup"],
    }
    wall: dict[int, list[float]] = {1: [], 8: []}
    inner: dict[int, list[float]] = {1: [], 8: []}
    for _ in range(rounds + 1):  # the first round warms caches and is dropped
        for workers in (1, 8):
            started = time.monotonic()
            result = environment.run("--json", "--max-workers", str(workers), **env)
            elapsed = time.monotonic() - started
            if result.returncode != 0:
                raise RuntimeError(f"status failed ({result.returncode}): {result.stderr}")
            wall[workers].append(elapsed)
            inner[workers].append(float(json.loads(result.stdout)["seconds"]))
    print(f"ops status against the emulators, {rounds} rounds (+1 warm-up dropped), "
          f"added latency {latency_ms:g} ms per AWS call")  # fmt: skip
    for workers in (1, 8):
        label = "sequential (--max-workers 1)" if workers == 1 else "concurrent (--max-workers 8)"
        print(f"  {label:<30} wall {statistics.median(wall[workers][1:]):.3f} s, "
              f"checks {statistics.median(inner[workers][1:]):.3f} s (medians)")  # fmt: skip
    ratio_wall = statistics.median(wall[8][1:]) / statistics.median(wall[1][1:])
    ratio_inner = statistics.median(inner[8][1:]) / statistics.median(inner[1][1:])
    print(f"  concurrent / sequential: wall {ratio_wall:.2f}x, checks {ratio_inner:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
