"""Keyed, deterministic pseudonyms for personal data (HMAC-SHA-256), one domain per field.

A masked value reads ``m2:<key id>:<64 hex digits>``, for example ``m2:8c2e41d0:5f0c…``
(76 characters). Equal inputs of one field under one key give equal outputs, so analysts
can count duplicates; nobody without the key can recompute or reverse them (an unkeyed hash
of an IPv4 address falls to enumerating 2**32 values).

- **Fields are separate domains.** The field's name is part of the HMAC input, so
  ``mask(ip)`` and ``mask(device_id)`` of one string differ.
- **One address, one mask.** An ``ip`` is normalised first (``canonical_ip``); any other
  field, and an ``ip`` that is not an address, is hashed as it is.
- **The key id is the label.** It is derived from the key, so values made with another key
  never look alike; ``mask_key_version``, if set, must equal it (a label bound to its key).

The first format, ``<mask_key_version>.<key id>:<hex>`` (``v1.8c2e41d0:…``), hashed the bare
value: rows written with it keep it, and never equal an ``m2`` value (README: "Masking").
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re

from tap_sqs_logins.settings import MIN_KEY_LENGTH

FORMAT = "m2"
DOMAIN = b"tap-sqs-logins mask m2"
MIN_DISTINCT_CHARACTERS = 8
KEY_RULE = (
    f"mask_key (TAP_SQS_LOGINS_MASK_KEY) must be at least {MIN_KEY_LENGTH} characters with "
    f"{MIN_DISTINCT_CHARACTERS} different ones, without leading or trailing whitespace"
)
IP_FIELD = "ip"
# One IPv4 part as inet_aton() reads it, but never with a leading zero: inet_aton() and URL
# parsers read "010" as octal 8, people and most logs as decimal 10.
IPV4_PART = r"(?:0[xX][0-9a-fA-F]{1,8}|[1-9][0-9]{0,9}|0)"
IPV4_NUMBERS = re.compile(rf"{IPV4_PART}(?:\.{IPV4_PART}){{0,3}}")


def check_key(key: object) -> None:
    """Refuse a weak masking key; the error names the setting, never the key.

    Raises:
        ValueError: If the key is not a string, is too short, repetitive, or
            whitespace-padded (``16 spaces`` is not a key).
    """
    if (
        not isinstance(key, str)
        or len(key) < MIN_KEY_LENGTH
        or key != key.strip()
        or len(set(key)) < MIN_DISTINCT_CHARACTERS
    ):
        raise ValueError(KEY_RULE)


def key_id(key: str) -> str:
    """Return the 8-hex id of a key, as written in its masked values (not a secret)."""
    return hmac.new(key.encode(), b"tap-sqs-logins key id", hashlib.sha256).hexdigest()[:8]


def canonical_ip(value: str) -> str:
    """Return the one spelling of an IP address, or ``value`` itself if it is not one.

    - IPv6, in any RFC 4291 spelling (case, ``::``, leading zeros of a group, a dotted
      IPv4 tail): RFC 5952's lower-case, compressed form; a zone (``%eth0``) is kept.
    - An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``): the IPv4 address it maps.
    - IPv4 as inet_aton() reads it (``192.0.2.1``, the integer ``3221225985``, hex
      ``0xc0000201``, ``192.0.513``): dotted decimal. A part with a leading zero is left
      alone: ``010.0.0.1`` is 8.0.0.1 to inet_aton() but 10.0.0.1 to most people.
    """
    if ":" in value:
        try:
            address = ipaddress.IPv6Address(value)
        except ValueError:
            return value
        if address.ipv4_mapped and not address.scope_id:
            return str(address.ipv4_mapped)
        return str(address)  # compressed, lower case
    return _ipv4_numbers(value) or value


def _ipv4_numbers(value: str) -> str | None:
    if not IPV4_NUMBERS.fullmatch(value):
        return None
    *leading, last = (int(part, 0) for part in value.split("."))
    if any(part > 0xFF for part in leading) or last >= 1 << 8 * (4 - len(leading)):
        return None
    number = last
    for position, part in enumerate(leading):
        number += part << 8 * (3 - position)
    return str(ipaddress.IPv4Address(number))


class Pseudonymizer:
    """Masks the fields of a record with one secret key."""

    def __init__(self, key: str, key_version: str | None = None) -> None:
        """Build a masker.

        Args:
            key: The secret key (see ``check_key``).
            key_version: ``mask_key_version``: if set, the id the key must have.

        Raises:
            ValueError: If the key is weak, or is not the one ``key_version`` names.
        """
        check_key(key)
        self._key = key.encode()
        self.key_id = key_id(key)
        if key_version is not None and key_version != self.key_id:
            msg = (
                f"mask_key_version is {key_version!r}, but mask_key has the id "
                f"{self.key_id!r}: a label belongs to one key. Set mask_key_version to the id "
                "of the key you mean to use (or unset it to take this key's id)"
            )
            raise ValueError(msg)
        self._prefix = f"{FORMAT}:{self.key_id}:"

    def __call__(self, field: str, value: str | None) -> str | None:
        """Return the pseudonym of ``value`` of ``field``; ``None`` stays ``None``."""
        if value is None:
            return None
        text = str(value)
        if field == IP_FIELD:
            text = canonical_ip(text)
        message = b"\0".join([DOMAIN, field.encode(), text.encode(errors="surrogatepass")])
        return self._prefix + hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        """Name the format and key id only, never the key."""
        return f"Pseudonymizer({self._prefix[:-1]!r})"
