"""The CLI's compile cache: used only for the exact bytes it was built from, never an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbmigrate.cache import compile_directory_cached, compiler_fingerprint, default_cache_dir
from dbmigrate.compile import compile_directory
from dbmigrate.errors import CompileError
from tests.migrations._helpers import REPO, copy_standard, write


def cache_document(cache_dir: Path) -> tuple[Path, dict[str, object]]:
    (path,) = cache_dir.glob("*.json")
    document: dict[str, object] = json.loads(path.read_text())
    return path, document


def cached_then_tampered(
    tmp_path: Path, sql: str, *, fingerprint: str | None = None
) -> tuple[Path, Path]:
    """A one-file directory compiled into a cache whose entry then says ``sql`` instead."""
    migrations, cache = tmp_path / "m", tmp_path / "cache"
    write(migrations, "000001_a.up.sql", "CREATE TABLE a (id int);")
    compile_directory_cached(migrations, cache_dir=cache)
    path, document = cache_document(cache)
    (entry,) = document["scripts"].values()  # type: ignore[attr-defined]
    entry["statements"][0]["sql"] = sql
    if fingerprint is not None:
        document["fingerprint"] = fingerprint
    path.write_text(json.dumps(document))
    return migrations, cache


def test_a_cached_compile_equals_a_fresh_one(tmp_path: Path) -> None:
    migrations, cache = copy_standard(tmp_path / "m"), tmp_path / "cache"
    first = compile_directory_cached(migrations, cache_dir=cache)
    second = compile_directory_cached(migrations, cache_dir=cache)
    assert first == second == compile_directory(migrations)
    assert second.bundle_checksum == compile_directory(migrations).bundle_checksum
    _, document = cache_document(cache)
    assert document["fingerprint"] == compiler_fingerprint()
    assert len(document["scripts"]) == 8  # type: ignore[arg-type]  # four up, four down


def test_a_hit_reads_the_cache_and_never_imports_the_parser(tmp_path: Path) -> None:
    migrations, cache = copy_standard(tmp_path / "m"), tmp_path / "cache"
    compile_directory_cached(migrations, cache_dir=cache)
    probe = (
        "import sys\n"
        "from dbmigrate.cache import compile_directory_cached\n"
        f"bundle = compile_directory_cached({str(migrations)!r}, cache_dir=__import__('pathlib')"
        f".Path({str(cache)!r}))\n"
        "print(len(bundle.migrations), 'pglast' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["4", "False"]


def test_what_is_cached_is_what_is_used(tmp_path: Path) -> None:
    """Shows the cache is really read: an entry for these exact bytes is trusted as it is."""
    migrations, cache = cached_then_tampered(tmp_path, "CREATE TABLE from_the_cache (id int)")
    bundle = compile_directory_cached(migrations, cache_dir=cache)
    assert bundle.migrations[0].up.statements[0].sql == "CREATE TABLE from_the_cache (id int)"


def test_another_compiler_version_discards_the_cache(tmp_path: Path) -> None:
    migrations, cache = cached_then_tampered(
        tmp_path, "CREATE TABLE stale (id int)", fingerprint="compiled by an older dbmigrate"
    )
    bundle = compile_directory_cached(migrations, cache_dir=cache)
    assert bundle.migrations[0].up.statements[0].sql == "CREATE TABLE a (id int)"
    assert cache_document(cache)[1]["fingerprint"] == compiler_fingerprint()


def test_an_edited_file_is_compiled_again_and_its_errors_still_fail(tmp_path: Path) -> None:
    migrations, cache = tmp_path / "m", tmp_path / "cache"
    up = write(migrations, "000001_a.up.sql", "CREATE TABLE a (id int);")
    compile_directory_cached(migrations, cache_dir=cache)
    up.write_text("CREATE TABLE a (id int);\nCREATE INDEX a_id ON a (id);\n")
    statements = compile_directory_cached(migrations, cache_dir=cache).migrations[0].up.statements
    assert [s.sql for s in statements][-1] == "CREATE INDEX a_id ON a (id)"
    up.write_text("CREATE TABLE a (id int);\nCREATE TABLE oops (;\n")
    for _ in range(2):  # a failing file is never cached: the error comes back every time
        with pytest.raises(CompileError, match=r"000001_a\.up\.sql line 2"):
            compile_directory_cached(migrations, cache_dir=cache)


def test_deleted_files_leave_the_cache(tmp_path: Path) -> None:
    migrations, cache = tmp_path / "m", tmp_path / "cache"
    write(migrations, "000001_a.up.sql", "CREATE TABLE a (id int);")
    down = write(migrations, "000001_a.down.sql", "DROP TABLE a;")
    compile_directory_cached(migrations, cache_dir=cache)
    down.unlink()
    compile_directory_cached(migrations, cache_dir=cache)
    names = [key.split("\0")[0] for key in cache_document(cache)[1]["scripts"]]  # type: ignore[attr-defined]
    assert names == ["000001_a.up.sql"]


@pytest.mark.parametrize("damage", ["not json {", '{"fingerprint": 3}', '{"scripts": []}', ""])
def test_a_damaged_cache_means_compiling_again(tmp_path: Path, damage: str) -> None:
    migrations, cache = copy_standard(tmp_path / "m"), tmp_path / "cache"
    compile_directory_cached(migrations, cache_dir=cache)
    path, _ = cache_document(cache)
    path.write_text(damage)
    assert compile_directory_cached(migrations, cache_dir=cache) == compile_directory(migrations)
    assert cache_document(cache)[1]["fingerprint"] == compiler_fingerprint()


def test_an_unusable_cache_directory_is_not_an_error(tmp_path: Path) -> None:
    migrations = copy_standard(tmp_path / "m")
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache directory cannot be created under a file")
    bundle = compile_directory_cached(migrations, cache_dir=blocker / "dbmigrate")
    assert bundle == compile_directory(migrations)
    assert blocker.read_text().startswith("the cache directory")


def test_the_default_cache_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "dbmigrate"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "dbmigrate"


def test_the_cli_caches_unless_told_not_to(tmp_path: Path, fresh_db_url: str) -> None:
    migrations, cache_home = copy_standard(tmp_path / "m"), tmp_path / "xdg"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "DATABASE_URL": fresh_db_url}

    def migrate(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "ops", "migrate", *args, "--dir", str(migrations)]
        return subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, check=False
        )

    assert migrate("plan", "--no-cache").returncode == 0
    assert not cache_home.exists()
    assert migrate("up").returncode == 0
    assert len(list((cache_home / "dbmigrate").glob("*.json"))) == 1
    assert migrate("version").stdout == "4\n"
