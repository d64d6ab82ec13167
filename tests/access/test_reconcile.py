"""The reconciler on a real PostgreSQL, over psycopg: what each role can and cannot do.

Every check logs in as the role itself and tries the statement: a privilege
is proven by PostgreSQL accepting or refusing it, not by reading the ACLs.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import psycopg
import pytest

from appdata import postgres as patterns
from dbaccess import reconcile
from dbaccess.errors import (
    AccessError,
    AccessStatementError,
    IamUnavailableError,
    RoleConflictError,
)
from dbaccess.roles import DEFAULT_ROLES, AccessLevel, RoleSet, RoleSpec
from dbmigrate.transports.psycopg_transport import PsycopgTransport
from devtools.postgres import Server
from tests.access._helpers import (
    INSUFFICIENT_PRIVILEGE,
    apply,
    catalog_snapshot,
    connect_as,
    migrate,
    plan,
    refused,
)
from tests.fixtures.postgres import new_database
from tests.migrations._helpers import copy_standard, engine, query, write

ONLY_RW = RoleSet((RoleSpec("app_rw", AccessLevel.READ_WRITE),))

SCHEMA_CHANGES = [
    "CREATE TABLE intruder (id int)",
    "CREATE INDEX idx_intruder ON users (name)",
    "ALTER TABLE users ADD COLUMN intruder text",
    "DROP TABLE post_tags",
    "TRUNCATE post_tags",
    "CREATE SCHEMA intruder",
    "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE TRIGGER intruder BEFORE UPDATE ON users FOR EACH ROW "
    "EXECUTE FUNCTION update_updated_at_column()",
    "ALTER TABLE posts ADD CONSTRAINT intruder FOREIGN KEY (user_id) REFERENCES users (id)",
]
ENGINE_WRITES = [
    "INSERT INTO schema_migrations (version, dirty) VALUES (99, false)",
    "UPDATE schema_migrations SET dirty = true",
    "DELETE FROM schema_migrations",
    "TRUNCATE schema_migrations",
    "DELETE FROM schema_migrations_history",
    "UPDATE schema_migrations_history SET name = 'x'",
    "INSERT INTO schema_migrations_history (version, name, direction, duration_ms, applied_by) "
    "VALUES (9, 'x', 'up', 0, 'me')",
]
WRITES = [
    "INSERT INTO tags (name) VALUES ('intruder')",
    "UPDATE users SET name = 'x'",
    "DELETE FROM posts",
    "INSERT INTO schema_migrations (version, dirty) VALUES (99, false)",
    *SCHEMA_CHANGES,
]


@pytest.fixture
def db(fresh_db_url: str, app_roles: RoleSet) -> str:
    """The test's database, migrated, with app_rw and app_ro reconciled."""
    migrate(fresh_db_url)
    applied = apply(fresh_db_url, app_roles)
    assert [(r.name, r.status) for r in applied.roles] == [
        ("app_rw", "create"),
        ("app_ro", "create"),
    ]
    return fresh_db_url


def test_app_rw_runs_every_standards_pattern(db: str) -> None:
    with connect_as(db, "app_rw") as conn:
        users = [
            patterns.create_user_with_post(conn, email=f"u{n}@example.com", name=f"U{n}", title="t")
            for n in range(3)
        ]
        page = patterns.list_users(conn, limit=2)
        assert (page.total, len(page.users), page.has_more) == (3, 2, True)
        user, post = users[0]
        found = patterns.get_post_with_author(conn, post.id)
        assert found is not None and found.author.email == user.email
        assert patterns.soft_delete_user(conn, user.id) is True
        assert patterns.find_user_by_email(conn, user.email) is None
        assert patterns.list_users(conn).total == 2
        version = conn.execute("SELECT version FROM schema_migrations").fetchone()
        assert version == (4,)  # a service may check the schema version at start-up


@pytest.mark.parametrize("statement", SCHEMA_CHANGES)
def test_app_rw_cannot_change_the_schema(db: str, statement: str) -> None:
    assert refused(db, "app_rw", statement) == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("statement", ENGINE_WRITES)
