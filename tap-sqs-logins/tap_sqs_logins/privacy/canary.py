"""A canary login with sentinel ``ip`` and ``device_id``, and the traces it may leave.

A trace is the sentinel itself, its upper-case, lower-case or reversed form, an unkeyed
MD5, SHA-1, SHA-256 or SHA-512 of any of these (hex or base64), or any 6 characters of it
in a row. The sentinels are random, and each of their 6-character runs holds a ``.`` or a
``-``, which no masked or sealed value holds, so they do not match by chance.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from tap_sqs_logins.bodies.messages import LOGIN_FIELDS
from tap_sqs_logins.fields import Options
from tap_sqs_logins.privacy.map_faults import map_failure
from tap_sqs_logins.sqs.client import Message
from tap_sqs_logins.streams import login_record

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from singer_sdk.mapper import StreamMap

RUN = 6  # shortest run of sentinel characters that counts as a trace
HASHES = ("md5", "sha1", "sha256", "sha512")
DEVICE_LETTERS = "GHJKLMNPQRSTUVWXYZ"  # no hex digits
LOGIN = {
    "user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae",
    "app_version": "2.3.0",
    "device_type": "android",
    "locale": "RU",
}
TOPIC = "arn:aws:sns:us-east-1:123456789012:logins"


def canary_record(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the ``logins`` record the tap makes of a canary login with fresh sentinels.

    The sentinels are also where producers could put them: in message attributes (SQS's,
    and the SNS envelope's with ``unwrap_sns``) and as the FIFO group id. The record is
    made by the tap's own ``login_record``, so whatever it lets through is checked too.
    """
    config = config or {}
    groups = ("".join(secrets.choice(DEVICE_LETTERS) for _ in range(4)) for _ in range(3))
    ip, device_id = f"198.51.100.{secrets.randbelow(254) + 1}", "-".join(groups)
    body = json.dumps({**LOGIN, "ip": ip, "device_id": device_id})
    exposing = {"client": f"from {ip}", "device": device_id.lower(), "trace": "t-42"}
    if config.get("unwrap_sns"):
        attributes = {name: {"Type": "String", "Value": v} for name, v in exposing.items()}
        body = json.dumps(
            {
                "Type": "Notification",
                "TopicArn": TOPIC,
                "Message": body,
                "MessageAttributes": attributes,
            }
        )
    message = Message(
        message_id="5f0c3a52-7d1e-4c8a-9b6e-2f4d8a1c7e90",
        receipt_handle="AQEBcanaryReceiptHandle==",
        body=body,
        sent_at_ms=int(time.time()) * 1000,  # whole seconds: no digit runs
        receive_count=1,
        attributes=exposing,
        group_id=device_id.upper(),
        sequence_number="18849496460467696128",
    )
    return login_record(message, config.get("queue_url", ""), Options.from_config(config))


def traces(sentinel: str) -> set[str]:
    """Return the lower-cased strings whose presence in output reveals ``sentinel``."""
    forms = {sentinel, sentinel.upper(), sentinel.lower(), sentinel[::-1]}
    found = {form.lower() for form in forms}
    for form in forms:
        for name in HASHES:
            digest = hashlib.new(name, form.encode()).digest()
            found |= {digest.hex(), base64.b64encode(digest).decode().lower()}
            found.add(base64.urlsafe_b64encode(digest).decode().lower())
    for form in (sentinel.lower(), sentinel[::-1].lower()):
        found |= {form[i : i + RUN] for i in range(len(form) - RUN + 1)}
    return found


def canary_leaks(
    stream_maps: Iterable[StreamMap], config: Mapping[str, Any] | None = None
) -> list[str]:
    """Run each map over the canary; return one problem per stream that leaks a sentinel.

    Each map also runs over a quarantined message (no login fields, a rejection reason):
    a map that fails on one would stop every run until the message expires.
    """
    record = canary_record(config)
    quarantined = {**record, **dict.fromkeys(LOGIN_FIELDS), "rejection_reason": "canary"}
    needles = traces(record["ip"]) | traces(record["device_id"])
    problems = []
    for stream_map in stream_maps:
        # A guarded map (map_faults) does not raise: it says why it would.
        failed = map_failure([stream_map], dict(record)) or map_failure(
            [stream_map], dict(quarantined)
        )
        try:
            output = stream_map.transform(dict(record))
            stream_map.transform(dict(quarantined))
        except Exception as error:  # an expression that fails on a message stops the run
            failed = type(error).__name__
        if failed:
            problems.append(
                f"stream_maps for '{stream_map.stream_alias}' fail on a sample login or "
                f"quarantined message ({failed}); mind null fields"
            )
            continue
        text = json.dumps(output, default=str, ensure_ascii=False).lower()
        if any(needle in text for needle in needles):
            problems.append(
                f"stream '{stream_map.stream_alias}' emits a trace of raw ip or device_id "
                "(the value, a part of it, or an unkeyed hash of it)"
            )
    return problems
