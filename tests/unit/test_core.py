"""The Singer SDK's standard tap tests, against moto's SQS served over HTTP in-process."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING

import boto3
import pytest
from moto.server import ThreadedMotoServer
from singer_sdk.testing import get_tap_test_class

from localenv.sample import sample_bodies
from tap_sqs_logins.tap import TapSqsLogins
from tests.unit.conftest import MASKING_MAPS, REGION

if TYPE_CHECKING:
    from collections.abc import Iterator


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


ENDPOINT = f"http://127.0.0.1:{_free_port()}"
CONFIG = {
    "endpoint_url": ENDPOINT,
    "queue_url": f"{ENDPOINT}/123456789012/core-login-queue",
    "region": REGION,
    "aws_access_key_id": "test",
    "aws_secret_access_key": "test",
    "wait_time_seconds": 0,
    "visibility_timeout": 30,
    "mask_key": "unit-test-key-0123456789",
    "stream_maps": MASKING_MAPS,
}


@pytest.fixture(scope="module", autouse=True)
def seeded_queue() -> Iterator[None]:
    """Serve SQS on ENDPOINT with a queue of sample logins for the suite's syncs."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(ENDPOINT.rsplit(":", 1)[1]))
    server.start()
    sqs = boto3.client(
        "sqs",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    url = sqs.create_queue(QueueName="core-login-queue")["QueueUrl"]
    for body in sample_bodies(40):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    yield
    server.stop()


TestTapSqsLogins = get_tap_test_class(tap_class=TapSqsLogins, config=CONFIG)


def test_sample_bodies_are_json_strings() -> None:
    assert all(isinstance(json.loads(body), dict) for body in sample_bodies(5))
