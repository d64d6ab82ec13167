"""Replacement rules from the CloudFormation resource provider schemas that cfn-lint ships.

``createOnlyProperties`` lists what CloudFormation can change only by replacing
the resource; ``conditionalCreateOnlyProperties`` what may replace it, depending
on the change. The files are read straight from cfn-lint's package directory:
importing cfn-lint itself costs over a second, and only its data is needed here.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

DEFAULT_REGION = "us-east-1"


class SchemaError(RuntimeError):
    """cfn-lint's schemas cannot be read (not installed, or a file unreadable)."""


@dataclass(frozen=True)
class ReplacementRules:
    """One resource type's property paths (top-level names, or ``A/B`` below them)."""

    create_only: tuple[str, ...] = ()
    conditional: tuple[str, ...] = ()
    known: bool = True
    """False for a type the schemas do not describe (custom resources, SAM)."""


def schemas_dir() -> Path:
    spec = find_spec("cfnlint")
    if spec is None or spec.origin is None:
        raise SchemaError(
            "cfn-lint, whose resource schemas the guard reads, is not installed: run `make install`"
        )
    return Path(spec.origin).parent / "data" / "schemas"


@functools.cache
def _providers(region: str) -> dict[str, str]:
    path = schemas_dir() / "providers" / f"{region}.json"
    if not path.is_file():
        path = schemas_dir() / "providers" / f"{DEFAULT_REGION}.json"
    providers: dict[str, str] = _read(path)
    return providers


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SchemaError(f"cannot read cfn-lint's schema {path}: {exc}") from exc


@functools.cache
def rules_for(resource_type: str, region: str = DEFAULT_REGION) -> ReplacementRules:
    """The replacement rules of ``resource_type`` as the schemas of ``region`` state them."""
    name = _providers(region).get(resource_type)
    if name is None:
        return ReplacementRules(known=False)
    schema = _read(schemas_dir() / "resources" / f"{name}.json")
    return ReplacementRules(
        create_only=_paths(schema.get("createOnlyProperties", ())),
        conditional=_paths(schema.get("conditionalCreateOnlyProperties", ())),
    )


def _paths(pointers: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``/properties/KeySchema`` -> ``KeySchema``; nested pointers keep their ``/``."""
    prefix = "/properties/"
    return tuple(p[len(prefix) :] for p in pointers if p.startswith(prefix))
