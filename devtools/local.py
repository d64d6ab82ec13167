"""``make local``: the data layer on a developer's machine, from the stack's own definitions.

    python -m devtools.local up      # start (or keep) all, migrate, print settings, write .env
    python -m devtools.local status  # what runs where (exit 0 when PostgreSQL and DynamoDB run)
    python -m devtools.local down    # stop all; no process is left behind
    python -m devtools.local reset   # down, then delete the local data directory

* PostgreSQL: a cluster in ``.local/postgres`` (kept between runs) on 127.0.0.1,
  database ``app`` (the stack's ``aurora.database_name``), brought to the newest
  migration by the same engine as deploys (dbmigrate over psycopg), then its
  application roles (the environment's ``access.roles``) reconciled by the same
  reconciler as deploys. There is no ``rds_iam`` outside RDS: the roles log in
  with trust authentication, which this cluster gives every user on 127.0.0.1.
* DynamoDB: moto's server mode, detached, with the AppData table created from the
  synthesized template's ``AWS::DynamoDB::GlobalTable`` (key schema, GSIs, TTL).
  The template is synthesized first when it is missing or older than its sources.
  moto keeps items in memory: they survive ``up`` again, not ``down``.
* Documents: FerretDB on SQLite in ``.local/documents`` (`devtools.document_store`),
  the database of ``aurora.database_name``, its indexes applied
  (``documents.collections``); ``MONGODB_URL`` in ``.env``. Without Go (to build
  FerretDB) it is left out, with one line saying why.
* Cache: Debian's redis-server on 127.0.0.1, its log in ``.local/cache``, no
  persistence (`devtools.cache_store`); ``CACHE_URL`` and ``APPDATA_ENV`` in
  ``.env``. Without redis-server it is left out, with one line saying why.

Every step is idempotent. Settings (environment variables): ``LOCAL_DIR``
(.local), ``LOCAL_PG_PORT`` (54329), ``LOCAL_DYNAMODB_PORT`` (48000),
``LOCAL_STACK_ENV`` (dev), ``LOCAL_ENV_FILE`` (.env), ``LOCAL_TEMPLATE`` (a template
to use as is, no synth), ``LOCAL_PG_BINDIR`` (PostgreSQL's bin directory),
``LOCAL_CDK`` (the cdk CLI), ``LOCAL_MONGODB_PORT`` (47017), ``LOCAL_CACHE_PORT``
(46379). Failures print one
``error:`` line and exit 1.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import ConfigError, load_access
from dbaccess.errors import AccessError
from dbaccess.roles import AccessLevel, RoleSet
from devtools.cache_store import LocalCacheError, RedisProcess, installed_redis_server
from devtools.document_store import FerretProcess, LocalDocumentError, apply_indexes
from devtools.dynamodb_local import (
    DUMMY_ACCESS_KEY,
    DUMMY_SECRET_KEY,
    LocalDynamoError,
    MotoProcess,
    TableDefinition,
    dynamodb_client,
    ensure_table,
    load_template,
    table_from_template,
)
from devtools.gotools import FERRETDB, GoToolUnavailableError, ensure
from devtools.postgres import PersistentCluster, PostgresUnavailableError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_PORT = 54329
DEFAULT_DYNAMODB_PORT = 48000
DEFAULT_MONGODB_PORT = 47017
DEFAULT_CACHE_PORT = 46379
LOCAL_CACHE_ENVIRONMENT = "local"
"""The cache namespace's environment locally (``APPDATA_ENV``): never a deployed one's."""
TABLE_NAME_VARIABLE = "APPDATA_TABLE_NAME"  # appdata.dynamo.AppDataRepository.from_env reads it
# What the template is synthesized from: newer than the template means synthesize again.
TEMPLATE_SOURCES = ("cdk.json", "app.py", "config", "data_constructs", "stacks", "appdata/keys.py")
EXIT_OK, EXIT_ERROR, EXIT_STOPPED = 0, 1, 3
OWNER = "postgres"
"""The local cluster's superuser, which owns the database and runs the migrations."""


