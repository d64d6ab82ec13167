"""Finding migration files the way golang-migrate names them, and creating new ones.

The directory stays readable by the golang-migrate CLI, so the rules are its
rules, made stricter where golang-migrate would silently do something
surprising: it runs *any* file matching its name pattern whatever the
extension, so a matching file that does not end in ``.sql`` is an error here
rather than a migration one tool runs and the other ignores.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from dbmigrate.errors import InvalidRequestError, MigrationSourceError

FILE_NAME_RE = re.compile(r"^([0-9]+)_(.*)\.(down|up)\.(.*)$")
"""golang-migrate's pattern: version, name, direction, extension."""

NEW_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
MAX_VERSION = 2**63 - 1
"""schema_migrations.version is a bigint."""
SEQ_DIGITS = 6
"""``migrate create -seq`` pads versions to six digits."""


class SourceMigration(NamedTuple):
    """The files of one version: an up file and, unless forward-only, a down file."""

    version: int
    name: str
    up: Path
    down: Path | None


class _Pending:
    """The files of one version found so far (filled in as the directory is read)."""

    __slots__ = ("down", "name", "up", "version")

    def __init__(self, version: int, name: str) -> None:
        self.version = version
        self.name = name
        self.up: Path | None = None
        self.down: Path | None = None


def find_migrations(directory: Path | str) -> tuple[SourceMigration, ...]:
    """Return the directory's migrations, sorted by version.

    Files that are not ``.sql`` and do not match the pattern (README.md,
    lint configs) are ignored, as golang-migrate ignores them; dotfiles and
    subdirectories are ignored too.
    """
    root = Path(directory)
    if not root.is_dir():
        raise MigrationSourceError(
            f"migrations directory {root} does not exist: pass --dir or create it"
        )
    found: dict[int, _Pending] = {}
    # scandir: the file type comes with the listing, no stat per file.
    with os.scandir(root) as listing:
        entries = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in entries:
        if not entry.is_file():
            continue
        match = FILE_NAME_RE.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise MigrationSourceError(
                    f"{entry.name}: not a migration file name; rename it to "
                    "NNNNNN_name.up.sql / NNNNNN_name.down.sql or move it out of the directory"
                )
            continue
        _add_file(found, root / entry.name, match)
    result = []
    for version in sorted(found):
        pending = found[version]
        if pending.up is None:
            assert pending.down is not None  # a pending entry always holds one file
            raise MigrationSourceError(
                f"{pending.down.name}: down file without an up file for version {version}; "
                "add the up file or delete the down file"
            )
        result.append(SourceMigration(version, pending.name, pending.up, pending.down))
    return tuple(result)


def _add_file(found: dict[int, _Pending], path: Path, match: re.Match[str]) -> None:
    digits, name, direction, ext = match.groups()
    if ext != "sql":
        raise MigrationSourceError(
            f"{path.name}: migration files must end in .{direction}.sql (golang-migrate would "
            "still run this one); rename it or move it out of the directory"
        )
    version = int(digits)
    if version > MAX_VERSION:
        raise MigrationSourceError(
            f"{path.name}: version {version} does not fit in a bigint; use a smaller number"
        )
    pending = found.setdefault(version, _Pending(version, name))
    existing = pending.up if direction == "up" else pending.down
    other = pending.down if direction == "up" else pending.up
    clash = existing or (other if pending.name != name else None)
    if clash is not None:
        raise MigrationSourceError(
            f"{path.name}: duplicate version {version} (also {clash.name}); "
            "give one of them the next free version number"
        )
    if direction == "up":
        pending.up = path
    else:
        pending.down = path


def create_migration(directory: Path | str, name: str) -> tuple[Path, Path]:
    """Create the next empty up/down pair, as ``migrate create -ext sql -seq NAME`` does.

    The version is the highest existing one plus one, zero-padded to six digits.
    """
    if not NEW_NAME_RE.match(name) or len(name) > 100:
        raise InvalidRequestError(
            f"invalid migration name {name!r}: use lowercase letters, digits and underscores "
            "(snake_case, at most 100 characters), e.g. add_orders_table"
        )
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    existing = find_migrations(root)
    version = existing[-1].version + 1 if existing else 1
    stem = f"{version:0{SEQ_DIGITS}d}_{name}"
    up, down = root / f"{stem}.up.sql", root / f"{stem}.down.sql"
    for path in (up, down):
        # "x" mode: never overwrite a file another process created meanwhile.
        with path.open("x", encoding="utf-8"):
            pass
    return up, down
