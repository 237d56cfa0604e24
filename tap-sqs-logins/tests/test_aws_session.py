"""AWS credentials: keys, a named profile, an assumed role (moto's STS), errors naming settings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from botocore.client import BaseClient
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError
from singer_sdk.exceptions import FatalAPIError

from tap_sqs_logins.sqs.client import QueueError, SqsQueue
from tap_sqs_logins.sqs.session import AwsSessionError, aws_session
from tap_sqs_logins.testing import REGION, records, run_tap

if TYPE_CHECKING:
    from pathlib import Path

ROLE = "arn:aws:iam::123456789012:role/login-reader"
SESSION = {"region": REGION, "aws_assume_role_session_name": "tap-sqs-logins"}


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A profile 'reader' in a private AWS credentials file."""
    credentials = tmp_path / "credentials"
    credentials.write_text("[reader]\naws_access_key_id = AKIDREADER\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    return "reader"


def test_a_named_profile_gives_its_credentials(sqs: Any, profile: str) -> None:
    session = aws_session({**SESSION, "aws_profile": profile}, None)
    assert session.get_credentials().access_key == "AKIDREADER"


def test_a_missing_profile_is_named(sqs: Any, profile: str) -> None:
    with pytest.raises(QueueError, match="check aws_profile"):
        SqsQueue({**SESSION, "aws_profile": "nobody"}, "https://sqs.example/1/q")


def test_keys_and_a_profile_together_are_refused(sqs: Any, profile: str) -> None:
    config = {**SESSION, "aws_profile": profile, "aws_access_key_id": "AKID"}
    with pytest.raises(AwsSessionError, match="aws_profile or aws_access_key_id"):
        aws_session(config, None)


def test_an_assumed_role_reads_the_queue(sqs: Any, queue_url: str, config: dict[str, Any]) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="{}")
    out = records(run_tap({**config, "aws_assume_role_arn": ROLE}))
    assert len(out) == 1


def test_assumed_role_credentials_refresh_and_carry_the_external_id(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {**SESSION, "aws_assume_role_arn": ROLE, "aws_assume_role_external_id": "ext-42"}
    session = aws_session(config, None)
    credentials = session._session.get_credentials()
    assert isinstance(credentials, RefreshableCredentials)
    calls: list[dict[str, Any]] = []
    call = BaseClient._make_api_call

    def spy(self: Any, operation: str, request: Any) -> Any:
        response = call(self, operation, request)
        if operation == "AssumeRole":
            calls.append(request)
            soon = datetime.now(timezone.utc) + timedelta(seconds=30)  # in the refresh window
            response["Credentials"]["Expiration"] = soon
        return response

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    first = credentials.get_frozen_credentials()
    second = credentials.get_frozen_credentials()
    assert first.access_key.startswith("ASIA") and first.token
    assert len(calls) == 2 and first.access_key != second.access_key
    assert calls[0] == {
        "RoleArn": ROLE,
        "RoleSessionName": "tap-sqs-logins",
        "ExternalId": "ext-42",
    }


def test_a_refused_assume_role_names_the_settings(
    sqs: Any, queue_url: str, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    call = BaseClient._make_api_call

    def refuse(self: Any, operation: str, request: Any) -> Any:
        if operation == "AssumeRole":
            raise ClientError({"Error": {"Code": "AccessDenied"}}, operation)
        return call(self, operation, request)

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse)
    with pytest.raises(FatalAPIError, match="check aws_assume_role_arn") as error:
        run_tap({**config, "aws_assume_role_arn": ROLE})
    assert "AccessDenied" in str(error.value)
