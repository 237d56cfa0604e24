"""What a run holds in flight: the budget under SQS's limit, OverLimit, and FIFO groups."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_sqs_logins.settings import AFTER_STATE, COMMIT_REQUEST, LOADER, ON_EMIT
from tap_sqs_logins.sqs import in_flight
from tap_sqs_logins.sqs.client import Depth, Message, OverLimitError, SqsQueue
from tap_sqs_logins.sqs.in_flight import (
    GroupRelease,
    default_max_in_flight,
    in_flight_budget,
)
from tap_sqs_logins.sqs.receiving import ConcurrentReceiver
from tap_sqs_logins.testing import LOGIN, records, run_tap

LOGGER = logging.getLogger("test-in-flight")


def receiver_settings(threads: int, max_messages: int | None = None) -> dict[str, Any]:
    return {
        "receive_concurrency": threads,
        "max_messages": max_messages,
        "wait_time_seconds": 0,
        "visibility_timeout": 30,
    }


class LimitedQueue:
    """A fake queue with endless messages that answers OverLimit like SQS at ``limit``."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.in_flight = 0
        self.peak = 0
        self.over_limit_answers = 0
        self.lock = threading.Lock()

    def receive(self, count: int, wait_seconds: int, visibility_timeout: int) -> list[Message]:
        with self.lock:
            if self.limit is not None and self.in_flight + count > self.limit:
                self.over_limit_answers += 1
                msg = "OverLimit: lower max_in_flight"
                raise OverLimitError(msg, "OverLimit")
            first = self.in_flight
            self.in_flight += count
            self.peak = max(self.peak, self.in_flight)
        return [Message(str(n), f"h{n}", "{}", 0, 1) for n in range(first, first + count)]


@settings(max_examples=60, deadline=None)
@given(
    budget=st.integers(0, 120),
    max_messages=st.one_of(st.none(), st.integers(1, 120)),
    threads=st.integers(1, 12),
)
def test_a_run_never_holds_more_than_its_budget(
    budget: int, max_messages: int | None, threads: int
) -> None:
    queue = LimitedQueue()
    config = receiver_settings(threads, max_messages)
    received = list(ConcurrentReceiver(queue, config, LOGGER, budget).messages())  # type: ignore[arg-type]
    expected = budget if max_messages is None else min(budget, max_messages)
    assert len(received) == queue.peak == expected


@settings(max_examples=30, deadline=None)
@given(limit=st.integers(0, 95), threads=st.integers(1, 10))
def test_over_limit_ends_the_run_normally_with_what_it_received(limit: int, threads: int) -> None:
    queue = LimitedQueue(limit)
    receiver = ConcurrentReceiver(queue, receiver_settings(threads), LOGGER)  # type: ignore[arg-type]
    received = list(receiver.messages())  # no exception: the run goes on to its end
    assert queue.over_limit_answers >= 1
    assert len(received) == queue.in_flight <= limit  # every message received is handed on
    assert len({m.message_id for m in received}) == len(received)


def test_over_limit_is_logged_naming_max_in_flight(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    list(ConcurrentReceiver(LimitedQueue(25), receiver_settings(3), LOGGER).messages())  # type: ignore[arg-type]
    assert "lower max_in_flight" in caplog.text
    assert "SQS answered OverLimit" in caplog.text


def test_under_the_budget_sqs_never_answers_over_limit() -> None:
    queue = LimitedQueue(limit=50)
    received = list(ConcurrentReceiver(queue, receiver_settings(8), LOGGER, 45).messages())  # type: ignore[arg-type]
    assert len(received) == 45 and queue.over_limit_answers == 0


@pytest.mark.parametrize(("fifo", "default"), [(False, 108_000), (True, 18_000)])
def test_the_default_budget_follows_the_queue_type_less_what_is_in_flight(
    sqs: Any, config: dict[str, Any], fifo: bool, default: int
) -> None:
    attributes = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName="q.fifo" if fifo else "q", Attributes=attributes)["QueueUrl"]
    fifo_ids = {"MessageGroupId": "g", "MessageDeduplicationId": "d"} if fifo else {}
    sqs.send_message(QueueUrl=url, MessageBody="{}", **fifo_ids)
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)  # another consumer holds one
    assert default_max_in_flight(fifo=fifo) == default
    queue = SqsQueue({**config, "queue_url": url}, url)
    assert in_flight_budget(queue, {}, LOGGER) == default - 1
    assert in_flight_budget(queue, {"max_in_flight": 7}, LOGGER) == 6


def test_the_tap_receives_max_in_flight_less_what_is_in_flight(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    for _ in range(4):
        entries = [{"Id": str(n), "MessageBody": json.dumps(LOGIN)} for n in range(10)]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=5, VisibilityTimeout=600)
    out = records(run_tap({**config, "max_in_flight": 17, "receive_concurrency": 4}))
    assert len(out) == 12  # 17 less the 5 another consumer holds
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "17"


def test_max_in_flight_is_a_documented_bounded_setting() -> None:
    from tap_sqs_logins.tap import TapSqsLogins

    schema = TapSqsLogins.config_jsonschema["properties"]["max_in_flight"]
    assert (schema["minimum"], schema["maximum"]) == (1, 120_000)
    assert "OverLimit" in schema["description"] and "18,000" in schema["description"]


