"""The compiled migrations as one JSON document, loadable without pglast.

The CDK app compiles the migrations directory at synth time and ships this
document to the migration Lambda, which therefore needs neither the parser nor
the .sql files. ``bundle_checksum`` identifies the exact set of files (it
changes whenever any file does), which is what a custom resource needs to
decide that migrations must run again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from dbmigrate.errors import BundleError
from dbmigrate.model import Migration, Script, Statement

FORMAT = "dbmigrate-bundle"
FORMAT_VERSION = 1


class Bundle:
    """Migrations sorted by version, each version once; equal when their migrations are.

    A plain class rather than a dataclass, for the CLI's start-up (`dbmigrate.model`).
    """

    __slots__ = ("_by_version", "migrations", "versions")
    migrations: tuple[Migration, ...]
    versions: tuple[int, ...]
    """Sorted, computed once: the engine bisects it on every step."""
    _by_version: dict[int, Migration]

    def __init__(self, migrations: tuple[Migration, ...]) -> None:
        versions = tuple(m.version for m in migrations)
        if list(versions) != sorted(set(versions)):
            raise BundleError("bundle migrations must be sorted by version, each version once")
        object.__setattr__(self, "migrations", migrations)
        object.__setattr__(self, "versions", versions)
        object.__setattr__(self, "_by_version", {m.version: m for m in migrations})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Bundle is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Bundle is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bundle):
            return NotImplemented
        return other.migrations == self.migrations

    def __hash__(self) -> int:
        return hash(self.migrations)

    def __repr__(self) -> str:
        return f"Bundle(migrations={self.migrations!r})"

    @property
    def target_version(self) -> int | None:
        """The newest version, where ``up`` leads; None for an empty bundle."""
        return self.migrations[-1].version if self.migrations else None

    @property
    def bundle_checksum(self) -> str:
        """sha256 over ``"<version> <up|down> <file sha256>\\n"`` lines in version order."""
        digest = hashlib.sha256()
        for migration in self.migrations:
            for direction, script in (("up", migration.up), ("down", migration.down)):
                if script is not None:
                    digest.update(f"{migration.version} {direction} {script.checksum}\n".encode())
        return digest.hexdigest()

    def get(self, version: int) -> Migration | None:
        """O(1): the engine looks migrations up once per applied row and step."""
        return self._by_version.get(version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "bundle_checksum": self.bundle_checksum,
            "target_version": self.target_version,
            "migrations": [
                {
                    "version": m.version,
                    "name": m.name,
                    "up": script_to_dict(m.up),
                    "down": None if m.down is None else script_to_dict(m.down),
                }
                for m in self.migrations
            ],
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, document: str | bytes) -> Bundle:
        try:
            data = json.loads(document)
        except ValueError as exc:
            raise BundleError(f"bundle is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: object) -> Bundle:
        """Rebuild and verify a bundle: format, types, and both checksums must agree."""
        doc = _mapping(data, "bundle")
        if doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"unsupported bundle format {doc.get('format')!r} version "
                f"{doc.get('format_version')!r}; expected {FORMAT!r} version {FORMAT_VERSION}: "
                "rebuild the bundle with this dbmigrate version"
            )
        items = doc.get("migrations")
        if not isinstance(items, list):
            raise BundleError("bundle 'migrations' must be a list")
        migrations = []
        for item in items:
            entry = _mapping(item, "migration")
            down = entry.get("down")
            migrations.append(
                Migration(
                    version=_int(entry.get("version"), "version"),
                    name=_str(entry.get("name"), "name"),
                    up=script_from_dict(entry.get("up")),
                    down=None if down is None else script_from_dict(down),
                )
            )
        bundle = cls(tuple(migrations))
        if doc.get("bundle_checksum") != bundle.bundle_checksum:
            raise BundleError("bundle_checksum does not match its files' checksums: rebuild it")
        if doc.get("target_version") != bundle.target_version:
            raise BundleError("bundle target_version does not match its newest migration")
        return bundle


def script_to_dict(script: Script) -> dict[str, Any]:
    return {
        "path": script.path,
        "checksum": script.checksum,
        "transactional": script.transactional,
        "statements": [{"sql": s.sql, "line": s.line} for s in script.statements],
    }


def script_from_dict(data: object) -> Script:
    doc = _mapping(data, "script")
    statements = doc.get("statements")
    if not isinstance(statements, list):
        raise BundleError("bundle script 'statements' must be a list")
    transactional = doc.get("transactional")
    if not isinstance(transactional, bool):
        raise BundleError("bundle script 'transactional' must be a boolean")
    return Script(
        statements=tuple(
            Statement(_str(s.get("sql"), "sql"), _int(s.get("line"), "line"))
            for s in (_mapping(item, "statement") for item in statements)
        ),
        transactional=transactional,
        checksum=_str(doc.get("checksum"), "checksum"),
        path=_str(doc.get("path"), "path"),
    )


def _mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise BundleError(f"bundle {what} must be a JSON object")
    return value


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BundleError(f"bundle field {what!r} must be an integer")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise BundleError(f"bundle field {what!r} must be a string")
    return value
