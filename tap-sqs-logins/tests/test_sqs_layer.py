"""The SQS layer everything goes through: queues by name, sends in batches, depth, typed errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_sqs_logins import (
    BATCH_SIZE,
    QueueError,
    QueueMissing,
    SqsEndpoint,
    SqsQueue,
    batches,
    send_all,
)
from tap_sqs_logins.testing import REGION


@given(st.lists(st.integers(), max_size=95))
def test_batches_keep_order_and_hold_at_most_ten(items: list[int]) -> None:
    split = list(batches(items))
    assert [item for batch in split for item in batch] == items
    assert all(0 < len(batch) <= BATCH_SIZE for batch in split)
    assert all(len(batch) == BATCH_SIZE for batch in split[:-1])


def test_sent_bodies_are_counted_and_received_in_order(sqs: Any, queue_url: str) -> None:
    queue = SqsQueue({"region": REGION}, queue_url)
    bodies = [f"body {n}" for n in range(23)]
    assert send_all(queue, bodies, threads=1) == (23, 0)
    depth = queue.depth()
    assert (depth.visible, depth.in_flight, depth.total) == (23, 0, 23)
    received = [m.body for _ in range(3) for m in queue.receive(10, 0, 600)]
    assert received == bodies
    assert queue.depth() == (0, 23)


def test_queues_are_created_and_found_by_name(sqs: Any) -> None:
    endpoint = SqsEndpoint({"region": REGION})
    url = endpoint.create_queue("layer-test")
    assert endpoint.queue_url("layer-test") == url
    SqsQueue({"region": REGION}, url).delete_queue()
    with pytest.raises(QueueMissing, match="queue layer-test does not exist: check queue_url"):
        endpoint.queue_url("layer-test")


def test_a_missing_queue_is_its_own_error_naming_the_setting(sqs: Any, queue_url: str) -> None:
    gone = SqsQueue({"region": REGION}, queue_url + "-gone", setting="dead_letter_queue_url")
    with pytest.raises(QueueMissing, match="does not exist: check dead_letter_queue_url") as raised:
        gone.delete(["handle"])
    assert isinstance(raised.value, QueueError)
    assert raised.value.code in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def test_other_refusals_are_not_a_missing_queue(sqs: Any, queue_url: str) -> None:
    queue = SqsQueue({"region": REGION}, queue_url)
    with pytest.raises(QueueError) as raised:
        queue.attributes("NoSuchAttribute")
    assert not isinstance(raised.value, QueueMissing)
    assert "check queue_url" in str(raised.value)
