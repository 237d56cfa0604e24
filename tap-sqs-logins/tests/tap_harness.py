"""Shared pieces for the tap's tests: an in-process SQS (moto), sample logins and a tap runner.

The project's own tests (tests/unit at the repository root) use them too, through the root
pytest ``pythonpath``; this directory is their one home.
"""

from __future__ import annotations

import io
import json
import threading
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import SQSBackend

from tap_sqs_logins.tap import TapSqsLogins

if TYPE_CHECKING:
    from collections.abc import Iterator

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
LOGIN = {
    "user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae",
    "app_version": "2.3.0",
    "device_type": "android",
    "ip": "199.172.111.135",
    "locale": None,
    "device_id": "593-47-5928",
}
FOREIGN_MESSAGE = {"foo": "oops_wrong_msg_type", "bar": "123"}


@contextmanager
def in_process_sqs() -> Iterator[Any]:
    """Yield a boto3 SQS client on moto's in-process fake, with dummy credentials.

    moto's ``receive_message`` has no lock, so concurrent receivers could both take one
    message (real SQS hides it atomically): moto's receives are serialised here.
    """
    lock = threading.Lock()
    receive = SQSBackend.receive_message

    def receive_atomically(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return receive(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "test")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        patch.setattr(SQSBackend, "receive_message", receive_atomically)
        with mock_aws():
            yield boto3.client("sqs", region_name=REGION)


@pytest.fixture
def sqs() -> Iterator[Any]:
    """A boto3 SQS client on moto's in-process fake, for one test."""
    with in_process_sqs() as client:
        yield client


@pytest.fixture
def queue_url(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName="login-queue")["QueueUrl"])


@pytest.fixture
def config(queue_url: str) -> dict[str, Any]:
    return {
        "queue_url": queue_url,
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


def run_tap(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a full sync in-process and return the Singer messages it wrote."""
    out = io.StringIO()
    with redirect_stdout(out):
        TapSqsLogins(config=config).sync_all()
    return [json.loads(line) for line in out.getvalue().splitlines() if line]


def records(messages: list[dict[str, Any]], stream: str = "logins") -> list[dict[str, Any]]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
