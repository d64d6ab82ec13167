"""Whole-template snapshots: any infrastructure change shows up as a reviewed diff.

Normalized so that only infrastructure changes move them: asset hashes (which
change with any byte of bundled code or CDK version) and CDK's analytics
metadata are replaced by placeholders. Update with ``make snapshot-update``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.fixtures.synth import ENVIRONMENTS, Synthesized

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalized(template: dict[str, Any]) -> dict[str, Any]:
    text = _ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True))
    result: dict[str, Any] = json.loads(text)
    result["Resources"].pop("CDKMetadata", None)
    result.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    return result


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_template_matches_snapshot(
    synthesized: Synthesized, env: str, json_snapshot: SnapshotAssertion
) -> None:
    assert normalized(synthesized.raw[env]) == json_snapshot


def test_normalization_hides_asset_hashes_only() -> None:
    template = {
        "Resources": {
            "Fn": {"Properties": {"Code": {"S3Key": "ab" * 32 + ".zip"}, "Timeout": 30}},
            "CDKMetadata": {"Type": "AWS::CDK::Metadata"},
        }
    }
    assert normalized(template) == {
        "Resources": {"Fn": {"Properties": {"Code": {"S3Key": "<asset-hash>.zip"}, "Timeout": 30}}}
    }
