"""SNS envelopes: with raw message delivery off, SNS wraps each message it sends to SQS.

A notification's body is ``{"Type": "Notification", "TopicArn": …, "Message": "<the
published string>", "MessageAttributes": {name: {"Type": …, "Value": …}}, …}``; the
login is the inner ``Message``. Subscription and unsubscription confirmations reach the
queue too, and are never logins. Like ``parse_login``, ``judge_body`` raises nothing but
``Rejected``, and its reasons never quote the body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tap_sqs_logins.bodies.messages import Rejected, json_type, judge_login, load_json

NOTIFICATION = "Notification"
CONFIRMATIONS = ("SubscriptionConfirmation", "UnsubscribeConfirmation")
# SNS attribute types carried as text; Binary values are base64 and never emitted.
TEXT_TYPES = ("String", "String.Array", "Number")


@dataclass(frozen=True)
class Judged:
    """A deliverable login, with the attributes of the SNS envelope it came in, if any."""

    login: dict[str, str | None]
    sns_attributes: dict[str, str] = field(default_factory=dict)


def judge_body(body: str, *, unwrap_sns: bool) -> Judged:
    """Judge a message body, unwrapping an SNS envelope if ``unwrap_sns``.

    Args:
        body: The raw SQS message body, any string.
        unwrap_sns: Whether an SNS notification is judged by its inner ``Message``.

    Returns:
        The login fields, and the envelope's text attributes (name to value).

    Raises:
        Rejected: If the body, or the notification's message, is not a deliverable login.
    """
    data = load_json(body)
    if unwrap_sns and is_envelope(data):
        return _unwrap(data)
    return Judged(judge_login(data))


def is_envelope(data: Any) -> bool:
    """Whether a JSON value is an SNS envelope: it has a ``TopicArn`` and an SNS ``Type``."""
    if not isinstance(data, dict) or "TopicArn" not in data:
        return False
    kind = data.get("Type")
    return isinstance(kind, str) and kind in (NOTIFICATION, *CONFIRMATIONS)


def _unwrap(envelope: dict[str, Any]) -> Judged:
    kind = envelope["Type"]
    if kind != NOTIFICATION:
        msg = (
            f"not a login: an SNS {kind}; confirm or remove the subscription in SNS, "
            "this message is not delivered"
        )
        raise Rejected(msg)
    message = envelope.get("Message")
    if not isinstance(message, str):
        msg = f"SNS notification: Message is a JSON {json_type(message)} instead of a string"
        raise Rejected(msg)
    try:
        login = judge_login(load_json(message))
    except Rejected as reason:
        raise Rejected(f"SNS notification: {reason}") from None
    return Judged(login, _text_attributes(envelope.get("MessageAttributes")))


def _text_attributes(attributes: Any) -> dict[str, str]:
    if not isinstance(attributes, dict):
        return {}
    return {
        name: value["Value"]
        for name, value in attributes.items()
        if isinstance(value, dict)
        and value.get("Type") in TEXT_TYPES
        and isinstance(value.get("Value"), str)
    }
