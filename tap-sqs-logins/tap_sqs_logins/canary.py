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
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.mapper import StreamMap

RUN = 6  # shortest run of sentinel characters that counts as a trace
HASHES = ("md5", "sha1", "sha256", "sha512")
DEVICE_LETTERS = "GHJKLMNPQRSTUVWXYZ"  # no hex digits


def canary_record(queue_url: str = "") -> dict[str, Any]:
    """Return a deliverable ``logins`` record with fresh sentinel ``ip`` and ``device_id``."""
    sent_at = datetime.now(tz=timezone.utc)
    groups = ("".join(secrets.choice(DEVICE_LETTERS) for _ in range(4)) for _ in range(3))
    return {
        "message_id": "5f0c3a52-7d1e-4c8a-9b6e-2f4d8a1c7e90",
        "sent_at": sent_at,
        "sent_date": sent_at.date().isoformat(),
        "receive_count": 1,
        "queue_url": queue_url,
        "receipt_handle": "AQEBcanaryReceiptHandle==",
        "user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae",
        "app_version": "2.3.0",
        "device_type": "android",
        "ip": f"198.51.100.{secrets.randbelow(254) + 1}",
        "locale": "RU",
        "device_id": "-".join(groups),
        "rejection_reason": None,
        "dead_letter_message_id": None,
    }


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


def canary_leaks(stream_maps: Iterable[StreamMap], queue_url: str = "") -> list[str]:
    """Run each map over the canary; return one problem per stream that leaks a sentinel."""
    record = canary_record(queue_url)
    needles = traces(record["ip"]) | traces(record["device_id"])
    problems = []
    for stream_map in stream_maps:
        try:
            output = stream_map.transform(dict(record))
        except Exception as error:  # an expression that fails on a login would stop the run
            problems.append(
                f"stream_maps for '{stream_map.stream_alias}' fail on a sample login "
                f"({type(error).__name__})"
            )
            continue
        text = json.dumps(output, default=str, ensure_ascii=False).lower()
        if any(needle in text for needle in needles):
            problems.append(
                f"stream '{stream_map.stream_alias}' emits a trace of raw ip or device_id "
                "(the value, a part of it, or an unkeyed hash of it)"
            )
    return problems