class LocalError(RuntimeError):
    """A one-line reason, printed as ``error: ...``."""


@dataclass(frozen=True)
class Settings:
    root: Path
    local_dir: Path
    pg_port: int
    dynamodb_port: int
    stack_env: str
    env_file: Path
    template: Path | None
    pg_bindir: Path | None
    cdk: Path
    mongodb_port: int = DEFAULT_MONGODB_PORT
    cache_port: int = DEFAULT_CACHE_PORT

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        root = ROOT

        def path(name: str, default: Path | None) -> Path | None:
            value = env.get(name)
            return Path(value).absolute() if value else default

        def port(name: str, default: int) -> int:
            value = env.get(name, str(default))
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise LocalError(f"{name}={value!r} is not a TCP port (1-65535)")
            return int(value)

        local_dir = path("LOCAL_DIR", root / ".local")
        env_file = path("LOCAL_ENV_FILE", root / ".env")
        cdk = path("LOCAL_CDK", root / "node_modules" / ".bin" / "cdk")
        assert local_dir and env_file and cdk
        return cls(
            root=root,
            local_dir=local_dir,
            pg_port=port("LOCAL_PG_PORT", DEFAULT_PG_PORT),
            dynamodb_port=port("LOCAL_DYNAMODB_PORT", DEFAULT_DYNAMODB_PORT),
            stack_env=env.get("LOCAL_STACK_ENV", "dev"),
            env_file=env_file,
            template=path("LOCAL_TEMPLATE", None),
            pg_bindir=path("LOCAL_PG_BINDIR", None),
            cdk=cdk,
            mongodb_port=port("LOCAL_MONGODB_PORT", DEFAULT_MONGODB_PORT),
            cache_port=port("LOCAL_CACHE_PORT", DEFAULT_CACHE_PORT),
        )

    @property
    def cluster(self) -> PersistentCluster:
        return PersistentCluster(self.local_dir / "postgres", self.pg_port, self.pg_bindir)

    @property
    def moto(self) -> MotoProcess:
        return MotoProcess(self.local_dir / "dynamodb", self.dynamodb_port)

    @property
    def ferretdb(self) -> FerretProcess:
        return FerretProcess(self.local_dir / "documents", self.mongodb_port)

    @property
    def redis(self) -> RedisProcess:
        return RedisProcess(self.local_dir / "cache", self.cache_port)

    @property
    def template_path(self) -> Path:
        return (
            self.template or self.root / "cdk.out" / f"DatabaseStack-{self.stack_env}.template.json"
        )

    def stack_context(self) -> dict[str, Any]:
        """This environment's entry in cdk.json (region, aurora.database_name)."""
        try:
            environments = json.loads((self.root / "cdk.json").read_text())["context"][
                "environments"
            ]
        except (OSError, KeyError, json.JSONDecodeError) as error:
            raise LocalError(f"cannot read context.environments from cdk.json: {error}") from error
        if self.stack_env not in environments:
            raise LocalError(
                f"LOCAL_STACK_ENV={self.stack_env!r} is not an environment in cdk.json"
                f" ({', '.join(sorted(environments))})"
            )
        entry: dict[str, Any] = environments[self.stack_env]
        return entry


# -- template ---------------------------------------------------------------------------


def _newest_source(root: Path) -> tuple[float, Path | None]:
    newest: tuple[float, Path | None] = (0.0, None)
    for name in TEMPLATE_SOURCES:
        source = root / name
        files = source.rglob("*.py") if source.is_dir() else [source]
        for f in files:
            if "__pycache__" not in f.parts and f.is_file() and f.stat().st_mtime > newest[0]:
                newest = (f.stat().st_mtime, f)
    return newest