class FakeFifo:
    """The attributes and visibility calls GroupRelease makes."""

    def __init__(self, visible: int) -> None:
        self.visible = visible
        self.deleted: set[str] = set()

    def depth(self) -> Depth:
        return Depth(visible=self.visible, in_flight=0)

    def change_visibility(self, handles: list[str], seconds: int) -> list[str]:
        return [h for h in handles if h in self.deleted]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def group_release(queue: FakeFifo, release: bool = True) -> tuple[GroupRelease, list[int], Clock]:
    asked: list[int] = []
    clock = Clock()

    def ask() -> bool:
        asked.append(1)
        return release

    return GroupRelease(queue, ask, 30, LOGGER, clock), asked, clock  # type: ignore[arg-type]


def test_nothing_visible_ends_the_run() -> None:
    release, asked, _ = group_release(FakeFifo(0))
    release.emitted("h1", deleted_on_release=True)
    assert not release.stalled() and not asked


def test_after_state_cannot_release_groups_during_the_run() -> None:
    release, asked, _ = group_release(FakeFifo(5), release=False)
    release.emitted("h1", deleted_on_release=True)
    assert not release.stalled() and asked == [1]


def test_released_messages_are_awaited_until_deleted_then_one_more_round() -> None:
    queue = FakeFifo(5)
    release, asked, clock = group_release(queue)
    release.emitted("h1", deleted_on_release=True)
    release.emitted("h2", deleted_on_release=False)  # poison left for redrive: never deleted
    assert release.stalled() and asked == [1]  # asked to commit
    clock.now = 10
    assert release.stalled() and asked == [1]  # h1 still in flight: wait, do not ask again
    queue.deleted.add("h1")
    assert release.stalled()  # deleted: its group may give more, receive once more
    assert not release.stalled()  # nothing came: the rest is held elsewhere


def test_a_loader_that_never_deletes_ends_the_wait() -> None:
    release, asked, clock = group_release(FakeFifo(5))
    release.emitted("h1", deleted_on_release=True)
    assert release.stalled()
    clock.now = in_flight.RELEASE_WAIT_SECONDS - 1
    assert release.stalled()
    clock.now = in_flight.RELEASE_WAIT_SECONDS
    assert not release.stalled() and asked == [1]


def test_each_new_message_after_a_release_asks_again() -> None:
    queue = FakeFifo(5)
    release, asked, _ = group_release(queue)
    for n in range(4):
        release.emitted(f"h{n}", deleted_on_release=True)
        queue.deleted.add(f"h{n}")
        assert release.stalled()
    assert len(asked) == 4


def fifo_source(sqs: Any, groups: dict[str, int]) -> tuple[str, Counter[str]]:
    url = sqs.create_queue(QueueName="logins.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sent: Counter[str] = Counter()
    for group, size in groups.items():
        for n in range(size):
            body = json.dumps({**LOGIN, "user_id": f"{group}-{n}"})
            sqs.send_message(
                QueueUrl=url,
                MessageBody=body,
                MessageGroupId=group,
                MessageDeduplicationId=f"{group}-{n}",
            )
            sent[group] += 1
    return url, sent


GROUPS = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3), st.integers(1, 33), min_size=1, max_size=5
)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(groups=GROUPS)
def test_on_emit_drains_every_group_in_one_run(
    sqs: Any, config: dict[str, Any], groups: dict[str, Any]
) -> None:
    url, sent = fifo_source(sqs, groups)
    out = records(run_tap({**config, "queue_url": url, "acknowledgement": ON_EMIT}))
    assert Counter(r["user_id"].rsplit("-", 1)[0] for r in out) == sent
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    sqs.delete_queue(QueueUrl=url)


def test_after_state_takes_one_batch_per_group_per_run(sqs: Any, config: dict[str, Any]) -> None:
    url, _ = fifo_source(sqs, {"a": 25, "b": 3})
    messages = run_tap({**config, "queue_url": url, "acknowledgement": AFTER_STATE})
    taken = Counter(r["user_id"].rsplit("-", 1)[0] for r in records(messages))
    assert taken["b"] == 3 and 1 <= taken["a"] <= 10  # SQS holds the rest of "a" back
    state = next(m["value"] for m in reversed(messages) if m["type"] == "STATE")
    again = run_tap({**config, "queue_url": url, "acknowledgement": AFTER_STATE}, state)
    # The next run deleted the first batch, so SQS gives the next one of "a".
    following = [r["user_id"] for r in records(again)]
    assert 1 <= len(following) <= min(10, 25 - taken["a"])
    assert {user.rsplit("-", 1)[0] for user in following} == {"a"}


def test_loader_mode_asks_for_commits_and_stops_when_nothing_is_deleted(
    sqs: Any, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(in_flight, "RELEASE_WAIT_SECONDS", 1.0)
    url, _ = fifo_source(sqs, {"a": 15, "b": 12})
    messages = run_tap({**config, "queue_url": url, "acknowledgement": LOADER})
    requests = [m for m in messages if m["type"] == "STATE" and COMMIT_REQUEST in m["value"]]
    assert requests == [{"type": "STATE", "value": {COMMIT_REQUEST: 1}}]
    # Nobody deleted: one batch per group, and the run ended after the wait.
    assert 2 <= len(records(messages)) <= 20
