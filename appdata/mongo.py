"""The standards' MongoDB ``users`` patterns, typed, over pymongo.

The collection's indexes are `documents.collections.USERS` (``python -m ops
documents apply`` creates them). No soft delete: the standards' MongoDB patterns
have none, so a user is there or not (the PostgreSQL schema keeps ``deleted_at``).

* `Users.create`: sets ``created_at`` and ``updated_at``; returns the new id. A
  duplicate email or Cognito id raises `DuplicateUserError` naming the field. A
  user without a Cognito id has no ``cognito_id`` field at all, never ``null``
  (see `documents.collections` for why).
* `Users.get_by_email`: `UserNotFoundError` for a missing user.
* `Users.list`: newest first (``created_at`` descending, then ``_id``), limit and
  offset bounded by `MAX_PAGE_SIZE`, with the total.
* `Users.update`: the given fields and ``updated_at``; a taken email raises
  `DuplicateUserError` here too (FerretDB reports that one as an internal error).
* `Users.get_preferences` / `set_preferences`: the user's settings document, the
  standards' ``preferences: {theme, notifications}`` (defaults when never set).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from appdata.paging import UserPage
from documents.collections import USERS

MAX_PAGE_SIZE = 100


class DuplicateUserError(ValueError):
    """Another user has this email (or Cognito id): ``field`` says which."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"a user with {field} {value!r} exists already")
        self.field = field


class UserNotFoundError(LookupError):
    """No such user."""


@dataclass(frozen=True)
class MongoUser:
    id: str
    email: str
    name: str
    role: str
    cognito_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Preferences:
    """The standards' ``preferences`` sub-document of a user."""

    theme: str = "light"
    notifications: bool = True


def _preferences(document: dict[str, Any]) -> Preferences:
    stored = document.get("preferences") or {}
    return Preferences(
        theme=str(stored.get("theme", Preferences.theme)),
        notifications=bool(stored.get("notifications", Preferences.notifications)),
    )


def _utc_now() -> datetime:
    # BSON dates keep milliseconds: truncate, so what is returned is what is stored.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _user(document: dict[str, Any]) -> MongoUser:
    return MongoUser(
        id=str(document["_id"]),
        email=document["email"],
        name=document["name"],
        role=document.get("role", "user"),
        cognito_id=document.get("cognito_id"),
        created_at=_aware(document["created_at"]),
        updated_at=_aware(document["updated_at"]),
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Users:
    """The ``users`` collection of ``db``."""

    def __init__(self, db: Database[Any], *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._users: Collection[Any] = db[USERS.name]
        self._clock = clock

    def create(
        self, *, email: str, name: str, role: str = "user", cognito_id: str | None = None
    ) -> str:
        now = self._clock()
        document: dict[str, Any] = {
            "email": email,
            "name": name,
            "role": role,
            "created_at": now,
            "updated_at": now,
        }
        if cognito_id is not None:
            document["cognito_id"] = cognito_id
        try:
            inserted = self._users.insert_one(document)
        except DuplicateKeyError as exc:
            raise self._duplicate(exc, email, cognito_id) from exc
        return str(inserted.inserted_id)

    def get_by_email(self, email: str) -> MongoUser:
        found = self._users.find_one({"email": email})
        if found is None:
            raise UserNotFoundError(f"no user with email {email!r}")
        return _user(found)

    def list(self, *, limit: int = 20, offset: int = 0) -> UserPage[MongoUser]:
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be within 1..{MAX_PAGE_SIZE}, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        cursor = (
            self._users.find({})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        users = [_user(document) for document in cursor]
        return UserPage(users, self._users.count_documents({}), limit, offset)

    def update(
        self,
        user_id: str,
        *,
        name: str | None = None,
        role: str | None = None,
        email: str | None = None,
    ) -> MongoUser:
        changes: dict[str, Any] = {
            key: value
            for key, value in (("name", name), ("role", role), ("email", email))
            if value is not None
        }
        changes["updated_at"] = self._clock()
        try:
            found = self._users.find_one_and_update(
                {"_id": _object_id(user_id)},
                {"$set": changes},
                return_document=ReturnDocument.AFTER,
            )
        except OperationFailure as exc:
            if not _is_duplicate(exc):
                raise
            # email is the only unique field an update can set
            raise DuplicateUserError("email", email or "") from exc
        if found is None:
            raise UserNotFoundError(f"no user with id {user_id!r}")
        return _user(found)

    def get_preferences(self, user_id: str) -> Preferences:
        """The user's preferences (the defaults where never set); `UserNotFoundError`."""
        found = self._users.find_one({"_id": _object_id(user_id)}, {"preferences": 1})
        if found is None:
            raise UserNotFoundError(f"no user with id {user_id!r}")
        return _preferences(found)

    def set_preferences(self, user_id: str, preferences: Preferences) -> Preferences:
        """Replace the user's preferences; ``updated_at`` moves."""
        found = self._users.find_one_and_update(
            {"_id": _object_id(user_id)},
            {
                "$set": {
                    "preferences": {
                        "theme": preferences.theme,
                        "notifications": preferences.notifications,
                    },
                    "updated_at": self._clock(),
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if found is None:
            raise UserNotFoundError(f"no user with id {user_id!r}")
        return _preferences(found)

    def _duplicate(
        self, exc: DuplicateKeyError, email: str, cognito_id: str | None
    ) -> DuplicateUserError:
        """Which unique field collided: MongoDB says (keyPattern); FerretDB does not, so ask."""
        pattern = (exc.details or {}).get("keyPattern") or {}
        if "email" in pattern or (
            not pattern and self._users.count_documents({"email": email}, limit=1)
        ):
            return DuplicateUserError("email", email)
        return DuplicateUserError("cognito_id", cognito_id or "")


def _is_duplicate(exc: OperationFailure) -> bool:
    """E11000, or FerretDB 1.24's answer to an update that breaks a unique index: an
    InternalError (code 1) carrying SQLite's "UNIQUE constraint failed"."""
    return isinstance(exc, DuplicateKeyError) or "UNIQUE constraint failed" in str(exc)


def _object_id(user_id: str) -> ObjectId:
    try:
        return ObjectId(user_id)
    except InvalidId as exc:
        raise UserNotFoundError(f"no user with id {user_id!r}") from exc
