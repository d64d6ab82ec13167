"""``--env ENV`` for migrate and access: the RDS Data API, as the migration Lambda uses it.

The deployed cluster sits in an isolated VPC; the Data API reaches it without a
tunnel. The cluster ARN, the secret ARN and the database name come from what
``DatabaseStack-ENV`` publishes (`ops.discovery`: SSM parameters first, stack
outputs as fallback), and the transport is the migration-runner Lambda's: one
statement per call, retries on a resuming cluster, ``continueAfterTimeout``
for non-transactional statements.

Imported only when ``--env`` is used: it pulls in boto3 and botocore, which
``--database-url`` never pays for.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from dbmigrate.transports.data_api import (
    CallCutError,
    DataApiError,
    DataApiTransport,
    TransportError,
    make_rds_data_client,
)
from ops import exit_codes
from ops.aws import Aws, explain
from ops.command import find_deployment, open_aws
from ops.discovery import DATA_API, Deployment
from ops.errors import OpsError

_NOT_FOUND = frozenset({"NotFoundException", "DatabaseNotFoundException"})


@contextmanager
def data_api_transport(args: argparse.Namespace, *, label: str) -> Iterator[DataApiTransport]:
    """A transport on ``--env``'s cluster; Data API failures in the block become `OpsError`.

    Discovery and client errors are `OpsError` already (`ops.aws.call`), with
    the ops CLI's exit codes: 5 credentials/access, 6 not deployed or missing.
    """
    aws = open_aws(args)
    deployment = find_deployment(aws, args, also=DATA_API)
    transport = transport_for(aws, deployment)
    print(
        f"{label}: {deployment.stack_name} ({aws.region}, from {deployment.source}): "
        f"database {deployment.database_name} on {deployment.cluster_id}, over the RDS Data API",
        file=sys.stderr,
    )
    try:
        yield transport
    except TransportError as exc:
        raise explain_transport_error(exc, deployment, aws.region) from exc
    finally:
        transport.close()


def transport_for(aws: Aws, deployment: Deployment) -> DataApiTransport:
    """The Data API transport on a discovered deployment (found with ``also=DATA_API``)."""
    secret_arn, database = _require(deployment.secret_arn), _require(deployment.database_name)
    try:
        if aws.session is not None:
            client = make_rds_data_client(region=aws.region, session=aws.session)
        else:  # a test's client factory
            client = aws.client("rds-data")
    except (ClientError, BotoCoreError) as exc:
        raise explain(exc, "rds-data", "creating the rds-data client", aws.region) from exc
    return DataApiTransport(client, deployment.cluster_arn, secret_arn, database)


def explain_transport_error(exc: TransportError, deployment: Deployment, region: str) -> OpsError:
    """One line and an exit code for a Data API failure outside a migration statement.

    Access and credential failures map as for every ops command (`ops.aws.explain`);
    a cluster or secret the Data API does not find is "not found" (6).
    """
    code, detail = (exc.code, exc.message) if isinstance(exc, DataApiError) else ("", str(exc))
    if code in _NOT_FOUND:
        return OpsError(
            f"the Data API does not find cluster {deployment.cluster_arn} or its secret, as "
            f"published for {deployment.stack_name} ({detail}): is it deployed in {region}?",
            exit_codes.NOT_FOUND,
        )
    if code == "HttpEndpointNotEnabledException":
        return OpsError(
            f"the Data API is not enabled on cluster {deployment.cluster_id}: deploy "
            f"{deployment.stack_name} (its cluster enables it)",
        )
    cause = exc.__cause__
    # A cut call is not an unreachable endpoint; its own message says what happened.
    if isinstance(cause, (ClientError, BotoCoreError)) and not isinstance(exc, CallCutError):
        operation = exc.operation if isinstance(exc, DataApiError) else "the Data API call"
        return explain(cause, "rds-data", operation, region)
    return OpsError(str(exc))


def _require(value: str | None) -> str:
    if not value:  # discover(also=DATA_API) refuses a deployment without them
        raise OpsError("the stack published no Data API secret or database", exit_codes.NOT_FOUND)
    return value
