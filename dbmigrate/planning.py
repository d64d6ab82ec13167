"""Which files lie between the recorded version and a target: pure functions of the bundle.

Kept apart from the engine so that the rules (forward-only databases are left
alone, an unknown recorded version is an error, a step knows the version it
leaves behind) read without any SQL around them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any, Literal, NamedTuple

from dbmigrate.bundle import Bundle
from dbmigrate.errors import InvalidRequestError, StateError
from dbmigrate.model import Migration, Script

Direction = Literal["up", "down"]


class Step(NamedTuple):
    """One file to run: ``version_after`` is the recorded version once it has run."""

    version: int
    name: str
    direction: Direction
    file: str
    transactional: bool
    version_after: int | None


class AppliedStep(NamedTuple):
    version: int
    name: str
    direction: Direction
    file: str
    duration_ms: int


class Plan(NamedTuple):
    """What ``up`` would do, computed without changing anything."""

    current_version: int | None
    target_version: int | None
    steps: tuple[Step, ...]
    ahead: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {**self._asdict(), "steps": tuple(step._asdict() for step in self.steps)}


class RunResult(NamedTuple):
    """What a command did. ``ahead`` is set when the database is newer than the bundle."""

    start_version: int | None
    end_version: int | None
    applied: tuple[AppliedStep, ...] = ()
    ahead: bool = False
    message: str = ""
    complete: bool = True
    """False when a time limit (``stop_when``) stopped the run before its target."""

    @property
    def applied_versions(self) -> tuple[int, ...]:
        return tuple(a.version for a in self.applied)

    def to_dict(self) -> dict[str, Any]:
        return {**self._asdict(), "applied": tuple(step._asdict() for step in self.applied)}


class Planner:
    """Answers "what runs next" for one bundle."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    def up_target(self, current: int | None, n: int | None) -> int | None:
        pending = self.steps(current, self.bundle.target_version, "up")
        if not pending:
            return current
        if n is None or n >= len(pending):
            return pending[-1].version
        return pending[n - 1].version

    def steps(
        self, current: int | None, target: int | None, direction: Direction
    ) -> tuple[Step, ...]:
        """The files between ``current`` and ``target`` in ``direction``; empty if already there."""
        if direction == "up" and self.ahead_message(current):
            return ()
        self.require_known(current)
        if direction == "up":
            return tuple(
                self._make_step(m, "up", m.version)
                for m in self.bundle.migrations
                if (current is None or m.version > current)
                and target is not None
                and m.version <= target
            )
        return tuple(
            self._make_step(m, "down", self.version_before(m.version))
            for m in reversed(self.bundle.migrations)
            if current is not None
            and m.version <= current
            and (target is None or m.version > target)
        )

    def next_step(
        self, current: int | None, target: int | None, direction: Direction
    ) -> Step | None:
        """The first of ``steps(current, target, direction)``, without building the rest.

        The step loop asks this once per file; building every remaining step
        each time made a run O(n^2) in the number of files.
        """
        if direction == "up" and self.ahead_message(current):
            return None
        self.require_known(current)
        if direction == "up":
            versions = self.bundle.versions
            index = 0 if current is None else bisect_right(versions, current)
            if target is None or index == len(versions) or versions[index] > target:
                return None
            migration = self.bundle.migrations[index]
            return self._make_step(migration, "up", migration.version)
        known = self.bundle.get(current) if current is not None else None
        if known is None or (target is not None and known.version <= target):
            return None
        return self._make_step(known, "down", self.version_before(known.version))

    def left(self, current: int | None, target: int | None) -> int:
        """How many files ``up`` still has to apply from ``current`` to ``target``."""
        return len(self.steps(current, target, "up"))

    def script(self, step: Step) -> Script:
        migration = self.bundle.get(step.version)
        script = None
        if migration is not None:
            script = migration.up if step.direction == "up" else migration.down
        if script is None:
            raise InvalidRequestError(f"migration {step.version} has no {step.direction} file")
        return script

    def version_before(self, version: int) -> int | None:
        versions = self.bundle.versions
        index = bisect_left(versions, version)
        return versions[index - 1] if index > 0 else None

    def ahead_message(self, current: int | None) -> str:
        target = self.bundle.target_version
        if current is not None and (target is None or current > target):
            return (
                f"database at version {current} is ahead of bundle target {show(target)}; "
                "leaving it (forward-only)"
            )
        return ""

    def require_known(self, current: int | None) -> None:
        if current is None or self.bundle.get(current) is not None:
            return
        if self.ahead_message(current):
            raise InvalidRequestError(
                f"database at version {current} is ahead of bundle target "
                f"{show(self.bundle.target_version)}: this bundle cannot move it"
            )
        raise StateError(
            f"database at version {current}, but no migration file has that version; restore the "
            f"file {current:06d}_*.up.sql (known versions: {versions_text(self.bundle.versions)})"
        )

    @staticmethod
    def _make_step(m: Migration, direction: Direction, after: int | None) -> Step:
        script = m.up if direction == "up" else m.down
        if script is None:
            return Step(m.version, m.name, direction, "", True, after)
        return Step(m.version, m.name, direction, script.path, script.transactional, after)


def show(version: int | None) -> str:
    return "none" if version is None else str(version)


def versions_text(versions: tuple[int, ...]) -> str:
    if not versions:
        return "none"
    if len(versions) > 10:
        return f"{versions[0]}..{versions[-1]} ({len(versions)} files)"
    return ", ".join(str(v) for v in versions)
