"""The migrate benchmark's few-file table: what developers and CI type all day.

Four workloads, each a whole process per tool, on one database per round:

* ``up`` with 10 pending files (a fresh database);
* a no-op ``up`` (the same database, now up to date);
* ``version`` (golang-migrate's ``version``; dbmate has none);
* ``plan`` against dbmate's ``status`` (what is applied, what is pending).

dbmate is timed twice: as the project installs it (the npm package, whose
``dbmate`` is a Node.js launcher for the Go binary) and as its bare Go binary.
Medians and ratios, never asserted: the goal is the CLI no slower than dbmate.
Run through ``bench/migrate_bench.py`` (``--few-rounds``).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FEW_FILES = 10

Command = Callable[[str], list[str]]
"""A tool's command line for a database URL."""


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    commands: dict[str, Command]
    """Workload name -> command; a workload a tool cannot do is absent."""
    cwd: Path


WORKLOADS = ("up 10 files", "no-op up", "version", "plan / status")


def run_few_files(
    contenders: list[Contender],
    *,
    create_database: Callable[[str], str],
    drop_database: Callable[[str], None],
    run: Callable[[list[str], Path], float],
    rounds: int,
    check: Callable[[str, str], None],
) -> dict[str, dict[str, float]]:
    """Medians (seconds) per workload and contender; the order rotates every round.

    ``check(url, key)`` verifies the database after a contender's ``up``."""
    samples: dict[str, dict[str, list[float]]] = {w: {} for w in WORKLOADS}
    for number in range(rounds + 1):  # the first round warms caches and is not counted
        shift = number % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            name = f"fewbench_{number}_{contender.key}"
            url = create_database(name)
            try:
                for workload in WORKLOADS:
                    command = contender.commands.get(workload)
                    if command is None:
                        continue
                    seconds = run(command(url), contender.cwd)
                    if workload == WORKLOADS[0]:
                        check(url, contender.key)  # the files are really applied
                    if number:
                        samples[workload].setdefault(contender.key, []).append(seconds)
            finally:
                drop_database(name)
        if number:
            print(f"  few files: round {number}/{rounds} done", file=sys.stderr, flush=True)
    return {
        workload: {key: statistics.median(values) for key, values in by_tool.items()}
        for workload, by_tool in samples.items()
    }


def report_few_files(contenders: list[Contender], medians: dict[str, dict[str, float]]) -> bool:
    """Print the table; True when the CLI is no slower than dbmate (npm) everywhere."""
    print(f"\nFew files ({FEW_FILES} migrations; medians; ratio = CLI / that tool):")
    keys = [c.key for c in contenders]
    header = "  " + f"{'workload':<16}" + "".join(f"{k:>14}" for k in keys)
    print(header)
    met = True
    for workload in WORKLOADS:
        row = medians[workload]
        cells = "".join(f"{row[k] * 1000:>11.0f} ms" if k in row else f"{'-':>14}" for k in keys)
        print(f"  {workload:<16}{cells}")
        cli = row.get("cli")
        if cli is None:
            continue
        ratios = [f"{k} {cli / row[k]:.2f}x" for k in keys if k != "cli" and k in row]
        print(f"  {'':<16}  CLI: {', '.join(ratios)}")
        if "dbmate" in row and cli > row["dbmate"]:
            met = False
    for contender in contenders:
        print(f"  {contender.key}: {contender.label}")
    return met
