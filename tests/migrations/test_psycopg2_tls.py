"""``ops migrate`` over TLS with psycopg2 imported without Python's ``ssl``
(`dbmigrate.transports.psycopg2_without_ssl`).

Each probe is a fresh interpreter, the only place where ``ssl`` is not imported
already. The server accepts TLS connections only (`tests.fixtures.tls_postgres`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from devtools.postgres import Server
from tests.migrations._helpers import REPO

_PROBE = """\
import json, sys
from dbmigrate.transports.psycopg2_transport import Psycopg2Transport
ssl_imported = "ssl" in sys.modules
transport = Psycopg2Transport.connect(sys.argv[1])
rows = transport._query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
transport.close()
print(json.dumps({"ssl_module": ssl_imported, "tls": rows[0][0], "protocol": rows[0][1]}))
"""


def _verified_url(server: Server, ca: Path, *, host: str = "localhost") -> str:
    """``host`` is the name verified; the connection always goes to 127.0.0.1."""
    name = f"tls_{uuid.uuid4().hex[:8]}"
    server.create_database(name)
    port = server.admin_url.rsplit(":", 1)[1].split("/")[0]
    query = f"hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}"
    return f"postgresql://postgres@{host}:{port}/{name}?{query}"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


def test_psycopg2_without_ssl_still_connects_over_verified_tls(
    tls_server: tuple[Server, Path],
) -> None:
    url = _verified_url(*tls_server)

    result = _run("-c", _PROBE, url)

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["ssl_module"] is False  # the 30 ms import really was skipped
    assert found["tls"] is True
    assert found["protocol"].startswith("TLSv1.")


def test_the_cli_migrates_over_verified_tls(tls_server: tuple[Server, Path]) -> None:
    url = _verified_url(*tls_server)

    up = _run("-m", "ops", "migrate", "up", "--database-url", url)
    version = _run("-m", "ops", "migrate", "version", "--database-url", url)

    assert up.returncode == 0, up.stderr
    assert version.returncode == 0, version.stderr
    expected = max(int(p.name.split("_")[0]) for p in (REPO / "migrations").glob("*.up.sql"))
    assert version.stdout.strip() == str(expected)


def test_a_certificate_for_another_host_is_still_refused(tls_server: tuple[Server, Path]) -> None:
    """libpq still verifies: the certificate names localhost and 127.0.0.1 only."""
    url = _verified_url(*tls_server, host="db.example.com")

    result = _run("-m", "ops", "migrate", "version", "--database-url", url)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot connect to postgresql://postgres@db.example.com:")
    assert 'does not match host name "db.example.com"' in lines[0]


_WITH_A_THREAD = """\
import json, sys, threading
stop = threading.Event()
worker = threading.Thread(target=stop.wait)
worker.start()
import dbmigrate.transports.psycopg2_transport
print(json.dumps("ssl" in sys.modules))
stop.set()
"""


def test_with_another_thread_running_psycopg2_imports_as_it_is() -> None:
    """The trick blocks ``import ssl`` for the whole process while psycopg2 imports: another
    thread importing ssl (or urllib3) then would fail, so it is not played."""
    result = _run("-c", _WITH_A_THREAD)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is True
