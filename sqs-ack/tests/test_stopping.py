"""A stop while sqs-ack offers messages back does not cut the offer-back short."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws
from sqs_ack import loader
from sqs_ack.unloaded import Unloaded

if TYPE_CHECKING:
    from collections.abc import Iterator

CONFIG = {
    "region": "us-east-1",
    "aws_access_key_id": "test",
    "aws_secret_access_key": "test",
    "receive_concurrency": 4,
}


@pytest.fixture
def handlers() -> Iterator[None]:
    """sqs-ack's own SIGTERM and SIGINT handlers, as main() installs them."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    for signum in saved:
        signal.signal(signum, loader._stop)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("handlers")
@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGINT, signal.SIGTERM]])
@mock_aws
def test_signals_while_a_failed_load_is_offered_back(signals: list[signal.Signals]) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="logins")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"]
    unloaded = Unloaded()
    record = {"queue_url": url, "receipt_handle": message["ReceiptHandle"]}
    unloaded.watch(json.dumps({"type": "RECORD", "stream": "logins", "record": record}).encode())
    unloaded.watch(b"\n")
    feed = threading.Thread(target=time.sleep, args=(1,))  # still reading what the tap sends
    feed.start()

    def stop() -> None:
        for signum in signals:
            time.sleep(0.2)
            os.kill(os.getpid(), signum)

    threading.Thread(target=stop).start()
    loader._offer_back(feed, unloaded, CONFIG)

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"