def test_app_rw_cannot_write_the_engine_tables(db: str, statement: str) -> None:
    assert refused(db, "app_rw", statement) == INSUFFICIENT_PRIVILEGE


def test_app_ro_reads_everything(db: str) -> None:
    query(db, "INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann')")
    with connect_as(db, "app_ro") as conn:
        for table in ("users", "posts", "tags", "post_tags", "schema_migrations_history"):
            conn.execute(f"SELECT * FROM {table}").fetchall()
        assert patterns.list_users(conn).total == 1


@pytest.mark.parametrize("statement", WRITES)
def test_app_ro_writes_nothing(db: str, statement: str) -> None:
    assert refused(db, "app_ro", statement) == INSUFFICIENT_PRIVILEGE


def test_objects_of_a_later_migration_are_usable_at_once(db: str, tmp_path: Path) -> None:
    """Default privileges: no reconciliation between the migration and the first use."""
    directory = copy_standard(tmp_path)
    write(
        directory,
        "000005_orders.up.sql",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, total int NOT NULL);\n"
        "CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS "
        "'SELECT count(*) FROM orders';\n",
    )
    migrate(db, directory)
    with connect_as(db, "app_rw") as conn:
        conn.execute("INSERT INTO orders (total) VALUES (10)")  # nextval: USAGE on the sequence
        conn.execute("UPDATE orders SET total = 11")
        assert conn.execute("SELECT order_count()").fetchone() == (1,)
        conn.execute("DELETE FROM orders")
    assert refused(db, "app_rw", "TRUNCATE orders") == INSUFFICIENT_PRIVILEGE
    assert refused(db, "app_ro", "SELECT * FROM orders") is None
    assert refused(db, "app_ro", "INSERT INTO orders (total) VALUES (1)") == INSUFFICIENT_PRIVILEGE
    assert not plan(db, DEFAULT_ROLES).changed


def test_a_second_reconciliation_changes_nothing(db: str, app_roles: RoleSet) -> None:
    before = catalog_snapshot(db, app_roles.names)
    again = apply(db, app_roles)
    assert [(r.name, r.status, r.changes) for r in again.roles] == [
        ("app_rw", "unchanged", ()),
        ("app_ro", "unchanged", ()),
    ]
    assert catalog_snapshot(db, app_roles.names) == before


def test_a_removed_role_is_disabled_not_dropped(db: str, app_roles: RoleSet) -> None:
    removed = apply(db, ONLY_RW)
    assert [(r.name, r.status) for r in removed.roles] == [
        ("app_rw", "unchanged"),
        ("app_ro", "disable"),
    ]
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        connect_as(db, "app_ro").__enter__()
    ((name, login, comment, groups, acl, defaults, connect),) = catalog_snapshot(db, ("app_ro",))
    assert (name, login, groups, acl, defaults, connect) == (
        "app_ro",
        False,
        None,
        None,
        None,
        True,
    )
    assert comment is not None  # still marked: re-adding it takes it back
    assert [r.status for r in apply(db, ONLY_RW).roles] == ["unchanged", "disabled"]
    assert [r.status for r in apply(db, app_roles).roles] == ["unchanged", "update"]
    assert refused(db, "app_ro", "SELECT * FROM users") is None


def test_an_unmarked_role_is_refused_and_nothing_is_applied(
    fresh_db_url: str, app_roles: RoleSet
) -> None:
    migrate(fresh_db_url)
    query(fresh_db_url, "CREATE ROLE app_ro LOGIN")
    before = catalog_snapshot(fresh_db_url, app_roles.names)
    with pytest.raises(RoleConflictError) as refusal:
        apply(fresh_db_url, app_roles)
    message = str(refusal.value)
    assert message.startswith("role app_ro already exists and was not created by the reconciler")
    assert message.endswith("nothing was applied")
    assert "COMMENT ON ROLE app_ro IS 'managed by dbaccess for database" in message
    assert catalog_snapshot(fresh_db_url, app_roles.names) == before  # no app_rw either


