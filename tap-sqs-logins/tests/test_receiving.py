"""Concurrent receives: every message once, never past max_messages, bounded, stoppable."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from typing import Any

import pytest
from singer_sdk.exceptions import FatalAPIError

from tap_sqs_logins.sqs.client import Message, QueueError, SqsQueue
from tap_sqs_logins.sqs.heartbeat import Heartbeat
from tap_sqs_logins.sqs.receiving import ConcurrentReceiver
from tap_sqs_logins.testing import records, run_tap

LOGGER = logging.getLogger("test-receiving")
LOGIN = {"user_id": "u1", "app_version": "1.0", "device_type": "ios", "ip": "10.1.2.3"}


def settings(**changes: Any) -> dict[str, Any]:
    return {
        "receive_concurrency": 4,
        "max_messages": None,
        "wait_time_seconds": 0,
        "visibility_timeout": 30,
        **changes,
    }


class EndlessQueue:
    """A fake queue that always has messages, counting what it hands out."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls = itertools.count(1)
        self.received = 0
        self.fail_on_call = fail_on_call
        self.lock = threading.Lock()
        self.offered_again: list[str] = []

    def receive(self, count: int, wait_seconds: int, visibility_timeout: int) -> list[Message]:
        with self.lock:
            call = next(self.calls)
            if call == self.fail_on_call:
                msg = "SQS refused receive_message: check queue_url"
                raise QueueError(msg)
            first = self.received
            self.received += count
        return [Message(str(n), f"h{n}", "{}", 0, 1) for n in range(first, first + count)]

    def change_visibility(self, receipt_handles: list[str], seconds: int) -> list[str]:
        assert seconds == 0 and len(receipt_handles) <= 10
        with self.lock:
            self.offered_again += receipt_handles
        return []


def receiver_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("receive-")]


def test_every_message_arrives_once_with_many_receivers(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    for n in range(57):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({**LOGIN, "user_id": n}))
    out = records(run_tap({**config, "receive_concurrency": 8}))
    assert sorted(int(r["user_id"]) for r in out) == list(range(57))
    assert len({r["message_id"] for r in out}) == 57


@pytest.mark.parametrize(("limit", "threads"), [(13, 8), (1, 50), (30, 3)])
def test_never_receives_past_max_messages(
    sqs: Any, queue_url: str, config: dict[str, Any], limit: int, threads: int
) -> None:
    for _ in range(45):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(LOGIN))
    tap_config = {**config, "max_messages": limit, "receive_concurrency": threads}
    assert len(records(run_tap(tap_config))) == limit
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == str(limit)


@pytest.mark.parametrize("limit", [1, 9, 10, 11, 95])
def test_reservations_cap_receives_exactly(limit: int) -> None:
    queue = EndlessQueue()
    config = settings(max_messages=limit, receive_concurrency=7)
    messages = list(ConcurrentReceiver(queue, config, LOGGER).messages())  # type: ignore[arg-type]
    assert len(messages) == limit and queue.received == limit


@pytest.mark.parametrize(("read", "threads"), [(0, 1), (1, 3), (25, 5), (99, 8)])
def test_an_early_stop_offers_every_received_message_again(read: int, threads: int) -> None:
    queue = EndlessQueue()
    messages = ConcurrentReceiver(queue, settings(receive_concurrency=threads), LOGGER).messages()  # type: ignore[arg-type]
    emitted = [message.receipt_handle for message in itertools.islice(messages, read)]
    messages.close()  # the target stopped reading
    assert receiver_threads() == []
    received = {f"h{n}" for n in range(queue.received)}
    assert set(emitted) <= received
    # Emitted and still buffered alike are visible again at once, each once.
    assert sorted(queue.offered_again) == sorted(received)


