"""The README's MongoDB snippet, run as it stands against the real server."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from pymongo.database import Database

from documents.indexes import apply
from tests.access.test_readme_snippets import readme_block
from tests.fixtures.ferretdb import DocumentStore
from tests.support.processes import REPO


def test_the_readme_snippet_runs(document_db: Database[Any], document_store: DocumentStore) -> None:
    apply(document_db)  # as the README says to first
    env = {**os.environ, "MONGODB_URL": document_store.database_url(document_db.name)}
    done = subprocess.run(
        [sys.executable, "-c", readme_block("MongoDB")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["email", "1 ['ada@example.com']", "not found"]
