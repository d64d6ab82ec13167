"""Shared fixtures live in tests/fixtures/ as plugins, one module per real dependency."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.synth",
    "tests.fixtures.data_api",
    "tests.fixtures.moto_server",
]
