"""The opt-in fields against an in-process SQS and SNS (moto): off by default, safe when on."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_sqs_logins import fields
from tap_sqs_logins.fields import LOGIN_SCHEMA
from tap_sqs_logins.privacy.guard import check_pii_is_masked
from tap_sqs_logins.tap import TapSqsLogins
from tap_sqs_logins.testing import LOGIN, REGION, envelope, records, run_tap

OPT_IN = ("include_message_attributes", "include_fifo_fields", "unwrap_sns")
NEW_FIELDS = {"message_attributes", "message_group_id", "sequence_number"}


def text(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def schema_properties(config: dict[str, Any]) -> set[str]:
    catalog = TapSqsLogins(config=config, setup_mapper=False).catalog_dict
    return set(catalog["streams"][0]["schema"]["properties"])


def test_discovery_is_unchanged_by_default_and_grows_per_setting(config: dict[str, Any]) -> None:
    assert schema_properties(config) == set(LOGIN_SCHEMA["properties"])
    on = schema_properties({**config, **dict.fromkeys(OPT_IN, True)})
    assert on - set(LOGIN_SCHEMA["properties"]) == NEW_FIELDS


def test_by_default_no_new_field_is_emitted(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=json.dumps(LOGIN), MessageAttributes={"t": text("x")}
    )
    assert not NEW_FIELDS & set(records(run_tap(config))[0])


def test_attributes_are_emitted_without_personal_data(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    attributes = {
        "trace": text("t-42"),
        "count": {"DataType": "Number", "StringValue": "3"},
        "client": text(f"forwarded for {LOGIN['ip']}"),
        "device": text(LOGIN["device_id"]),
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=json.dumps(LOGIN), MessageAttributes=attributes
    )
    sqs.send_message(QueueUrl=queue_url, MessageBody="{bad", MessageAttributes=attributes)
    out = run_tap({**config, "include_message_attributes": True})
    login, poison = sorted(records(out), key=lambda r: r["rejection_reason"] or "")
    assert login["message_attributes"] == {"trace": "t-42", "count": "3"}
    assert poison["message_attributes"] is None
    assert LOGIN["ip"] not in json.dumps(out) and LOGIN["device_id"] not in json.dumps(out)


def test_fifo_group_and_sequence_number(sqs: Any, config: dict[str, Any]) -> None:
    url = sqs.create_queue(QueueName="logins.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for n, group in enumerate(["web", LOGIN["device_id"]]):  # a group id may be personal data
        body = json.dumps({**LOGIN, "user_id": f"u-{n}"})
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=str(n)
        )
    out = records(run_tap({**config, "queue_url": url, "include_fifo_fields": True}))
    assert sorted(r["message_group_id"] or "" for r in out) == ["", "web"]
    assert all(r["sequence_number"].isdigit() for r in out)


def test_sns_notifications_are_unwrapped_and_confirmations_quarantined(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="logins")["TopicArn"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    sns.publish(TopicArn=topic, Message=json.dumps(LOGIN))
    attributes = {"channel": {"DataType": "String", "StringValue": "mobile"}}
    sns.publish(TopicArn=topic, Message=json.dumps(LOGIN), MessageAttributes=attributes)
    confirmation = envelope("SubscriptionConfirmation", "You have chosen to subscribe")
    sqs.send_message(QueueUrl=queue_url, MessageBody=confirmation)
    settings = {"unwrap_sns": True, "include_message_attributes": True}
    out = records(run_tap({**config, **settings}))
    logins = [r for r in out if not r["rejection_reason"]]
    [quarantined] = [r for r in out if r["rejection_reason"]]
    assert [r["user_id"] for r in logins] == [LOGIN["user_id"]] * 2
    assert all(r["masked_ip"] for r in logins)
    assert sorted(map(json.dumps, [r["message_attributes"] for r in logins])) == [
        '{"channel": "mobile"}',
        "{}",
    ]
    reason = quarantined["rejection_reason"]
    assert reason.startswith("not a login: an SNS SubscriptionConfirmation")


@pytest.mark.parametrize(
    ("filter_name", "letting_all_through"),
    [
        ("safe_attributes", lambda attributes, login: (attributes, 0)),
        ("safe_text", lambda text, login: text),
    ],
)
def test_the_canary_checks_what_the_tap_lets_through(
    config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    filter_name: str,
    letting_all_through: Any,
) -> None:
    settings = {**config, **dict.fromkeys(OPT_IN, True), "allow_raw_pii": False}
    check_pii_is_masked(settings, TapSqsLogins.logger)
    monkeypatch.setattr(fields, filter_name, letting_all_through)
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(settings, TapSqsLogins.logger)
    assert "emits a trace of raw ip or device_id" in str(error.value.errors)
