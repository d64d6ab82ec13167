"""``python -m ops backup status``: one job's state, or ``--wait`` until it ends.

The id may be an AWS Backup backup or restore job, a DynamoDB backup ARN or an
RDS cluster snapshot id/ARN (`ops.jobs.describe` tells them apart); exit 4 if
the job failed, aborted or expired.
"""

from __future__ import annotations

import argparse

from ops import jobs
from ops.aws import Aws
from ops.command import Outcome


def cmd_status(args: argparse.Namespace, aws: Aws) -> Outcome:
    job_id = str(args.job_id)
    if args.wait:
        statuses = jobs.wait_all(
            [lambda: jobs.describe(aws, job_id)],
            interval=args.poll_seconds,
            progress=jobs.stderr_progress("backup"),
        )
    else:
        statuses = [jobs.describe(aws, job_id)]
    status = statuses[0]
    return Outcome(
        {"region": aws.region, "job": status.to_dict()}, status.line(), jobs.exit_code_of(statuses)
    )
