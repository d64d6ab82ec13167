"""Compiled scripts kept on disk, keyed by content, so that unchanged files skip the parser.

The CLI compiles the whole directory on every command, and parsing (plus
importing pglast) is most of what it does before the first migration runs.
Like Python's ``.pyc`` files, a cache entry is only ever used for the exact
bytes it was compiled from: the key is the file's name and sha256, and the
whole cache is dropped when the compiler itself changes (its source or the
installed pglast). A file that fails to compile is never cached, so its error
comes back every time. Any problem with the cache (unreadable, corrupt, not
writable) only means compiling again; it is never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from dbmigrate.bundle import Bundle, script_from_dict, script_to_dict
from dbmigrate.errors import BundleError
from dbmigrate.model import Migration, Script
from dbmigrate.source import find_migrations

log = logging.getLogger("dbmigrate")

_COMPILER_SOURCES = ("compile.py", "model.py", "bundle.py")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dbmigrate``, else ``~/.cache/dbmigrate``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dbmigrate"


def compile_directory_cached(directory: Path | str, *, cache_dir: Path) -> Bundle:
    """``compile_directory``, reusing the cached compilation of every unchanged file."""
    root = Path(directory)
    sources = find_migrations(root)
    cache_file = cache_dir / f"{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]}.json"
    fingerprint = compiler_fingerprint()
    cached = _load(cache_file, fingerprint)
    used: dict[str, dict[str, Any]] = {}
    migrations = []
    for source in sources:
        up = _script(source.up, cached, used)
        down = None if source.down is None else _script(source.down, cached, used)
        migrations.append(Migration(source.version, source.name, up, down))
    if used.keys() != cached.keys():
        _save(cache_file, fingerprint, used)
    return Bundle(tuple(migrations))


def compiler_fingerprint() -> str:
    """sha256 over the compiler's own source and pglast's, read without importing pglast."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _COMPILER_SOURCES:
        digest.update((here / name).read_bytes())
    spec = find_spec("pglast")
    if spec is not None and spec.origin is not None:
        digest.update(Path(spec.origin).read_bytes())  # holds pglast's __version__
    return digest.hexdigest()


def _script(path: Path, cached: dict[str, Any], used: dict[str, dict[str, Any]]) -> Script:
    raw = path.read_bytes()
    key = f"{path.name}\0{hashlib.sha256(raw).hexdigest()}"
    script = _from_cache(cached.get(key))
    if script is None:
        from dbmigrate.compile import compile_script  # noqa: PLC0415 - pglast only on a miss

        script = compile_script(raw, path.name)
    used[key] = script_to_dict(script)
    return script


def _from_cache(entry: object) -> Script | None:
    if entry is None:
        return None
    try:
        return script_from_dict(entry)
    except BundleError:
        return None


def _load(cache_file: Path, fingerprint: str) -> dict[str, Any]:
    try:
        document = json.loads(cache_file.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("fingerprint") != fingerprint:
        return {}
    scripts = document.get("scripts")
    return scripts if isinstance(scripts, dict) else {}


def _save(cache_file: Path, fingerprint: str, scripts: dict[str, dict[str, Any]]) -> None:
    """Atomically (write, then rename): a concurrent reader sees the old file or the new one."""
    document = {"fingerprint": fingerprint, "scripts": scripts}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # noqa: PLC0415 - only a cache miss writes (tempfile imports shutil, ...)

        fd, temporary = tempfile.mkstemp(dir=cache_file.parent, prefix=".tmp-", suffix=".json")
    except OSError as exc:
        log.debug("not caching compiled migrations in %s: %s", cache_file.parent, exc)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False)
        os.replace(temporary, cache_file)
    except OSError as exc:
        log.debug("not caching compiled migrations in %s: %s", cache_file, exc)
        Path(temporary).unlink(missing_ok=True)
