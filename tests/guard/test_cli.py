"""``ops guard``'s options and its bad-input errors: --allow, --json, baselines, one line each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops import exit_codes
from ops.cli import main
from tests.guard._helpers import GuardRun, run_guard
from tests.guard.conftest import Variants
from tests.guard.test_matrix import GLOBAL_TABLE, TABLE


def _renamed(variants: Variants, capsys: pytest.CaptureFixture[str], *extra: str) -> GuardRun:
    return run_guard(
        capsys, variants.template_file("committed"), variants.assembly("table-name"), *extra
    )


def test_allow_accepts_that_finding_and_records_it(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _renamed(variants, capsys, "--allow", f"{TABLE}:replaced")
    assert run.code == exit_codes.OK, run.out
    assert run.findings() == set()
    assert run.findings("allowed") == {(TABLE, GLOBAL_TABLE, "TableName", "replaced")}
    assert "OK: nothing blocks (0 warning(s), 1 allowed)" in run.out


def test_allow_without_a_rule_accepts_every_finding_of_that_resource(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _renamed(variants, capsys, "--allow", TABLE).code == exit_codes.OK


def test_allow_of_another_rule_still_blocks_and_says_it_matched_nothing(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _renamed(variants, capsys, "--allow", f"{TABLE}:removed")
    assert run.code == exit_codes.BLOCKED
    assert f"note: --allow {TABLE}:removed matched no finding" in run.err


def test_json_for_pipelines(variants: Variants, capsys: pytest.CaptureFixture[str]) -> None:
    run = _renamed(variants, capsys, "--json", "--allow", "NoSuchResource")
    assert run.code == exit_codes.BLOCKED
    document = json.loads(run.out)
    assert document["exit_code"] == exit_codes.BLOCKED and document["blocked"] is True
    assert document["ok"] is False
    [finding] = [f for f in document["findings"] if f["severity"] == "block"]
    assert finding == {
        "rule": "replaced",
        "severity": "block",
        "logical_id": TABLE,
        "resource_type": GLOBAL_TABLE,
        "property": "TableName",
        "detail": finding["detail"],
        "path": None,  # in-process synthesis records no construct paths; `cdk synth` does
        "allowed": False,
    }
    assert finding["detail"].startswith('"app-data" -> "app-data-v2"')
    assert document["unused_allowances"] == ["NoSuchResource"]
    assert {
        "kind": "replaced",
        "logical_id": "BackupsPlanSelection05C715B1",
        "resource_type": "AWS::Backup::BackupSelection",
        "properties": ["BackupSelection"],
    } in document["changes"]


def test_a_baseline_may_be_a_cloud_assembly_or_yaml(
    variants: Variants, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # a pipeline synthesizes main into a directory and passes the directory
    run = run_guard(capsys, variants.assembly("committed"), variants.assembly("table-name"))
    assert run.code == exit_codes.BLOCKED
    assert run.findings() == {(TABLE, GLOBAL_TABLE, "TableName", "replaced")}
    yaml_file = tmp_path / "baseline.yaml"
    yaml_file.write_text(
        "Resources:\n"
        f"  {TABLE}:\n"
        f"    Type: {GLOBAL_TABLE}\n"
        "    DeletionPolicy: Retain\n"
        "    Properties:\n"
        "      TableName: app-data\n"
        "      SSESpecification: {SSEEnabled: true}\n"
        "      Replicas:\n"
        "        - Region: !Ref AWS::Region\n"
    )
    run = run_guard(capsys, yaml_file, variants.assembly("table-name"))
    assert run.code == exit_codes.BLOCKED
    assert run.findings() == {(TABLE, GLOBAL_TABLE, "TableName", "replaced")}


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(["guard", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return code, lines[0]


def test_unknown_environment(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, line = _error(capsys, "--env", "staging", "--baseline", str(tmp_path))
    assert code == exit_codes.USAGE
    assert line == "error: unknown environment 'staging': cdk.json defines dev, prod"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "error: cannot read --baseline {path}: No such file or directory"),
        ('{"AWSTemplateFormatVersion": "2010-09-09"}', "error: --baseline {path} is not a "
         "CloudFormation template (no Resources object)"),
        ("Resources: [unclosed", "error: --baseline {path} is neither JSON nor YAML: "),
        ('{"Resources": {"Table": {"Properties": {}}}}',
         "error: --baseline {path}: resource Table has no Type"),
        (b"\x1f\x8b\x08\x00binary", "error: cannot read --baseline {path}: not UTF-8 text"),
    ],
    ids=["missing", "not-a-template", "garbage", "no-type", "binary"],
)  # fmt: skip
def test_unreadable_baseline(
    variants: Variants,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | bytes | None,
    expected: str,
) -> None:
    path = tmp_path / "main.template.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    args = [
        "--env",
        "prod",
        "--baseline",
        str(path),
        "--cdk-out",
        str(variants.assembly("committed")),
    ]
    code, line = _error(capsys, *args)
    assert code == exit_codes.USAGE
    assert line.startswith(expected.format(path=path))


@pytest.mark.parametrize("artifacts", ["{}", "[]"])
def test_an_assembly_without_the_stack(
    variants: Variants, capsys: pytest.CaptureFixture[str], tmp_path: Path, artifacts: str
) -> None:
    (tmp_path / "manifest.json").write_text(f'{{"version": "48.0.0", "artifacts": {artifacts}}}')
    args = ["--env", "prod", "--baseline", str(variants.template_file("committed"))]
    code, line = _error(capsys, *args, "--cdk-out", str(tmp_path))
    assert code == exit_codes.USAGE
    assert line == (
        f"error: {tmp_path} holds no stack DatabaseStack-prod: "
        f"run `cdk synth -c env=prod -o {tmp_path}`"
    )


def test_a_malformed_allow(variants: Variants, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--env", "prod", "--baseline", str(variants.template_file("committed"))]
    code, line = _error(capsys, *args, "--allow", ":replaced")
    assert code == exit_codes.USAGE
    assert line == "error: --allow ':replaced': expected LOGICAL_ID or LOGICAL_ID:RULE"
