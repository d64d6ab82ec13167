"""The declared indexes on a real MongoDB-wire server: created, idempotent, conflicts refused,
and what FerretDB does with the options the standards' cognito_id index needs."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from devtools.gotools import FERRETDB
from documents.collections import USERS
from documents.indexes import IndexConflictError, _live, _step, apply, plan, wanted
from tests.fixtures.ferretdb import DocumentStore

NOT_IMPLEMENTED = 238


def _listed(db: Database[Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {k: v for k, v in info.items() if k in ("key", "unique", "partialFilterExpression")}
        for name, info in db[USERS.name].index_information().items()
        if name != "_id_"
    }


def test_apply_creates_the_declared_indexes(
    document_db: Database[Any], document_store: DocumentStore
) -> None:
    assert [(s.index, s.action) for s in plan(document_db)] == [
        ("email_1", "create"),
        ("cognito_id_1", "create"),
        ("created_at_-1__id_-1", "create"),
    ]
    apply(document_db)
    cognito: dict[str, Any] = {"key": [("cognito_id", 1)], "unique": True}
    if not document_store.ferretdb:
        cognito["partialFilterExpression"] = {"cognito_id": {"$exists": True}}
    assert _listed(document_db) == {
        "email_1": {"key": [("email", 1)], "unique": True},
        "cognito_id_1": cognito,
        "created_at_-1__id_-1": {"key": [("created_at", -1), ("_id", -1)]},
    }


def test_apply_twice_changes_nothing(document_db: Database[Any]) -> None:
    apply(document_db)
    before = _listed(document_db)
    assert [s.action for s in apply(document_db)] == ["ok", "ok", "ok"]
    assert _listed(document_db) == before


def test_an_index_that_differs_is_refused_and_nothing_is_created(
    document_db: Database[Any],
) -> None:
    document_db[USERS.name].create_index([("email", 1)], name="email_1")  # not unique
    [email, *_] = plan(document_db)
    assert email.action == "conflict"
    assert email.line().startswith(
        "conflict users.email_1 is {email: 1}, declared {email: 1} (unique): drop it yourself "
        "(db.users.dropIndex('email_1'))"
    )
    with pytest.raises(IndexConflictError, match=r"^conflict users\.email_1 is \{email: 1\}"):
        apply(document_db)
    assert set(_listed(document_db)) == {"email_1"}


def test_the_same_keys_under_another_name_are_refused(document_db: Database[Any]) -> None:
    document_db[USERS.name].create_index([("created_at", -1), ("_id", -1)], name="by_created")
    steps = {s.index: s for s in plan(document_db)}
    assert steps["created_at_-1__id_-1"].action == "conflict"
    assert "indexed already as by_created" in steps["created_at_-1__id_-1"].detail


def test_any_other_option_of_a_live_index_is_a_difference() -> None:
    """A TTL on the created_at index would delete users; a text index must not crash the
    comparison (servers, like FerretDB, that cannot build these are checked on the info)."""
    spec = USERS.indexes[2]
    want = wanted(spec, ferretdb=False)
    ttl = {"v": 2, "key": [("created_at", -1), ("_id", -1)], "expireAfterSeconds": 3600}
    step = _step("users", spec, want, {spec.name: _live(ttl)})
    assert step.action == "conflict"
    assert "(expireAfterSeconds 3600)" in step.detail
    text = {"v": 2, "key": [("_fts", "text"), ("_ftsx", 1)], "weights": {"bio": 1}}
    assert _step("users", spec, want, {"bio_text": _live(text)}).action == "create"


def test_users_without_a_cognito_id_do_not_collide(document_db: Database[Any]) -> None:
    """The standards' bug, fixed: many users without the field, one per Cognito id."""
    apply(document_db)
    users = document_db[USERS.name]
    users.insert_one({"email": "a@example.com"})
    users.insert_one({"email": "b@example.com"})
    users.insert_one({"email": "c@example.com", "cognito_id": "sub-1"})
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"email": "d@example.com", "cognito_id": "sub-1"})


def test_ferretdb_refuses_a_partial_index_and_collides_on_explicit_nulls(
    ferretdb_server: DocumentStore,
) -> None:
    """What FerretDB 1.24 does with the standards' index, measured: partialFilterExpression is
    not implemented; a plain unique index admits documents without the field (unlike MongoDB)
    but not two explicit nulls, which is why the repository never writes null."""
    client: MongoClient[Any] = MongoClient(ferretdb_server.url, serverSelectionTimeoutMS=5000)
    users = client["ferretdb_probe"]["users"]
    try:
        with pytest.raises(OperationFailure) as refused:
            users.create_index(
                [("cognito_id", 1)],
                unique=True,
                partialFilterExpression={"cognito_id": {"$exists": True}},
            )
        assert refused.value.code == NOT_IMPLEMENTED
        users.create_index([("cognito_id", 1)], unique=True)
        users.insert_one({"email": "a"})
        users.insert_one({"email": "b"})
        users.insert_one({"email": "c", "cognito_id": None})
        with pytest.raises(DuplicateKeyError):
            users.insert_one({"email": "d", "cognito_id": None})
    finally:
        client.drop_database("ferretdb_probe")
        client.close()


def test_the_ferretdb_build_is_the_version_go_mod_pins() -> None:
    """.tools/ferretdb/<version>/ is named from FERRETDB.version; the build takes go.mod's."""
    go_mod = (FERRETDB.source / "go.mod").read_text() if FERRETDB.source else ""
    assert f"require github.com/FerretDB/FerretDB {FERRETDB.version}\n" in go_mod
