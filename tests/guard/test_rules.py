"""Rules that no configuration key can trigger today, on the real prod template edited by hand.

The table's PITR is always on and no instance setting is configurable, so these
pairs are the committed template and a copy with one property changed.
"""

from __future__ import annotations

import copy
from typing import Any

from deployguard import Severity, check
from tests.guard.conftest import Variants
from tests.guard.test_matrix import TABLE, WRITER


def _findings(old: dict[str, Any], new: dict[str, Any]) -> set[tuple[str, str, str, Severity]]:
    report = check(old, new, region="eu-west-1")
    return {(f.logical_id, f.property, f.rule, f.severity) for f in report.findings}


def test_switching_pitr_off_blocks(variants: Variants) -> None:
    committed = variants.template("committed")
    new = copy.deepcopy(committed)
    replica = new["Resources"][TABLE]["Properties"]["Replicas"][0]
    replica["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": False}
    assert _findings(committed, new) == {
        (TABLE, "PointInTimeRecoverySpecification", "pitr-disabled", Severity.BLOCK)
    }


def test_a_conditionally_create_only_change_is_a_warning(variants: Variants) -> None:
    committed = variants.template("committed")
    new = copy.deepcopy(committed)
    new["Resources"][WRITER]["Properties"]["PreferredMaintenanceWindow"] = "sun:03:00-sun:04:00"
    assert _findings(committed, new) == {
        (WRITER, "PreferredMaintenanceWindow", "may-replace", Severity.WARN)
    }


def test_an_intrinsic_value_is_compared_as_written(variants: Variants) -> None:
    """A create-only property given by Fn::If is unchanged when its text is unchanged, and
    changed when a branch changes: the guard cannot evaluate conditions, so it compares text."""
    committed = copy.deepcopy(variants.template("committed"))
    table = committed["Resources"][TABLE]["Properties"]
    table["TableName"] = {"Fn::If": ["IsProd", "app-data", "app-data-dev"]}
    assert _findings(committed, copy.deepcopy(committed)) == set()
    new = copy.deepcopy(committed)
    new["Resources"][TABLE]["Properties"]["TableName"]["Fn::If"][1] = "app-data-v2"
    assert _findings(committed, new) == {(TABLE, "TableName", "replaced", Severity.BLOCK)}
