"""The boto3 session of the tap's settings: keys, a profile, and an optional assumed role.

Credentials come from, in order: ``aws_access_key_id``/``aws_secret_access_key``, or
``aws_profile``, or boto3's standard chain. With ``aws_assume_role_arn`` those credentials
only call STS ``AssumeRole``; the role's credentials are fetched on first use and
refreshed before they expire, so a long run never stops on an expired token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

if TYPE_CHECKING:
    from collections.abc import Mapping

ROLE_SETTINGS = "aws_assume_role_arn and aws_assume_role_external_id"


class AwsSessionError(RuntimeError):
    """AWS credentials cannot be set up as configured; the message names the setting."""


def aws_session(config: Mapping[str, Any], endpoint: str | None) -> boto3.session.Session:
    """Return the session of ``config``; nothing is sent to AWS yet.

    Args:
        config: The tap settings (region, keys or aws_profile, optional aws_assume_role_*).
        endpoint: The LocalStack or moto endpoint, used for STS too; None for AWS.

    Raises:
        AwsSessionError: If the settings conflict or the profile does not exist.
    """
    if config.get("aws_profile") and config.get("aws_access_key_id"):
        msg = "set aws_profile or aws_access_key_id, not both"
        raise AwsSessionError(msg)
    try:
        session = boto3.session.Session(
            aws_access_key_id=config.get("aws_access_key_id"),
            aws_secret_access_key=config.get("aws_secret_access_key"),
            aws_session_token=config.get("aws_session_token"),
            profile_name=config.get("aws_profile"),
            region_name=config["region"],
        )
    except ProfileNotFound:
        msg = f"AWS profile {config['aws_profile']!r} is not configured: check aws_profile"
        raise AwsSessionError(msg) from None
    if endpoint and session.get_credentials() is None:
        # LocalStack and moto accept any credentials; AWS never sees these.
        session = boto3.session.Session("test", "test", region_name=config["region"])
    if config.get("aws_assume_role_arn"):
        return _assumed_role_session(session, config, endpoint)
    return session


def _assumed_role_session(
    base: boto3.session.Session, config: Mapping[str, Any], endpoint: str | None
) -> boto3.session.Session:
    sts = base.client("sts", endpoint_url=endpoint)
    request = {
        "RoleArn": config["aws_assume_role_arn"],
        "RoleSessionName": config["aws_assume_role_session_name"],
    }
    if config.get("aws_assume_role_external_id"):
        request["ExternalId"] = config["aws_assume_role_external_id"]

    def fetch() -> dict[str, str]:
        try:
            credentials = sts.assume_role(**request)["Credentials"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            msg = f"STS refused AssumeRole ({code}): check {ROLE_SETTINGS}"
            raise AwsSessionError(msg) from None
        except BotoCoreError as error:
            msg = f"cannot assume the role ({type(error).__name__}): check {ROLE_SETTINGS}"
            raise AwsSessionError(msg) from None
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    core = botocore.session.get_session()
    core._credentials = DeferredRefreshableCredentials(fetch, "sts-assume-role")
    return boto3.session.Session(botocore_session=core, region_name=config["region"])
