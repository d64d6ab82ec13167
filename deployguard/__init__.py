"""The deploy guard: what a new template would do to the stateful resources a baseline holds.

A library with no CDK and no AWS imports, used by ``python -m ops guard`` (which
finds the two templates) and its tests. It compares two CloudFormation templates
as plain dictionaries:

* `deployguard.schemas`: which properties CloudFormation can change only by
  replacement, from the resource provider schemas cfn-lint ships;
* `deployguard.template`: one template's resources, references and stateful set;
* `deployguard.replacement`: which resources the update would replace, following
  references (a replaced key changes the ARN its users name);
* `deployguard.rules`: the findings, blocking or warning, one rule per function;
* `deployguard.check`: both together, with ``--allow`` applied, as a `Report`.
"""

from deployguard.check import check
from deployguard.model import Allowance, Change, Finding, Report, Severity
from deployguard.schemas import SchemaError
from deployguard.template import TemplateError

__all__ = [
    "Allowance",
    "Change",
    "Finding",
    "Report",
    "SchemaError",
    "Severity",
    "TemplateError",
    "check",
]
