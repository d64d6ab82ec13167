"""The migration runner's environment: the emulator as the Data API, a temp asset directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.data_api import DataApiEndpoint


@dataclass(frozen=True)
class LambdaEnv:
    """Where the handler finds its bundle, and the database behind the emulator."""

    bundle_file: Path
    endpoint: DataApiEndpoint
    db_url: str


@pytest.fixture
def lambda_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_api: DataApiEndpoint, fresh_db_url: str
) -> LambdaEnv:
    """Environment as in the Lambda, with boto3 pointed at the emulator by its own env var."""
    bundle_file = tmp_path / "asset" / "migration_runner" / "bundle.json"
    monkeypatch.setenv("MIGRATION_BUNDLE_PATH", str(bundle_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL_RDS_DATA", data_api.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return LambdaEnv(bundle_file, data_api, fresh_db_url)