def ensure_template(settings: Settings, say: Callable[[str], None]) -> Path:
    """The synthesized template, synthesized first if missing or older than its sources."""
    path = settings.template_path
    if settings.template is not None:
        if not path.is_file():
            raise LocalError(f"LOCAL_TEMPLATE={path} does not exist")
        return path
    newest, newer_file = _newest_source(settings.root)
    if path.is_file() and path.stat().st_mtime >= newest:
        return path
    reason = "missing" if not path.is_file() else f"older than {newer_file}"
    if not settings.cdk.is_file():
        raise LocalError(
            f"{path} is {reason} and the cdk CLI is not installed ({settings.cdk});"
            " run `make synth`"
        )
    say(f"synthesizing {path.name} ({reason}): cdk synth -q -c env={settings.stack_env} ...")
    env = dict(os.environ)
    env["PATH"] = f"{settings.cdk.parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    result = subprocess.run(
        [str(settings.cdk), "synth", "-q", "-c", f"env={settings.stack_env}"],
        cwd=settings.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()] or lines or ["no output"]
        raise LocalError(f"cdk synth failed (exit {result.returncode}): {errors[-1][:500]}")
    if not path.is_file():
        raise LocalError(f"cdk synth succeeded but wrote no {path}")
    path.touch()  # cdk may keep an unchanged file's old mtime
    return path


def table_definition(
    settings: Settings, say: Callable[[str], None]
) -> tuple[TableDefinition, Path]:
    from appdata.keys import missing_from  # noqa: PLC0415 - keeps `down`/`status` light

    path = ensure_template(settings, say)
    definition = table_from_template(load_template(path))
    missing = missing_from(definition.create_table_request())
    if missing:
        raise LocalError(
            f"{path.name}: the table no longer serves the access patterns: {'; '.join(missing)}"
        )
    return definition, path


