"""psycopg2 imported without letting its module init import Python's ``ssl``.

psycopg2's init imports ``ssl`` only to hand libcrypto's thread locking to Python,
which OpenSSL before 1.1 needed. The wheel's libpq carries its own OpenSSL 3, which
needs nothing of the kind, and the import is 30 ms of a 250 ms ``ops migrate
version``. Refused it, psycopg2 leaves libpq to initialise its OpenSSL itself, as
any libpq program does: TLS connections are unchanged
(tests/migrations/test_psycopg2_tls.py). Where ``ssl`` is already imported (the
tests, a process that used boto3), or another thread runs, nothing changes. Import
this module before psycopg2, as ``psycopg2_transport`` does.
"""

from __future__ import annotations

import sys


def _import() -> None:
    if "ssl" in sys.modules or "psycopg2" in sys.modules or _other_threads():
        return
    sys.modules["ssl"] = None  # type: ignore[assignment] # makes `import ssl` an ImportError
    try:
        import psycopg2  # noqa: F401, PLC0415
    finally:
        del sys.modules["ssl"]


def _other_threads() -> bool:
    """While psycopg2 imports, ``import ssl`` fails in every thread: with another one
    running, import psycopg2 as it is. (No threading module, no other thread.)"""
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


_import()
