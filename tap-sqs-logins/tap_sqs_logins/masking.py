"""Keyed, deterministic pseudonyms for personal data (HMAC-SHA-256).

A masked value reads ``<key version>:<64 hex digits>``, for example
``v1:5f0c…``: equal inputs under the same key give equal outputs, so analysts
can count duplicates, and nobody without the key can recompute or reverse them
(an unkeyed hash of an IPv4 address falls to enumerating 2**32 values).
"""

from __future__ import annotations

import hashlib
import hmac
import re

KEY_VERSION_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
MIN_KEY_LENGTH = 16


class Pseudonymizer:
    """Masks strings with one versioned secret key."""

    def __init__(self, key: str, key_version: str) -> None:
        """Build a masker.

        Args:
            key: The secret key, at least 16 characters.
            key_version: A short label stored in every masked value.

        Raises:
            ValueError: If the key is too short or the version is malformed.
        """
        if len(key) < MIN_KEY_LENGTH:
            msg = f"the masking key must be at least {MIN_KEY_LENGTH} characters long"
            raise ValueError(msg)
        if not re.match(KEY_VERSION_PATTERN, key_version):
            msg = "the masking key version must match " + KEY_VERSION_PATTERN
            raise ValueError(msg)
        self._key = key.encode()
        self._prefix = f"{key_version}:"

    def __call__(self, value: str | None) -> str | None:
        """Return the pseudonym of ``value``; ``None`` stays ``None``."""
        if value is None:
            return None
        digest = hmac.new(self._key, str(value).encode(), hashlib.sha256).hexdigest()
        return self._prefix + digest

    def __repr__(self) -> str:
        """Name the key version only, never the key."""
        return f"Pseudonymizer(key_version={self._prefix[:-1]!r})"