def test_a_role_managed_for_another_database_is_refused(
    db: str, app_roles: RoleSet, postgres_server: Server
) -> None:
    with new_database(postgres_server) as other:
        migrate(other)
        with pytest.raises(RoleConflictError, match=r"managed for database t_[0-9a-f]+, not this"):
            apply(other, app_roles)


def test_a_managed_role_that_owns_an_object_is_refused(db: str, app_roles: RoleSet) -> None:
    query(db, "ALTER TABLE tags OWNER TO app_rw")
    with pytest.raises(RoleConflictError, match=r"role app_rw owns table tags: .* OWNER TO"):
        apply(db, app_roles)
    query(db, "ALTER TABLE tags OWNER TO CURRENT_USER")  # its grants went with the ownership
    assert [r.status for r in apply(db, app_roles).roles] == ["update", "unchanged"]
    assert refused(db, "app_rw", "INSERT INTO tags (name) VALUES ('back')") is None


def test_drift_is_taken_back(db: str, app_roles: RoleSet) -> None:
    """Privileges, attributes and memberships granted by hand beyond the level are revoked."""
    before = catalog_snapshot(db, app_roles.names)
    for statement in (
        "GRANT TRUNCATE, TRIGGER ON post_tags TO app_rw",
        "GRANT INSERT ON users TO app_ro",
        "GRANT CREATE ON SCHEMA public TO app_rw",
        "ALTER ROLE app_rw CREATEDB",
        "GRANT postgres TO app_ro",
        "REVOKE DELETE ON posts FROM app_rw",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT TRUNCATE ON TABLES TO app_rw",
    ):
        query(db, statement)
    assert refused(db, "app_rw", "TRUNCATE post_tags") is None
    repaired = apply(db, app_roles)
    assert [r.status for r in repaired.roles] == ["update", "update"]
    assert catalog_snapshot(db, app_roles.names) == before
    assert refused(db, "app_rw", "TRUNCATE post_tags") == INSUFFICIENT_PRIVILEGE
    assert refused(db, "app_ro", "SET ROLE postgres") == INSUFFICIENT_PRIVILEGE


def test_without_rds_iam_roles_are_made_without_it(fresh_db_url: str, app_roles: RoleSet) -> None:
    """Outside RDS (make local): no rds_iam to join; the plan says so, require_iam refuses."""
    migrate(fresh_db_url)
    with pytest.raises(IamUnavailableError, match="role rds_iam does not exist on this server"):
        apply(fresh_db_url, app_roles, require_iam=True)
    assert catalog_snapshot(fresh_db_url, app_roles.names) == []
    applied = apply(fresh_db_url, app_roles)
    assert applied.iam is False
    assert not any("rds_iam" in change.sql for change in applied.roles[0].changes)


def test_with_rds_iam_every_role_joins_it(
    fresh_db_url: str, app_roles: RoleSet, rds_iam: str
) -> None:
    migrate(fresh_db_url)
    applied = apply(fresh_db_url, app_roles, require_iam=True)
    assert applied.iam is True
    rows = catalog_snapshot(fresh_db_url, app_roles.names)
    assert [(row[0], row[3]) for row in rows] == [("app_ro", [rds_iam]), ("app_rw", [rds_iam])]
    apply(fresh_db_url, ONLY_RW, require_iam=True)
    assert [row[3] for row in catalog_snapshot(fresh_db_url, ("app_ro",))] == [None]


def test_a_failing_statement_rolls_everything_back(fresh_db_url: str, app_roles: RoleSet) -> None:
    """An event trigger refuses GRANT on a schema: the role created before it must go too."""
    migrate(fresh_db_url)
    query(
        fresh_db_url,
        "CREATE FUNCTION refuse_grants() RETURNS event_trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'grants are frozen'; END $$",
    )
    query(
        fresh_db_url,
        "CREATE EVENT TRIGGER freeze_grants ON ddl_command_start WHEN TAG IN ('GRANT') "
        "EXECUTE FUNCTION refuse_grants()",
    )
    with pytest.raises(AccessStatementError) as failure:
        apply(fresh_db_url, app_roles)
    assert str(failure.value).startswith("role app_rw: grant USAGE on schema public failed")
    assert "grants are frozen" in str(failure.value)
    assert catalog_snapshot(fresh_db_url, app_roles.names) == []