@pytest.mark.parametrize("started", [1, 2, 4])
def test_a_stop_while_the_threads_start_stops_them_and_offers_all_again(
    monkeypatch: pytest.MonkeyPatch, started: int
) -> None:
    """SIGTERM (the SDK raises SystemExit) between two thread starts: nothing is left running
    to keep the process from exiting, and every received message is visible again at once."""
    starts = itertools.count(1)

    class StoppedWhileStarting(threading.Thread):
        def start(self) -> None:
            super().start()
            if next(starts) == started:
                raise SystemExit(0)

    queue = EndlessQueue()
    monkeypatch.setattr(threading, "Thread", StoppedWhileStarting)
    messages = ConcurrentReceiver(queue, settings(receive_concurrency=4), LOGGER).messages()  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        next(messages)
    monkeypatch.undo()

    assert receiver_threads() == []
    assert sorted(queue.offered_again) == sorted(f"h{n}" for n in range(queue.received))


def test_receiving_goes_on_while_the_heartbeat_keeps_messages_hidden(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    """A run several visibility timeouts long, its receiver busy all along: each message once."""
    for n in range(100):
        sqs.send_message(QueueUrl=queue_url, MessageBody=str(n))
    source = SqsQueue(config, queue_url)
    receiver = ConcurrentReceiver(
        source, settings(visibility_timeout=1, receive_concurrency=1, max_messages=150), LOGGER
    )
    handled: list[str] = []  # what the tap's acknowledgement would keep
    heartbeat = Heartbeat(source, lambda: [*receiver.waiting(), *handled], 1, 2, LOGGER)
    messages = []
    with heartbeat:
        for message in receiver.messages():  # the buffer holds 30: receiving goes on
            messages.append(message)
            handled.append(message.receipt_handle)
            time.sleep(0.02)  # a slow target: 2 s in all, receiving for 1.4 s
    assert heartbeat.beats >= 4
    assert sorted(int(m.body) for m in messages) == list(range(100))
    assert {m.receive_count for m in messages} == {1}


def test_logs_why_it_stopped(sqs: Any, queue_url: str, config: dict[str, Any], caplog: Any) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(LOGIN))
    caplog.set_level(logging.INFO)
    run_tap(config)
    assert "Stopped receiving after 1 messages: every receiver got an empty receive" in caplog.text
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(LOGIN))
    run_tap({**config, "max_messages": 1})
    assert "Stopped receiving after 1 messages: max_messages reached" in caplog.text


def test_a_receiver_error_stops_every_thread_then_raises() -> None:
    queue = EndlessQueue(fail_on_call=5)
    config = settings(receive_concurrency=6)
    with pytest.raises(QueueError, match="check queue_url"):
        for _ in ConcurrentReceiver(queue, config, LOGGER).messages():  # type: ignore[arg-type]
            pass
    assert receiver_threads() == []


def test_a_receiver_error_fails_the_run_naming_the_setting(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    sqs.delete_queue(QueueUrl=queue_url)
    with pytest.raises(FatalAPIError, match="check queue_url"):
        run_tap({**config, "receive_concurrency": 5})
    assert receiver_threads() == []


def test_buffering_is_bounded_and_a_closed_stream_stops_the_threads() -> None:
    queue = EndlessQueue()
    config = settings(receive_concurrency=5)
    messages = ConcurrentReceiver(queue, config, LOGGER).messages()  # type: ignore[arg-type]
    assert len(list(itertools.islice(messages, 25))) == 25
    messages.close()
    assert receiver_threads() == []
    # At most: what was read, a full buffer (2 batches a thread), one batch a thread in hand.
    assert queue.received <= 30 + 10 * (2 * 5 + 5)
    # The stream stopped early: what it emitted and what was still buffered is offered again.
    assert set(queue.offered_again) >= {f"h{n}" for n in range(25)}
    assert len(set(queue.offered_again)) == len(queue.offered_again) <= queue.received


def test_a_run_that_ends_normally_offers_nothing_again(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    for _ in range(3):
        entries = [{"Id": str(n), "MessageBody": "{}"} for n in range(10)]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    config = {**config, **settings()}
    source = SqsQueue(config, queue_url)
    assert len(list(ConcurrentReceiver(source, config, LOGGER).messages())) == 30
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "30"


def test_receive_concurrency_is_a_documented_bounded_setting() -> None:
    from tap_sqs_logins.tap import TapSqsLogins

    schema = TapSqsLogins.config_jsonschema["properties"]["receive_concurrency"]
    assert (schema["minimum"], schema["maximum"], schema["default"]) == (1, 50, 8)
    assert schema["description"]
