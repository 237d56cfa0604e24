"""Keyed, deterministic pseudonyms for personal data (HMAC-SHA-256).

A masked value reads ``<key version>.<key id>:<64 hex digits>``, for example
``v1.8c2e41d0:5f0c…`` (76 characters for a two-letter version). Equal inputs under
the same key give equal outputs, so analysts can count duplicates; nobody without
the key can recompute or reverse them (an unkeyed hash of an IPv4 address falls to
enumerating 2**32 values). The key id is derived from the key itself, so values made
with a rotated key never look like the old ones, even if the version label is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re

KEY_VERSION = r"[A-Za-z0-9_-]{1,32}"
KEY_VERSION_PATTERN = f"^{KEY_VERSION}$"  # for the settings schema
MIN_KEY_LENGTH = 16
MIN_DISTINCT_CHARACTERS = 8
KEY_RULE = (
    f"mask_key (TAP_SQS_LOGINS_MASK_KEY) must be at least {MIN_KEY_LENGTH} characters with "
    f"{MIN_DISTINCT_CHARACTERS} different ones, without leading or trailing whitespace"
)


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


class Pseudonymizer:
    """Masks strings with one versioned secret key."""

    def __init__(self, key: str, key_version: str) -> None:
        """Build a masker.

        Args:
            key: The secret key (see ``check_key``).
            key_version: A short label stored in every masked value.

        Raises:
            ValueError: If the key is weak or the version is malformed.
        """
        check_key(key)
        if not isinstance(key_version, str) or not re.fullmatch(KEY_VERSION, key_version):
            msg = "mask_key_version must match " + KEY_VERSION_PATTERN
            raise ValueError(msg)
        self._key = key.encode()
        key_id = hmac.new(self._key, b"tap-sqs-logins key id", hashlib.sha256).hexdigest()[:8]
        self._prefix = f"{key_version}.{key_id}:"

    def __call__(self, value: str | None) -> str | None:
        """Return the pseudonym of ``value``; ``None`` stays ``None``."""
        if value is None:
            return None
        digest = hmac.new(self._key, str(value).encode(), hashlib.sha256).hexdigest()
        return self._prefix + digest

    def __repr__(self) -> str:
        """Name the key version and id only, never the key."""
        return f"Pseudonymizer({self._prefix[:-1]!r})"
