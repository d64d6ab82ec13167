"""Shared fixtures live in tests/fixtures/ as plugins, one module per real dependency."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import jsii_node

jsii_node.configure()  # the jsii kernels the fixtures start get app.py's Node options

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.synth",
    "tests.fixtures.data_api",
    "tests.fixtures.moto_server",
    "tests.fixtures.app_roles",
    "tests.fixtures.backup_api",
    "tests.fixtures.golang_migrate",
    "tests.fixtures.ferretdb",
    "tests.fixtures.redis_server",
    "tests.fixtures.tls_postgres",
]


@pytest.fixture(autouse=True, scope="session")
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI caches compiled migrations under $XDG_CACHE_HOME: never the user's own, here."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield
