"""Poison messages go to the dead-letter queue when they fit; otherwise they stay for redrive."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from singer_sdk.exceptions import FatalAPIError

from tap_harness import REGION, records, run_tap
from tap_sqs_logins.client import Message, QueueError, SqsQueue, message_size
from tap_sqs_logins.dead_letters import LEFT_FOR_REDRIVE, DeadLetterQueue

SMALL_QUEUE = 1024  # bytes: the smallest MaximumMessageSize SQS allows


@pytest.fixture
def small_dlq(sqs: Any) -> str:
    return str(
        sqs.create_queue(
            QueueName="login-dlq", Attributes={"MaximumMessageSize": str(SMALL_QUEUE)}
        )["QueueUrl"]
    )


def dead_letters(sqs: Any, url: str) -> list[dict[str, Any]]:
    response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return list(response.get("Messages", []))


def test_a_poison_body_too_large_for_the_dead_letter_queue_stays_for_redrive(
    sqs: Any, queue_url: str, config: dict, small_dlq: str
) -> None:
    big = "{" + "x" * 2000
    sqs.send_message(QueueUrl=queue_url, MessageBody=big)
    sqs.send_message(QueueUrl=queue_url, MessageBody="{small")
    out = {
        r["rejection_reason"]: r
        for r in records(run_tap({**config, "dead_letter_queue_url": small_dlq}))
    }
    too_large = (
        "not JSON (line 1, column 2); too large for the dead-letter queue; "
        "left on the source queue for its redrive policy"
    )
    assert out[too_large]["dead_letter_message_id"] is None
    copied = out["not JSON (line 1, column 2)"]
    assert [m["MessageId"] for m in dead_letters(sqs, small_dlq)] == [
        copied["dead_letter_message_id"]
    ]


@pytest.mark.parametrize("extra", [0, 1])
def test_the_size_limit_counts_body_and_attributes_in_bytes(
    sqs: Any, small_dlq: str, extra: int
) -> None:
    config = {"region": REGION}
    reason = "not JSON (line 1, column 1)"
    attributes = {"source_message_id": "m-1", "rejection_reason": reason}
    overhead = message_size("", attributes)
    body = "é" * ((SMALL_QUEUE - overhead) // 2) + "x" * ((SMALL_QUEUE - overhead) % 2 + extra)
    message = Message("m-1", "h", body, 0, 1)
    result = DeadLetterQueue(config, small_dlq).copy(message, reason)
    if extra:
        assert "too large for the dead-letter queue" in result["rejection_reason"]
    else:
        assert message_size(body, attributes) == SMALL_QUEUE
        assert result["dead_letter_message_id"] == dead_letters(sqs, small_dlq)[0]["MessageId"]


@pytest.mark.parametrize(
    "failure", [QueueError("SQS refused send_message"), UnicodeEncodeError("utf-8", "", 0, 1, "x")]
)
def test_any_failure_to_copy_leaves_the_message_for_redrive(
    sqs: Any, small_dlq: str, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    def refuse(*args: Any) -> str:
        raise failure

    monkeypatch.setattr(SqsQueue, "send", refuse)
    queue = DeadLetterQueue({"region": REGION}, small_dlq)
    result = queue.copy(Message("m-1", "h", "{", 0, 1), "not JSON (line 1, column 2)")
    assert result == {
        "rejection_reason": "not JSON (line 1, column 2); not copied to the dead-letter queue; "
        + LEFT_FOR_REDRIVE
    }


def test_a_missing_dead_letter_queue_names_its_setting(
    sqs: Any, queue_url: str, config: dict, small_dlq: str
) -> None:
    missing = small_dlq.replace("login-dlq", "no-such-dlq")
    with pytest.raises(FatalAPIError, match="does not exist: check dead_letter_queue_url"):
        run_tap({**config, "dead_letter_queue_url": missing})


def test_quarantine_is_logged_with_the_final_reason(
    sqs: Any, queue_url: str, config: dict, small_dlq: str, caplog: pytest.LogCaptureFixture
) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="[" + "1," * 1000 + "1]")
    caplog.set_level(logging.WARNING)
    run_tap({**config, "dead_letter_queue_url": small_dlq})
    assert "too large for the dead-letter queue" in caplog.text


def test_a_message_delivered_twice_in_a_run_is_copied_once(sqs: Any, small_dlq: str) -> None:
    queue = DeadLetterQueue({"region": REGION}, small_dlq)
    first = queue.copy(Message("m-1", "h-1", "{", 0, 1), "not JSON (line 1, column 2)")
    again = queue.copy(Message("m-1", "h-2", "{", 0, 2), "not JSON (line 1, column 2)")
    assert first == again and len(dead_letters(sqs, small_dlq)) == 1
