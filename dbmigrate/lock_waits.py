"""How long migration runs wait for each other's lock: plain numbers, importable anywhere.

A module of its own, without imports, so that the ops CLI's parser can show them in
``--help`` without loading the engine.
"""

DEFAULT_LOCK_WAIT_MS = 30_000
"""How long a run waits for another (golang-migrate's ``migrate``, or this engine) to
release the migration lock before giving up; twice ``migrate``'s own default of 15 s."""

DATA_API_MAX_LOCK_WAIT_MS = 40_000
"""The wait for the engine's own key is one Data API call, which the service ends at 45 s."""