# -- commands ---------------------------------------------------------------------------


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """One ``devtools.local`` command at a time per local directory."""
    settings.local_dir.mkdir(parents=True, exist_ok=True)
    with (settings.local_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def application_user(roles: RoleSet) -> str:
    """``DATABASE_URL``'s user: the first read-write role, else the first role, else the owner."""
    read_write = [role.name for role in roles if role.access is AccessLevel.READ_WRITE]
    return next(iter(read_write or list(roles.names)), OWNER)


def connection_settings(
    settings: Settings, *, database: str, table_name: str, region: str, user: str = OWNER
) -> dict[str, str]:
    address = f"127.0.0.1:{settings.pg_port}/{database}"
    return {
        "DATABASE_URL": f"postgresql://{user}@{address}",
        "MIGRATIONS_DATABASE_URL": f"postgresql://{OWNER}@{address}",
        "AWS_ENDPOINT_URL_DYNAMODB": settings.moto.url,
        TABLE_NAME_VARIABLE: table_name,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def write_env_file(path: Path, values: dict[str, str]) -> None:
    lines = [
        "# The local data layer (make local / python -m devtools.local up); rewritten on every up.",
        *(f"{k}={v}" for k, v in values.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def cmd_up(settings: Settings, say: Callable[[str], None]) -> int:
    context = settings.stack_context()
    region = str(context.get("region") or "us-east-1")
    database = str((context.get("aurora") or {}).get("database_name") or "app")
    with _locked(settings):
        definition, template = table_definition(settings, say)

        moto = settings.moto
        pending = moto.launch()  # moto imports (~0.7 s) while PostgreSQL starts
        try:
            cluster = settings.cluster
            started = cluster.start()
            what = (
                "created and started"
                if started.initialized
                else ("started" if started.started else "already running")
            )
            data, log = _rel(cluster.data, settings.root), _rel(cluster.logfile, settings.root)
            say(
                f"PostgreSQL: {what} on 127.0.0.1:{settings.pg_port}"
                f" (pid {started.pid}, data {data}, log {log})"
            )
            created_db = started.server.ensure_database(database)
            url = started.server.url_for(database)
            say(
                f"  database {database}: {'created' if created_db else 'exists'}; "
                + _migrate(url, settings.root / "migrations")
            )
            roles = load_access(settings.root / "cdk.json", settings.stack_env).roles
            say(f"  roles: {_reconcile(url, roles)}")
            pid, moto_started = pending.wait()
        finally:
            pending.abort()  # a no-op once it has been handed over
        say(
            f"DynamoDB (moto): {'started' if moto_started else 'already running'} on {moto.url}"
            f" (pid {pid}, log {_rel(moto.logfile, settings.root)})"
        )
        client = dynamodb_client(moto.url, region)
        created = ensure_table(definition, client)
        say(
            f"  table {definition.table_name}: {'created' if created else 'exists, schema matches'}"
            f" from {_rel(template, settings.root)} ({definition.summary()})"
        )

        values = connection_settings(
            settings,
            database=database,
            table_name=definition.table_name,
            region=region,
            user=application_user(roles),
        )
        mongodb_url = _document_store(settings, database, say)
        if mongodb_url is not None:
            values["MONGODB_URL"] = mongodb_url
        cache_url = _cache(settings, say)
        if cache_url is not None:
            values["CACHE_URL"] = cache_url
            values["APPDATA_ENV"] = LOCAL_CACHE_ENVIRONMENT
        write_env_file(settings.env_file, values)
    say("")
    say(f"Connection settings (written to {_rel(settings.env_file, settings.root)}):")
    for k, v in values.items():
        say(f"  {k}={v}")
    return EXIT_OK


def _document_store(settings: Settings, database: str, say: Callable[[str], None]) -> str | None:
    """FerretDB with the declared indexes; without Go, left out with one line (None)."""
    try:
        ensure(FERRETDB)  # built once (a few minutes the first time)
    except GoToolUnavailableError as error:
        say(f"Documents (FerretDB): left out, no MONGODB_URL: {error}")
        return None
    ferretdb = settings.ferretdb
    pid, started = ferretdb.start()
    say(
        f"Documents (FerretDB): {'started' if started else 'already running'} on"
        f" {ferretdb.host}:{ferretdb.port} (pid {pid}, SQLite data"
        f" {_rel(ferretdb.data, settings.root)}, log {_rel(ferretdb.logfile, settings.root)})"
    )
    url = ferretdb.url(database)
    say(f"  database {database}: {apply_indexes(url)}")
    return url


def _cache(settings: Settings, say: Callable[[str], None]) -> str | None:
    """Redis; without redis-server, left out with one line (None)."""
    if installed_redis_server() is None:
        say(
            "Cache (Redis): left out, no CACHE_URL: redis-server is not installed "
            "(Debian package redis-server; make install adds it when run as root)"
        )
        return None
    redis = settings.redis
    pid, started = redis.start()
    say(
        f"Cache (Redis): {'started' if started else 'already running'} on"
        f" {redis.host}:{redis.port} (pid {pid}, data {_rel(redis.directory, settings.root)},"
        f" log {_rel(redis.logfile, settings.root)})"
    )
    return redis.url()


def _migrate(url: str, directory: Path) -> str:
    from dbmigrate.compile import compile_directory  # noqa: PLC0415 - pglast: only `up` needs it
    from dbmigrate.engine import Engine  # noqa: PLC0415
    from dbmigrate.transports.psycopg_transport import PsycopgTransport  # noqa: PLC0415

    bundle = compile_directory(directory)
    with PsycopgTransport.connect(url, application_name="devtools.local") as transport:
        result = Engine(transport, bundle).up()
    if result.applied_versions:
        applied = ", ".join(str(v) for v in result.applied_versions)
        return f"migrations applied: {applied} (now at version {result.end_version})"
    return f"migrations: up to date (version {result.end_version})"


def _reconcile(url: str, roles: RoleSet) -> str:
    from dbaccess import reconcile  # noqa: PLC0415
    from dbmigrate.transports.psycopg_transport import PsycopgTransport  # noqa: PLC0415

    with PsycopgTransport.connect(url, application_name="devtools.local") as transport:
        applied = reconcile.apply(transport, roles)
    return f"{applied.summary()} (trust authentication on 127.0.0.1, no IAM outside RDS)"


def cmd_down(settings: Settings, say: Callable[[str], None]) -> int:
    if not settings.local_dir.exists():
        say(f"nothing to stop: {settings.local_dir} does not exist")
        return EXIT_OK
    with _locked(settings):
        cache_stopped = settings.redis.stop()
        say(f"Cache (Redis): {'stopped' if cache_stopped else 'was not running'}")
        ferretdb_stopped = settings.ferretdb.stop()
        say(f"Documents (FerretDB): {'stopped' if ferretdb_stopped else 'was not running'}")
        moto_stopped = settings.moto.stop()
        say(f"DynamoDB (moto): {'stopped' if moto_stopped else 'was not running'}")
        pg_stopped = settings.cluster.stop()
        say(f"PostgreSQL: {'stopped' if pg_stopped else 'was not running'}")
    return EXIT_OK


def cmd_reset(settings: Settings, say: Callable[[str], None]) -> int:
    cmd_down(settings, say)
    if settings.local_dir.exists():
        shutil.rmtree(settings.local_dir)
        say(f"wiped {_rel(settings.local_dir, settings.root)}")
    return EXIT_OK


def cmd_status(settings: Settings, say: Callable[[str], None]) -> int:
    pg = settings.cluster.status()
    moto = settings.moto.status()
    if pg.running:
        data = _rel(settings.cluster.data, settings.root)
        say(f"PostgreSQL: running on 127.0.0.1:{pg.port} (pid {pg.pid}, data {data})")
    else:
        say(f"PostgreSQL: stopped ({'initialized' if pg.initialized else 'no data directory'})")
    if moto.running:
        say(f"DynamoDB (moto): running on 127.0.0.1:{moto.port} (pid {moto.pid})")
    else:
        say("DynamoDB (moto): stopped")
    documents = settings.ferretdb.status()
    if documents.running:
        say(f"Documents (FerretDB): running on 127.0.0.1:{documents.port} (pid {documents.pid})")
    else:
        say("Documents (FerretDB): stopped")
    cache = settings.redis.status()
    if cache.running:
        say(f"Cache (Redis): running on 127.0.0.1:{cache.port} (pid {cache.pid})")
    else:
        say("Cache (Redis): stopped")
    if settings.env_file.is_file():
        say(f"settings: {settings.env_file}")
    return EXIT_OK if pg.running and moto.running else EXIT_STOPPED


COMMANDS: dict[str, Callable[[Settings, Callable[[str], None]], int]] = {
    "up": cmd_up,
    "down": cmd_down,
    "reset": cmd_reset,
    "status": cmd_status,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.local",
        description="The local data layer: PostgreSQL + a DynamoDB endpoint, from the stack.",
    )
    parser.add_argument("command", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        return COMMANDS[args.command](Settings.from_env(), say)
    except (
        LocalError,
        LocalDynamoError,
        LocalDocumentError,
        LocalCacheError,
        PostgresUnavailableError,
        AccessError,
    ) as error:
        message = str(error)
    except ConfigError as error:
        message = f"invalid configuration: {error}"
    except Exception as error:  # one line for any library failure
        message = _library_error(error)
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def _library_error(error: Exception) -> str:
    """A one-line message for failures from dbmigrate, psycopg or botocore; else re-raise."""
    from dbmigrate.errors import MigrationError  # noqa: PLC0415

    if isinstance(error, MigrationError):
        return f"migrations: {error}"
    module = type(error).__module__.split(".")[0]
    if module in ("psycopg", "botocore", "boto3", "pymongo"):
        return f"{type(error).__name__}: {error}"
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename or ''}"
    raise error


if __name__ == "__main__":
    sys.exit(main())
