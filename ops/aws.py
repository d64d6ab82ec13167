"""AWS sessions for the ops commands, and botocore failures turned into one line and an exit code.

Credentials and region resolve as in the AWS CLI: ``--profile``/``--region``
first, then boto3's own chain (AWS_PROFILE, AWS_REGION, AWS_DEFAULT_REGION, the
profile's config, SSO, instance roles). ``AWS_ENDPOINT_URL`` (honoured by
boto3) points every client at an emulator in tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from botocore import xform_name
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from ops import exit_codes
from ops.errors import OpsError

NO_CREDENTIALS = "no AWS credentials: set AWS_PROFILE or run `aws configure` / `aws sso login`"
_CREDENTIAL_ERRORS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
    SSOError,
)
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)
_ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AccessDeniedFault",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnauthorizedException",
        "ForbiddenException",
    }
)
_BAD_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "RequestExpired",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "TableNotFoundException",
        "BackupNotFoundException",
        "DBClusterNotFoundFault",
        "DBClusterSnapshotNotFoundFault",
        "ParameterNotFound",
        "NotFound",
    }
)
_ALREADY_EXISTS = frozenset(
    {"TableAlreadyExistsException", "DBClusterAlreadyExistsFault", "AlreadyExistsException"}
)
_DENIED_ACTION = re.compile(r"perform:? ([a-z0-9-]+:[A-Za-z0-9*]+)")
_DENIED_RESOURCE = re.compile(r"on resource:? (\S+)")


class Aws:
    """Clients of one region, created once each; ``factory`` is replaceable in tests.

    ``session`` is the boto3 session behind the factory (None for test factories), for
    clients that need a configuration of their own (the Data API transport's).
    """

    def __init__(self, region: str, factory: Callable[[str], Any], session: Any = None) -> None:
        self.region = region
        self.session = session
        self._factory = factory
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._factory(service)
        return self._clients[service]


def connect(profile: str | None, region: str | None, fallback_region: str | None = None) -> Aws:
    """An `Aws` for ``--profile``/``--region`` as the AWS CLI resolves them.

    ``fallback_region`` (the environment's region in cdk.json) is used only when
    neither the flag, the environment variables nor the profile name a region.
    """
    # ~0.3 s of imports that `python -m ops migrate` never needs: paid only here.
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise OpsError(
            f"AWS profile {exc.kwargs.get('profile', profile)!r} is not in ~/.aws/config: "
            "check --profile / AWS_PROFILE or run `aws configure --profile NAME`",
            exit_codes.AWS_AUTH,
        ) from exc
    chosen = session.region_name or fallback_region
    if not chosen:
        raise OpsError(
            "no AWS region: pass --region or set AWS_REGION (or a region in the profile)",
            exit_codes.USAGE,
        )
    config = Config(
        region_name=chosen,
        retries={"mode": "standard"},  # AWS_MAX_ATTEMPTS still applies (default 3)
        connect_timeout=10,
        read_timeout=60,
    )
    return Aws(chosen, lambda service: session.client(service, config=config), session)


def call(
    aws: Aws, service: str, operation: str, *, not_found: str | None = None, **params: Any
) -> dict[str, Any]:
    """``client.<operation>(**params)``, every failure raised as an `OpsError`.

    ``operation`` is the API name (``CreateBackup``); ``not_found`` phrases a
    not-found answer ("table app-data"), which then exits `NOT_FOUND`. Creating the
    client is inside too: boto3 refuses partial credentials (a key id without its
    secret) there, not at the call.
    """
    try:
        method = getattr(aws.client(service), xform_name(operation))
        result: dict[str, Any] = method(**params)
    except (ClientError, BotoCoreError) as exc:
        raise explain(exc, service, operation, aws.region, not_found=not_found) from exc
    return result


def explain(
    exc: Exception, service: str, operation: str, region: str, *, not_found: str | None = None
) -> OpsError:
    """The operator's one-line reading of a botocore failure."""
    if isinstance(exc, ClientError):
        return _explain_client_error(exc, service, operation, region, not_found)
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return OpsError(NO_CREDENTIALS, exit_codes.AWS_AUTH)
    if isinstance(exc, _UNREACHABLE):
        return OpsError(f"cannot reach the AWS endpoint ({exc}): check the region and network")
    if isinstance(exc, ParamValidationError):
        return OpsError(f"invalid request to {operation}: {exc}", exit_codes.USAGE)
    return OpsError(f"{operation} failed: {exc}")


def _explain_client_error(
    exc: ClientError, service: str, operation: str, region: str, not_found: str | None
) -> OpsError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or code
    if code in _ACCESS_DENIED:
        return OpsError(
            access_denied_message(message, f"{service}:{operation}"), exit_codes.AWS_AUTH
        )
    if code in _BAD_CREDENTIALS:
        return OpsError(
            f"AWS rejected the credentials ({code}): run `aws sso login` or refresh the keys",
            exit_codes.AWS_AUTH,
        )
    if code in _ALREADY_EXISTS:
        return OpsError(f"{operation} refused, choose a new name: {message}", exit_codes.USAGE)
    if code in NOT_FOUND_CODES and not_found:
        return OpsError(f"{not_found} not found in {region}", exit_codes.NOT_FOUND)
    return OpsError(f"{operation} failed ({code}): {message}")


def access_denied_message(message: str, called: str) -> str:
    """Name the missing IAM action: from the service's message if it says, else the API called."""
    action = _DENIED_ACTION.search(message)
    text = f"access denied: missing permission {action.group(1) if action else called}"
    resource = _DENIED_RESOURCE.search(message)
    if resource:
        text += f" on {resource.group(1)}"
    return text


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError (directly or as an OpsError's cause), else ''."""
    cause = exc.__cause__ if isinstance(exc, OpsError) else exc
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return ""
