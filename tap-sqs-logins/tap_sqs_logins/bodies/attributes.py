"""Free text from SQS and SNS (attributes, FIFO group ids), emitted only when safe.

Producers choose these values, so they can hold personal data: an attribute carrying the
client's IP address, a group id equal to the device id. The stream maps mask only ``ip``
and ``device_id``, so the tap drops here every name or value that PostgreSQL cannot store
(NUL, lone surrogates), that contains the login's own ``ip`` or ``device_id`` (in any
case), or that contains anything shaped like an IPv4 or IPv6 address.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from tap_sqs_logins.bodies.messages import UNSTORABLE

if TYPE_CHECKING:
    from collections.abc import Mapping

IPV4 = re.compile(r"(?<![0-9])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9])")
# Runs of IPv6 characters with at least two colons; each is then parsed.
IPV6_CANDIDATE = re.compile(r"[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")
PII_FIELDS = ("ip", "device_id")


def is_safe(text: str, login: Mapping[str, str | None]) -> bool:
    """Whether ``text`` is storable and shows no IP address nor the login's ip or device_id.

    Args:
        text: A value or name chosen by the producer.
        login: The login fields of the same message.
    """
    if UNSTORABLE.search(text) or IPV4.search(text) or _has_ipv6(text):
        return False
    folded = text.casefold()
    return not any((value := login.get(name)) and value.casefold() in folded for name in PII_FIELDS)


def safe_text(text: str | None, login: Mapping[str, str | None]) -> str | None:
    """Return ``text`` if it is safe to emit, else None."""
    return text if text is not None and is_safe(text, login) else None


def safe_attributes(
    attributes: Mapping[str, str], login: Mapping[str, str | None]
) -> tuple[dict[str, str], int]:
    """Return the attributes whose name and value are both safe, and how many were dropped."""
    kept = {
        name: value
        for name, value in attributes.items()
        if is_safe(name, login) and is_safe(value, login)
    }
    return kept, len(attributes) - len(kept)


def _has_ipv6(text: str) -> bool:
    return any(
        _is_ipv6(form)
        for candidate in IPV6_CANDIDATE.findall(text)
        for form in (candidate.strip("."), candidate.strip(".:"))
    )


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
