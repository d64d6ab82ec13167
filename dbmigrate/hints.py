"""The exact command that gets an operator out of a dirty database.

A dirty database is the one state this engine cannot leave by itself (a
non-transactional file failed midway), so its refusal names the ``force``
command to run, worded for the caller: the CLI, or the Lambda's own event.
"""

from __future__ import annotations

from dbmigrate.model import Migration
from dbmigrate.planning import Direction, Planner

DIRTY_CAUSE = (
    "a migration run outside a transaction stopped midway: a -- migrate:no-transaction file, "
    "or any file under golang-migrate's `migrate`"
)

DEFAULT_FORCE_HINT = "python -m ops migrate force {version}"


class DirtyHints:
    """Builds dirty-database messages for one bundle and one way of running ``force``."""

    def __init__(self, planner: Planner, force_hint: str) -> None:
        self._planner = planner
        self._force_hint = force_hint

    def text(self, version: int | None, rerun: str | None = None) -> str:
        """The refusal, with the exact command to run; ``rerun`` when the failed file is known."""
        shown = -1 if version is None else version
        text = (
            f"database is dirty at version {shown} ({DIRTY_CAUSE}): fix the schema by hand, "
            f"then run `{self.force(shown)}`"
        )
        hints = [rerun] if rerun else self._rerun_guesses(version)
        if hints:
            text += f" (or {', or '.join(hints)})"
        return text

    def rerun(self, migration: Migration, direction: Direction) -> str:
        """How to record the version before ``migration`` so that it runs again."""
        if direction == "up":
            before = self._planner.version_before(migration.version)
            return f"`{self.force(-1 if before is None else before)}` to re-run {migration.up.path}"
        down = migration.down.path if migration.down else ""
        return f"`{self.force(migration.version)}` to re-run {down}"

    def force(self, version: int) -> str:
        return self._force_hint.format(version=version)

    def _rerun_guesses(self, version: int | None) -> list[str]:
        """Which file can have left ``version`` dirty, and how to re-run it.

        Any file: this engine leaves only no-transaction files dirty, but
        golang-migrate runs every file outside a transaction.
        """
        bundle = self._planner.bundle
        guesses = []
        migration = bundle.get(version) if version is not None else None
        if migration is not None:
            guesses.append(self.rerun(migration, "up"))
        later = [m for m in bundle.migrations if version is None or m.version > version]
        if later and later[0].down is not None:
            guesses.append(self.rerun(later[0], "down"))
        return guesses
