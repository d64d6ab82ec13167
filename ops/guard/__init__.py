"""``python -m ops guard --env ENV``: refuse a deploy that would replace, remove or unprotect a
stateful resource, before CloudFormation starts.

It compares the environment's newly synthesized template (``cdk synth``, or an
assembly already synthesized with ``--cdk-out``) with a baseline: the deployed
stack's template (CloudFormation GetTemplate) or ``--baseline FILE``. The rules
are `deployguard`'s; exit 9 when a blocking finding is not ``--allow``-ed.

This module is the parser; `ops.guard.run` runs it (botocore, imported then).
"""

from __future__ import annotations

import argparse
from typing import Any

from ops import exit_codes, options


def register(groups: Any) -> None:
    """Add ``guard`` (no subcommands) to ``python -m ops``."""
    parser = groups.add_parser(
        "guard",
        help="refuse a deploy that would replace, drop or unprotect a stateful resource (exit 9)",
        description=(
            "Compare ENV's newly synthesized template with the deployed stack's (or --baseline)\n"
            "and refuse, with one line per finding, a change that would replace or remove a\n"
            "table, cluster, key, secret or vault, create two GSIs at once, switch deletion\n"
            "protection or PITR off, weaken a Retain/Snapshot policy or change Aurora's major\n"
            "version. Capacity, PITR and backup retention cuts are warnings."
        ),
        epilog=exit_codes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--env", required=True, metavar="ENV", help="environment name in cdk.json (dev, prod, ...)"
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="compare with this template (JSON or YAML) or cloud assembly directory, "
        "e.g. main's, instead of the deployed stack's",
    )
    parser.add_argument(
        "--cdk-out",
        metavar="DIR",
        help="read ENV's new template from this cloud assembly instead of running `cdk synth`",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="LOGICAL_ID[:RULE]",
        help="accept that resource's findings (of RULE only) on purpose; repeatable",
    )
    parser.add_argument(
        "--new-stack-ok",
        action="store_true",
        help="a stack that is not deployed yet passes (a first deploy) instead of exit 6",
    )
    options.add_aws_options(parser, suppress=False)
    parser.set_defaults(handler=_handler, command="guard", connect=None, ssm_prefix=None)


def _handler(args: argparse.Namespace) -> int:
    from ops.guard.run import run  # noqa: PLC0415 - botocore only when it runs

    return run(args)
