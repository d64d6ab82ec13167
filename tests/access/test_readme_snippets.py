"""The README's "Connecting a service" snippets, run as they stand.

Their SSM parameters and the table come from the moto server. The PostgreSQL
snippet connects with ``sslmode=verify-full`` to a throwaway server that accepts
TLS connections only (`tests.fixtures.tls_postgres`), its CA standing for the
README's ``global-bundle.pem``. There is no IAM offline: that
server trusts the role, so the token is generated for real but not checked.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from dbaccess.roles import DEFAULT_ROLES
from devtools.dynamodb_local import ensure_table, table_from_template
from devtools.postgres import Server
from tests.access._helpers import apply, migrate
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.synth import ROOT, Synthesized

PREFIX = "/appdata/prod"


def readme_block(heading: str) -> str:
    """The python block right after ``#### heading`` (and at most one line of prose)."""
    text = (ROOT / "README.md").read_text()
    match = re.search(
        rf"^#### {heading}\n\n(?:[^`\n][^\n]*\n\n)?```python\n(.*?)^```",
        text,
        re.MULTILINE | re.DOTALL,
    )
    assert match, f"README.md has no python block under '#### {heading}'"
    return match.group(1)


def run_snippet(code: str, moto: MotoServer, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=moto.cli_env(), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_postgresql_snippet_connects_as_app_rw_over_verified_tls(
    tls_server: tuple[Server, Path], moto: MotoServer, tmp_path: Path, synthesized: Synthesized
) -> None:
    server, ca = tls_server
    database = "readme"
    url = server.create_database(database)  # libpq's default sslmode (prefer) gets TLS
    migrate(url)
    apply(url, DEFAULT_ROLES)
    code = readme_block("PostgreSQL")
    names = re.search(r"^wanted = (\[.*\])$", code, re.MULTILINE)
    assert names, "the PostgreSQL snippet no longer lists its SSM parameters in `wanted`"
    wanted = ast.literal_eval(names.group(1))
    published = {
        p["Properties"]["Name"]
        for p in synthesized.resources("prod", "AWS::SSM::Parameter").values()
    }
    assert {f"{PREFIX}/{name}" for name in wanted} <= published
    port = server.admin_url.rsplit(":", 1)[1].split("/")[0]
    values = {"cluster-endpoint": "localhost", "cluster-port": port, "database-name": database,
              "access/app_rw/database-user": "app_rw"}  # fmt: skip
    ssm = moto.client("ssm")
    for name, value in values.items():
        ssm.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String")
    shutil.copy(ca, tmp_path / "global-bundle.pem")

    result = run_snippet(code, moto, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "(4,)\n"
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        psycopg.connect(f"postgresql://app_rw@localhost:{port}/{database}?sslmode=disable")
    (tmp_path / "global-bundle.pem").write_text((ca.parent / "server.crt").read_text())
    assert "certificate verify failed" in run_snippet(code, moto, tmp_path).stderr


def test_the_dynamodb_snippet_writes_and_reads_the_table(
    moto: MotoServer, tmp_path: Path, synthesized: Synthesized
) -> None:
    definition = table_from_template(synthesized.raw["prod"])
    ensure_table(definition, moto.client("dynamodb"))
    moto.client("ssm").put_parameter(
        Name=f"{PREFIX}/table-name", Value=definition.table_name, Type="String"
    )

    result = run_snippet(readme_block("DynamoDB"), moto, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "ann@example.com 1\n"
