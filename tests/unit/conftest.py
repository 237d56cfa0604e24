"""Shared pieces for the tap's unit tests: an in-process SQS (moto) and a tap runner."""

from __future__ import annotations

import io
import json
import threading
from contextlib import redirect_stdout
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import SQSBackend

from tap_sqs_logins.tap import TapSqsLogins

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION = "us-east-1"
MASKING_MAPS = {
    "logins": {
        "masked_ip": "mask(ip)",
        "masked_device_id": "mask(device_id)",
        "ip": "__NULL__",
        "device_id": "__NULL__",
    }
}


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 SQS client on moto's in-process fake.

    moto's ``receive_message`` has no lock, so concurrent receivers could both take one
    message (real SQS hides it atomically): the fixture serialises moto's receives.
    """
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    lock = threading.Lock()
    receive = SQSBackend.receive_message

    def receive_atomically(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return receive(*args, **kwargs)

    monkeypatch.setattr(SQSBackend, "receive_message", receive_atomically)
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


@pytest.fixture
def queue_url(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName="login-queue")["QueueUrl"])


@pytest.fixture
def config(queue_url: str) -> dict[str, Any]:
    return {
        "queue_url": queue_url,
        "region": REGION,
        "wait_time_seconds": 0,
        "mask_key": "unit-test-key-0123456789",
        "stream_maps": MASKING_MAPS,
    }


def run_tap(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a full sync in-process and return the Singer messages it wrote."""
    out = io.StringIO()
    with redirect_stdout(out):
        TapSqsLogins(config=config).sync_all()
    return [json.loads(line) for line in out.getvalue().splitlines() if line]


def records(messages: list[dict[str, Any]], stream: str = "logins") -> list[dict[str, Any]]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
