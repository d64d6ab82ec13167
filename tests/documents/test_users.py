"""The standards' MongoDB users patterns (appdata.mongo) on a real server, indexes applied."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.database import Database

from appdata.mongo import MAX_PAGE_SIZE, DuplicateUserError, UserNotFoundError, Users
from documents.indexes import apply


class Clock:
    """Whole milliseconds (what BSON keeps), one second per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def users(document_db: Database[Any]) -> Iterator[Users]:
    apply(document_db)
    yield Users(document_db, clock=Clock())


def test_create_sets_both_timestamps_and_returns_the_id(users: Users) -> None:
    user_id = users.create(email="ada@example.com", name="Ada", cognito_id="sub-ada")
    found = users.get_by_email("ada@example.com")
    assert found.id == user_id
    assert (found.name, found.role, found.cognito_id) == ("Ada", "user", "sub-ada")
    assert found.created_at == found.updated_at == datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(("field", "second"), [
    ("email", {"email": "ada@example.com", "cognito_id": "sub-2"}),
    ("cognito_id", {"email": "bob@example.com", "cognito_id": "sub-1"}),
])  # fmt: skip
def test_a_duplicate_names_its_field(users: Users, field: str, second: dict[str, str]) -> None:
    users.create(email="ada@example.com", name="Ada", cognito_id="sub-1")
    with pytest.raises(DuplicateUserError) as caught:
        users.create(name="Other", **second)
    assert caught.value.field == field
    assert str(caught.value) == f"a user with {field} {second[field]!r} exists already"


def test_users_without_a_cognito_id(users: Users, document_db: Database[Any]) -> None:
    users.create(email="a@example.com", name="A")
    users.create(email="b@example.com", name="B")
    assert users.get_by_email("b@example.com").cognito_id is None
    # the field is left out, never null (FerretDB's unique index would collide on nulls)
    assert document_db["users"].count_documents({"cognito_id": {"$exists": True}}) == 0


def test_get_by_email_of_a_missing_user(users: Users) -> None:
    with pytest.raises(UserNotFoundError, match=r"no user with email 'nobody@example\.com'"):
        users.get_by_email("nobody@example.com")


def test_list_is_newest_first_with_a_total(users: Users) -> None:
    for n in range(5):
        users.create(email=f"u{n}@example.com", name=f"U{n}")
    page = users.list(limit=2, offset=1)
    assert [u.email for u in page.users] == ["u3@example.com", "u2@example.com"]
    assert (page.total, page.has_more) == (5, True)
    assert not users.list(limit=2, offset=4).has_more


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (MAX_PAGE_SIZE + 1, 0), (10, -1)])
def test_list_is_bounded(users: Users, limit: int, offset: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        users.list(limit=limit, offset=offset)


def test_update_moves_updated_at(users: Users) -> None:
    user_id = users.create(email="ada@example.com", name="Ada")
    updated = users.update(user_id, name="Ada L.")
    assert updated.name == "Ada L."
    assert updated.updated_at > updated.created_at
    assert users.get_by_email("ada@example.com") == updated


def test_update_of_a_missing_user_and_to_a_taken_email(users: Users) -> None:
    with pytest.raises(UserNotFoundError):
        users.update("6b0ee252343e945ea0f903db", name="X")
    with pytest.raises(UserNotFoundError):
        users.update("not-an-id", name="X")
    users.create(email="ada@example.com", name="Ada")
    bob = users.create(email="bob@example.com", name="Bob")
    with pytest.raises(DuplicateUserError) as caught:
        users.update(bob, email="ada@example.com")
    assert caught.value.field == "email"
