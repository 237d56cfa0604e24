"""When the check fails, the records the tap sends, to the end of its output, are offered back."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from sqs_ack.unloaded import READ_SECONDS, Unloaded, offer_again

CONFIG = {
    "region": "us-east-1",
    "aws_access_key_id": "test",
    "aws_secret_access_key": "test",
    "receive_concurrency": 4,
}


def singer_lines(records: list[dict[str, Any]]) -> bytes:
    lines = [{"type": "SCHEMA", "stream": "logins", "schema": {}, "key_properties": []}]
    lines += [{"type": "RECORD", "stream": "logins", "record": record} for record in records]
    lines.append({"type": "STATE", "value": {}})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


@mock_aws
def test_the_received_messages_in_the_pipe_become_visible_again() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="logins")["QueueUrl"]
    for n in range(23):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    received = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        received += batch
    assert len(received) == 23
    records = [{"queue_url": url, "receipt_handle": m["ReceiptHandle"]} for m in received]
    records.append({"queue_url": url})  # a record without a handle is skipped
    read, write = os.pipe()
    data = singer_lines(records)
    data = data[:-5]  # the tap's last line cut short: only whole lines count
    os.write(write, data)
    os.close(write)

    with os.fdopen(read, "rb") as stream:
        assert offer_again(stream, CONFIG) == 23

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "23"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


@mock_aws
def test_what_the_tap_sends_late_is_offered_back_too() -> None:
    """A receive pending when the check failed brings messages seconds later: read to the end."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="logins")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="late")
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    read, write = os.pipe()

    def send_late() -> None:
        time.sleep(READ_SECONDS + 1)
        record = {"queue_url": url, "receipt_handle": message["ReceiptHandle"]}
        os.write(write, singer_lines([record]))
        os.close(write)

    sender = threading.Thread(target=send_late)
    sender.start()
    with os.fdopen(read, "rb") as stream:
        assert offer_again(stream, CONFIG) == 1
    sender.join()
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"


@given(cuts=st.lists(st.integers(min_value=0), max_size=12), settled=st.sets(st.integers(0, 24)))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_what_was_passed_on_and_not_settled_is_offered_back(
    cuts: list[int], settled: set[int]
) -> None:
    """However the stream is cut into chunks, exactly the unsettled records' messages return."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="logins")["QueueUrl"]
        for n in range(25):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        received = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            received += batch
        handles = [m["ReceiptHandle"] for m in received]
        data = singer_lines([{"queue_url": url, "receipt_handle": h} for h in handles])
        unloaded = Unloaded()
        positions = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
        for start, end in itertools.pairwise(positions):
            unloaded.watch(data[start:end])
        unloaded.settled([handles[i] for i in settled])

        assert unloaded.offer_again(CONFIG) == 25 - len(settled)

        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == str(25 - len(settled))
        assert unloaded.offer_again(CONFIG) == 0  # offered once


@mock_aws
def test_when_the_run_is_stopped_what_came_within_the_seconds_is_offered_back() -> None:
    """Meltano keeps the input open while it stops the run: read for a while, not to the end."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="logins")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="stopped")
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    read, write = os.pipe()
    os.write(write, singer_lines([{"queue_url": url, "receipt_handle": message["ReceiptHandle"]}]))

    started = time.monotonic()
    with os.fdopen(read, "rb") as stream:
        assert offer_again(stream, CONFIG, READ_SECONDS) == 1
    os.close(write)  # never closed while it read

    assert time.monotonic() - started < READ_SECONDS + 5
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"


class Interrupted(Exception):
    """What the stop's signal handler raises in this test."""


def interrupt(*_: object) -> None:
    raise Interrupted


@mock_aws
def test_a_stop_while_reading_to_the_end_offers_back_what_was_read() -> None:
    """The check failed and the tap's output is being read to its end when the run is stopped:
    what was read is offered back at once, not left hidden for the visibility timeout."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="logins")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="read")
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    read, write = os.pipe()
    os.write(write, singer_lines([{"queue_url": url, "receipt_handle": message["ReceiptHandle"]}]))
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)  # the stop comes while the tap's output is open
    try:
        with os.fdopen(read, "rb") as stream, pytest.raises(Interrupted):  # not swallowed
            offer_again(stream, CONFIG)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.close(write)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"