def test_verification_refuses_a_catalog_that_did_not_converge(
    fresh_db_url: str, app_roles: RoleSet
) -> None:
    migrate(fresh_db_url)
    pending = r"did not reach the configuration .* app_rw: create"
    with (
        PsycopgTransport.connect(fresh_db_url) as transport,
        transport.transaction() as tx,
        pytest.raises(AccessError, match=pending),
    ):
        reconcile._verify(tx, app_roles, False)


def test_concurrent_reconcilers_take_turns(fresh_db_url: str, app_roles: RoleSet) -> None:
    """Without the lock both would CREATE ROLE and one would fail on the duplicate."""
    migrate(fresh_db_url)
    barrier = threading.Barrier(3)
    statuses: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with PsycopgTransport.connect(fresh_db_url) as transport:
                barrier.wait(timeout=10)
                statuses.append([r.status for r in reconcile.apply(transport, app_roles).roles])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(statuses) == [["create", "create"], *[["unchanged", "unchanged"]] * 2]


def test_plan_reads_only(fresh_db_url: str, app_roles: RoleSet) -> None:
    migrate(fresh_db_url)
    planned = plan(fresh_db_url, app_roles)
    assert planned.changed and planned.statements[0].startswith('CREATE ROLE "app_rw"')
    assert catalog_snapshot(fresh_db_url, app_roles.names) == []


def test_an_application_role_named_like_the_migrating_user_is_refused(
    fresh_db_url: str,
) -> None:
    user = str(query(fresh_db_url, "SELECT current_user")[0][0])
    roles = RoleSet((RoleSpec(user, AccessLevel.READ_ONLY),))
    with pytest.raises(RoleConflictError, match=f"role {user} is the migrating user itself"):
        plan(fresh_db_url, roles)


def test_many_tables_are_granted_in_chunks(fresh_db_url: str, app_roles: RoleSet) -> None:
    with engine(fresh_db_url) as runner:
        runner.up()
    query(
        fresh_db_url,
        "DO $$ BEGIN FOR i IN 1..250 LOOP EXECUTE format('CREATE TABLE t%s (id int)', i); "
        "END LOOP; END $$",
    )
    applied = apply(fresh_db_url, app_roles)
    grants = [
        s for s in applied.statements if s.startswith("GRANT SELECT, INSERT") and "ON TABLE" in s
    ]
    assert len(grants) == 3  # 254 tables, 100 per statement
    name = f"t{uuid.uuid4().int % 250 + 1}"
    assert refused(fresh_db_url, "app_rw", f"INSERT INTO {name} VALUES (1)") is None


def test_a_services_temporary_table_does_not_block_reconciliation(
    db: str, app_roles: RoleSet
) -> None:
    """A temp table an app_rw session holds is owned by app_rw: it is not an object to refuse."""
    with connect_as(db, "app_rw") as session:
        session.execute("CREATE TEMP TABLE scratch (id int)")
        again = apply(db, app_roles)
        assert [r.status for r in again.roles] == ["unchanged", "unchanged"]


def test_public_writes_on_the_engine_tables_are_refused(db: str, app_roles: RoleSet) -> None:
    """A grant to PUBLIC would let every role write the engine's state, app roles included."""
    query(db, "GRANT INSERT ON schema_migrations TO PUBLIC")
    assert refused(db, "app_ro", "INSERT INTO schema_migrations VALUES (99, false)") is None
    with pytest.raises(RoleConflictError, match=r"PUBLIC holds INSERT on public.schema_migrations"):
        apply(db, app_roles)
    query(db, "REVOKE INSERT ON schema_migrations FROM PUBLIC")
    assert not apply(db, app_roles).changed
