"""The JSON bundle the Lambda loads, and that loading it needs no parser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from dbmigrate.bundle import Bundle
from dbmigrate.compile import compile_directory
from dbmigrate.errors import BundleError
from tests.migrations._helpers import MIGRATIONS, REPO, copy_standard


def test_round_trip_is_identical() -> None:
    bundle = compile_directory(MIGRATIONS)
    loaded = Bundle.from_json(bundle.to_json())
    assert loaded == bundle
    assert loaded.bundle_checksum == bundle.bundle_checksum
    assert loaded.target_version == 4
    document = json.loads(bundle.to_json())
    assert document["format"] == "dbmigrate-bundle" and document["format_version"] == 1
    assert document["target_version"] == 4
    assert document["bundle_checksum"] == bundle.bundle_checksum


def test_bundle_checksum_changes_with_any_file(tmp_path: Path) -> None:
    before = compile_directory(copy_standard(tmp_path)).bundle_checksum
    down = tmp_path / "000003_create_posts_table.down.sql"
    down.write_text(down.read_text() + "\n-- note\n")
    assert compile_directory(tmp_path).bundle_checksum != before


def test_tampered_bundle_is_refused() -> None:
    document = json.loads(compile_directory(MIGRATIONS).to_json())
    document["migrations"][1]["up"]["checksum"] = "0" * 64
    with pytest.raises(BundleError, match="bundle_checksum does not match"):
        Bundle.from_json(json.dumps(document))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format_version=2), "unsupported bundle format"),
        (lambda d: d.update(migrations={}), "'migrations' must be a list"),
        (lambda d: d["migrations"][0].update(version="1"), "'version' must be an integer"),
        (lambda d: d["migrations"][0]["up"].update(transactional=1), "must be a boolean"),
        (lambda d: d.update(target_version=3), "target_version does not match"),
    ],
)
def test_malformed_bundle_is_refused(change: object, message: str) -> None:
    document = json.loads(compile_directory(MIGRATIONS).to_json())
    change(document)  # type: ignore[operator]
    with pytest.raises(BundleError, match=message):
        Bundle.from_json(json.dumps(document))


def test_not_json_is_refused() -> None:
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.from_json("{")


def test_engine_and_bundle_import_without_pglast_or_psycopg() -> None:
    code = (
        "import sys, dbmigrate.engine, dbmigrate.bundle, dbmigrate.errors, dbmigrate.transport;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pglast', 'psycopg')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_bundle_loads_and_runs_where_pglast_cannot_be_imported(tmp_path: Path) -> None:
    """Simulate the Lambda: pglast is made unimportable, the bundle still loads and plans."""
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(compile_directory(MIGRATIONS).to_json())
    code = (
        "import sys; sys.modules['pglast'] = None\n"
        "from pathlib import Path\n"
        "from dbmigrate.bundle import Bundle\n"
        "import dbmigrate.engine\n"
        f"b = Bundle.from_json(Path({str(bundle_file)!r}).read_text())\n"
        "print(b.target_version, len(b.migrations[1].up.statements))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "4 2"


def test_a_bundle_cannot_be_changed_once_built() -> None:
    """Its versions and lookups are computed once, at construction: a changed field would
    leave them stale."""
    bundle = compile_directory(MIGRATIONS)

    with pytest.raises(AttributeError, match="Bundle is immutable"):
        bundle.migrations = ()
    with pytest.raises(AttributeError, match="Bundle is immutable"):
        del bundle.versions
    assert bundle.versions == tuple(m.version for m in bundle.migrations)


def test_bundles_are_equal_when_their_migrations_are() -> None:
    first, second = compile_directory(MIGRATIONS), compile_directory(MIGRATIONS)

    assert first == second
    assert hash(first) == hash(second)
    assert first != Bundle(first.migrations[:1])
    assert first == mock.ANY  # not a plain False: other types are asked in turn
    assert first.__eq__(object()) is NotImplemented
