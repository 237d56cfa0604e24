"""An in-process SQS (moto) with its fixtures, sample logins and SNS envelopes, a tap runner."""

from __future__ import annotations

import io
import json
import threading
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import Queue, SQSBackend

from tap_sqs_logins.tap import TapSqsLogins

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REGION = "us-east-1"
MASK_KEY = "unit-test-key-0123456789"
MASKING_MAPS = {
    "logins": {
        "masked_ip": "mask(ip)",
        "masked_device_id": "mask(device_id)",
        "ip": "__NULL__",
        "device_id": "__NULL__",
    }
}
# One valid login, as a producer sends it.
LOGIN: dict[str, Any] = {
    "user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae",
    "app_version": "2.3.0",
    "device_type": "android",
    "ip": "199.172.111.135",
    "locale": None,
    "device_id": "593-47-5928",
}
FOREIGN_MESSAGE = {"foo": "oops_wrong_msg_type", "bar": "123"}
TOPIC = "arn:aws:sns:us-east-1:123456789012:logins"


@contextmanager
def in_process_sqs() -> Iterator[Any]:
    """Yield a boto3 SQS client on moto's in-process fake, with dummy credentials.

    moto's ``receive_message`` and ``delete_message`` take no lock, so concurrent receivers
    could both take one message and of concurrent deletes some are lost (real SQS does
    neither): both are serialised here.
    """
    lock = threading.Lock()
    receive, delete = SQSBackend.receive_message, Queue.delete_message

    def receive_atomically(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return receive(*args, **kwargs)

    def delete_atomically(*args: Any) -> None:
        with lock:
            delete(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "test")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        patch.setattr(SQSBackend, "receive_message", receive_atomically)
        patch.setattr(Queue, "delete_message", delete_atomically)
        with mock_aws():
            yield boto3.client("sqs", region_name=REGION)


@pytest.fixture
def sqs() -> Iterator[Any]:
    """A boto3 SQS client on moto's in-process fake, for one test."""
    with in_process_sqs() as client:
        yield client


@pytest.fixture
def queue_url(sqs: Any) -> str:
    """A new queue on the in-process SQS."""
    return str(sqs.create_queue(QueueName="login-queue")["QueueUrl"])


@pytest.fixture
def config(queue_url: str, tmp_path: Path) -> dict[str, Any]:
    """The tap's config for that queue: masking maps and key, no long polling."""
    return {
        "queue_url": queue_url,
        "journal_dir": str(tmp_path / "journal"),
        "region": REGION,
        "wait_time_seconds": 0,
        "mask_key": MASK_KEY,
        "stream_maps": MASKING_MAPS,
    }


def sample_logins(count: int, foreign_index: int | None = None) -> list[str]:
    """Bodies of ``count`` distinct valid logins; a foreign message at ``foreign_index``."""
    bodies = [
        json.dumps(
            {
                "user_id": f"user-{index}",
                "app_version": f"2.{index % 10}.0",
                "device_type": ("android", "ios")[index % 2],
                "ip": f"10.0.{index // 256}.{index % 256}",
                "locale": None if index % 3 == 0 else "FR",
                "device_id": f"{index % 1000:03d}-47-5928",
            }
        )
        for index in range(count)
    ]
    if foreign_index is not None:
        bodies[foreign_index] = json.dumps(FOREIGN_MESSAGE)
    return bodies


def envelope(kind: Any = "Notification", message: Any = "", attributes: Any = None) -> str:
    """An SNS envelope as SQS receives it with raw message delivery off (AWS's example)."""
    body = {
        "Type": kind,
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": message,
        "Timestamp": "2026-05-02T00:54:06.655Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEw6JRN",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3.pem",
    }
    if attributes is not None:
        body["MessageAttributes"] = attributes
    return json.dumps(body, allow_nan=True)


def run_tap(
    config: dict[str, Any], state: dict[str, Any] | None = None, out: io.StringIO | None = None
) -> list[dict[str, Any]]:
    """Run a full sync in-process from ``state``; return the Singer messages it wrote.

    ``out`` stands for the tap's standard output (a target's input) if given.
    """
    out = out or io.StringIO()
    with redirect_stdout(out):
        TapSqsLogins(config=config, state=state).sync_all()
    return [json.loads(line) for line in out.getvalue().splitlines() if line]


def records(messages: list[dict[str, Any]], stream: str = "logins") -> list[dict[str, Any]]:
    """The records of `stream` among Singer messages."""
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
