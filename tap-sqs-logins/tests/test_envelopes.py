"""SNS envelopes and producer-chosen fields: any input gives a login or a reason, never a crash.

Property-based over hostile bodies, hostile envelopes (any ``Type``, ``Message`` and
``MessageAttributes``) and hostile SQS attributes and group ids, with every opt-in setting
on; each record must meet Contract 1 and show no IP address, ip or device_id outside the
masked fields.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tap_sqs_logins.bodies.attributes import is_safe
from tap_sqs_logins.bodies.envelopes import CONFIRMATIONS, judge_body
from tap_sqs_logins.bodies.messages import Rejected
from tap_sqs_logins.fields import Options
from tap_sqs_logins.privacy.guard import build_mapper
from tap_sqs_logins.sqs.client import Message
from tap_sqs_logins.streams import login_record
from tap_sqs_logins.testing import MASKING_MAPS, envelope
from tap_sqs_logins.testing.hostile import (
    FIELDS,
    REASON,
    UNSTORABLE,
    bodies,
    ip_like,
    is_deliverable,
    json_values,
    login_bodies,
    quotes_the_body,
    strings_in,
    texts,
)

LOGIN = {"user_id": "u-1", "app_version": "2.3.0", "device_type": "ios", "ip": "10.0.0.7"}
ALL_ON = Options(include_message_attributes=True, include_fifo_fields=True, unwrap_sns=True)
SETTINGS: dict[str, Any] = {"stream_maps": MASKING_MAPS, "mask_key": "unit-test-key-0123456789"}
SETTINGS |= {"allow_raw_pii": False}
MASKING = build_mapper(SETTINGS, logging.getLogger("test-envelopes")).stream_maps["logins"][0]
SNS_REASON = re.compile(
    rf"SNS notification: (?:{REASON.pattern}"
    r"|Message is a JSON (?:null|array|object|number|boolean) instead of a string)"
    r"|not a login: an SNS (?:SubscriptionConfirmation|UnsubscribeConfirmation); confirm or "
    r"remove the subscription in SNS, this message is not delivered"
)
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


attribute_values = st.fixed_dictionaries(
    {
        "Type": st.sampled_from(["String", "Number", "Binary", "String.Array"]) | json_values,
        "Value": texts | ip_like | json_values,
    }
)
envelopes = st.builds(
    envelope,
    kind=st.sampled_from(["Notification", "Notification", *CONFIRMATIONS]) | json_values,
    message=st.one_of(login_bodies(), login_bodies(), bodies, json_values),
    attributes=st.none() | st.dictionaries(texts | ip_like, attribute_values | json_values),
)
sqs_attributes = st.dictionaries(texts | ip_like, texts | ip_like, max_size=4)


def shows_an_address(text: str) -> bool:
    """Whether any run of address characters in ``text`` parses as an IP address."""
    for run in re.findall(r"[0-9A-Fa-f:.]+", text):
        for part in {run, run.strip("."), run.strip(".:"), *run.split(".")}:
            try:
                ipaddress.ip_address(part)
            except ValueError:
                continue
            if ":" in part or part.count(".") == 3:
                return True
    return False


def without_sns_types(reason: str) -> str:
    """The reason without the fixed SNS type it names (a protocol word, not body data)."""
    for kind in CONFIRMATIONS:
        reason = reason.replace(kind, "")
    return reason


@PROPERTY
@given(body=envelopes | bodies, attributes=sqs_attributes, group=st.none() | texts | ip_like)
@example(body=envelope(message=json.dumps(LOGIN)), attributes={"a": "10.0.0.7"}, group="g")
@example(body=envelope("SubscriptionConfirmation", "confirm"), attributes={}, group=None)
@example(body=envelope(message=[1]), attributes={}, group=None)
@example(body=envelope(kind={"a": 1}), attributes={}, group=None)
def test_any_body_and_attributes_give_a_safe_record(
    body: str, attributes: dict[str, str], group: str | None
) -> None:
    message = Message("m-1", "h-1", body, 1_700_000_000_000, 1, attributes, group, "1")
    raw = login_record(message, "https://sqs.example/1/q", ALL_ON)
    record = MASKING.transform(raw)
    assert record is not None
    reason = record["rejection_reason"]
    if reason is None:
        assert is_deliverable(record)
        emitted = [*strings_in(record["message_attributes"]), record["message_group_id"] or ""]
        assert not any(map(shows_an_address, emitted))
        for value in (raw["ip"], raw["device_id"]):
            assert not value or not any(value.casefold() in t.casefold() for t in emitted)
    else:
        assert REASON.fullmatch(reason) or SNS_REASON.fullmatch(reason), reason
        assert not quotes_the_body(without_sns_types(reason), body)
        assert record["message_attributes"] is None and record["message_group_id"] is None
        assert all(record.get(name) is None for name in FIELDS)
    assert not any(UNSTORABLE.search(text) for text in strings_in(record))


@PROPERTY
@given(body=envelopes | bodies, unwrap=st.booleans())
def test_the_envelope_parser_returns_a_login_or_a_reason(body: str, unwrap: bool) -> None:
    try:
        judged = judge_body(body, unwrap_sns=unwrap)
    except Rejected as reason:
        assert str(reason)
    else:
        assert set(judged.login) == set(FIELDS)
        assert all(isinstance(v, str) for kv in judged.sns_attributes.items() for v in kv)


def test_a_notification_is_judged_by_its_message_with_its_attributes() -> None:
    attributes = {
        "trace": {"Type": "String", "Value": "t-1"},
        "n": {"Type": "Number", "Value": "7"},
    }
    attributes["blob"] = {"Type": "Binary", "Value": "aGVsbG8="}
    judged = judge_body(envelope(message=json.dumps(LOGIN), attributes=attributes), unwrap_sns=True)
    assert judged.login["user_id"] == "u-1" and judged.login["ip"] == "10.0.0.7"
    assert judged.sns_attributes == {"trace": "t-1", "n": "7"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (envelope("SubscriptionConfirmation", "You have chosen to subscribe"), "SNS Subscription"),
        (envelope("UnsubscribeConfirmation", "unsubscribed"), "SNS UnsubscribeConfirmation"),
        (envelope(message="{bad"), "SNS notification: not JSON (line 1, column 2)"),
        (envelope(message={"user_id": "u"}), "SNS notification: Message is a JSON object"),
    ],
)
def test_envelopes_that_are_not_logins_are_quarantined(body: str, reason: str) -> None:
    with pytest.raises(Rejected, match=re.escape(reason)):
        judge_body(body, unwrap_sns=True)


def test_without_unwrap_sns_an_envelope_is_not_a_login() -> None:
    with pytest.raises(Rejected, match="not a login: missing user_id"):
        judge_body(envelope(message=json.dumps(LOGIN)), unwrap_sns=False)


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("checkout-42", True),
        ("2.3.0", True),
        ("12:30:45", True),
        ("from 10.0.0.7", False),
        ("via 2001:db8::1:", False),
        ("::1", False),
        ("device ABC-123", False),
        ("nul\x00", False),
        ("\ud800", False),
    ],
)
def test_unsafe_attribute_text_is_recognised(text: str, safe: bool) -> None:
    assert is_safe(text, {"ip": "10.0.0.7", "device_id": "abc-123"}) is safe
