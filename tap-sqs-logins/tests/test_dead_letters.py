"""Poison messages go to the dead-letter queue when they fit; otherwise they stay for redrive."""

from __future__ import annotations

import logging
import string
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from singer_sdk.exceptions import FatalAPIError

from tap_sqs_logins.acknowledging.dead_letters import LEFT_FOR_REDRIVE, DeadLetterQueue
from tap_sqs_logins.sqs.client import Message, QueueError, SqsQueue, message_size
from tap_sqs_logins.testing import REGION, records, run_tap

SMALL_QUEUE = 1024  # bytes: the smallest MaximumMessageSize SQS allows
STANDARD_SOURCE = "https://sqs.us-east-1.amazonaws.com/000000000000/login-queue"


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
    sqs: Any, queue_url: str, config: dict[str, Any], small_dlq: str
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
    config = {"region": REGION, "queue_url": STANDARD_SOURCE}
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
    ("failure", "why"),
    [
        (QueueError("SQS refused send_message", "KMS.AccessDenied"), "SQS refused it: KMS."),
        (QueueError("SQS refused send_message"), "SQS refused it: no error code"),
        (UnicodeEncodeError("utf-8", "", 0, 1, "x"), "SQS cannot carry the body"),
    ],
)
def test_any_failure_to_copy_leaves_the_message_for_redrive_and_says_why(
    sqs: Any, small_dlq: str, monkeypatch: pytest.MonkeyPatch, failure: Exception, why: str
) -> None:
    def refuse(*args: Any) -> str:
        raise failure

    monkeypatch.setattr(SqsQueue, "send", refuse)
    queue = DeadLetterQueue({"region": REGION, "queue_url": STANDARD_SOURCE}, small_dlq)
    reason = queue.copy(Message("m-1", "h", "{", 0, 1), "not JSON (line 1, column 2)")[
        "rejection_reason"
    ]
    assert reason.startswith("not JSON (line 1, column 2); not copied to the dead-letter queue (")
    assert why in reason and reason.endswith(LEFT_FOR_REDRIVE)


def test_a_missing_dead_letter_queue_names_its_setting(
    sqs: Any, queue_url: str, config: dict[str, Any], small_dlq: str
) -> None:
    missing = small_dlq.replace("login-dlq", "no-such-dlq")
    with pytest.raises(FatalAPIError, match="does not exist: check dead_letter_queue_url"):
        run_tap({**config, "dead_letter_queue_url": missing})


def test_quarantine_is_logged_with_the_final_reason(
    sqs: Any,
    queue_url: str,
    config: dict[str, Any],
    small_dlq: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="[" + "1," * 1000 + "1]")
    caplog.set_level(logging.WARNING)
    run_tap({**config, "dead_letter_queue_url": small_dlq})
    assert "too large for the dead-letter queue" in caplog.text


def test_a_message_delivered_twice_in_a_run_is_copied_once(sqs: Any, small_dlq: str) -> None:
    queue = DeadLetterQueue({"region": REGION, "queue_url": STANDARD_SOURCE}, small_dlq)
    first = queue.copy(Message("m-1", "h-1", "{", 0, 1), "not JSON (line 1, column 2)")
    again = queue.copy(Message("m-1", "h-2", "{", 0, 2), "not JSON (line 1, column 2)")
    assert first == again and len(dead_letters(sqs, small_dlq)) == 1


def fifo_queue(sqs: Any, name: str) -> str:
    return str(
        sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    )


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    groups=st.lists(
        st.text(
            string.ascii_letters + string.digits + string.punctuation, min_size=1, max_size=128
        ),
        min_size=1,
        max_size=3,  # one receive's worth: draining FIFO groups is test_fifo.py's
        unique=True,
    ),
    poison_per_group=st.integers(min_value=1, max_value=3),
)
def test_poison_from_a_fifo_queue_is_copied_with_its_group(
    sqs: Any, config: dict[str, Any], groups: list[str], poison_per_group: int
) -> None:
    suffix = uuid.uuid4().hex[:8]
    source, dlq = fifo_queue(sqs, f"logins-{suffix}"), fifo_queue(sqs, f"dlq-{suffix}")
    sent: dict[str, tuple[str, str]] = {}
    for group in groups:
        for n in range(poison_per_group):
            body = "{poison " + group + str(n)
            sent[
                sqs.send_message(
                    QueueUrl=source,
                    MessageBody=body,
                    MessageGroupId=group,
                    MessageDeduplicationId=f"{n}-{len(sent)}",
                )["MessageId"]
            ] = (group, body)
    out = records(run_tap({**config, "queue_url": source, "dead_letter_queue_url": dlq}))
    assert len(out) == len(sent)
    copies = {}
    while batch := sqs.receive_message(
        QueueUrl=dlq,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"],
    ).get("Messages", []):
        for copy in batch:
            copies[copy["MessageAttributes"]["source_message_id"]["StringValue"]] = copy
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=copy["ReceiptHandle"])
    assert set(copies) == set(sent)
    for message_id, (group, body) in sent.items():
        copy = copies[message_id]
        assert copy["Body"] == body
        assert copy["Attributes"]["MessageGroupId"] == group
        assert copy["Attributes"]["MessageDeduplicationId"] == message_id
    assert {r["dead_letter_message_id"] for r in out} == {c["MessageId"] for c in copies.values()}


@pytest.mark.parametrize(
    ("source_fifo", "need"), [(True, "a FIFO queue"), (False, "a standard queue")]
)
def test_a_dead_letter_queue_of_the_other_type_is_refused_before_receiving(
    sqs: Any, config: dict[str, Any], source_fifo: bool, need: str
) -> None:
    source = fifo_queue(sqs, "logins") if source_fifo else config["queue_url"]
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"] if source_fifo else fifo_queue(sqs, "dlq")
    send = {"MessageGroupId": "g", "MessageDeduplicationId": "1"} if source_fifo else {}
    sqs.send_message(QueueUrl=source, MessageBody="{poison", **send)
    with pytest.raises(FatalAPIError, match=f"set dead_letter_queue_url to {need}"):
        run_tap({**config, "queue_url": source, "dead_letter_queue_url": dlq})
    attributes = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"  # never received


@pytest.mark.parametrize("spelling", ["{url}", "{url}/", "http://127.0.0.1:1/{path}"])
def test_the_source_queue_as_its_own_dead_letter_queue_is_refused_before_receiving(
    sqs: Any, config: dict[str, Any], spelling: str
) -> None:
    url = config["queue_url"]
    sqs.send_message(QueueUrl=url, MessageBody="{poison")
    dlq = spelling.format(url=url, path=url.split("/", 3)[3])
    with pytest.raises(FatalAPIError, match="is the source queue itself"):
        run_tap({**config, "dead_letter_queue_url": dlq})
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"  # never received


def test_a_fifo_copy_without_a_group_says_so(sqs: Any, config: dict[str, Any]) -> None:
    dlq = fifo_queue(sqs, "dlq")
    queue = DeadLetterQueue({**config, "queue_url": fifo_queue(sqs, "logins")}, dlq)
    reason = queue.copy(Message("m-1", "h", "{", 0, 1), "not JSON")["rejection_reason"]
    assert reason == (
        f"not JSON; not copied to the dead-letter queue (no message group id); {LEFT_FOR_REDRIVE}"
    )
