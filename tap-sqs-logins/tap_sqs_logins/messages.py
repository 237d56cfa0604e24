"""Turn an SQS message body into a login record, or a reason to quarantine it.

Reasons name fields and rules, never values: a rejected body may hold raw
personal data, and reasons are stored and logged.
"""

from __future__ import annotations

import json
import re
from typing import Any

VERSION = re.compile(r"^\d{1,9}(\.\d{1,9})*$")
# field: (required, maximum length or None)
LOGIN_FIELDS: dict[str, tuple[bool, int | None]] = {
    "user_id": (True, 128),
    "app_version": (True, 64),
    "device_type": (True, 32),
    "ip": (False, None),
    "locale": (False, 32),
    "device_id": (False, None),
}


class Rejected(ValueError):
    """The body is not a valid login; ``str(error)`` is the quarantine reason."""


def parse_login(body: str) -> dict[str, str | None]:
    """Return the login fields of a message body.

    Args:
        body: The raw SQS message body.

    Returns:
        One value (a string or None) per field of ``LOGIN_FIELDS``.

    Raises:
        Rejected: If the body is not JSON, not a login, or does not fit ``user_logins``.
    """
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        msg = f"not JSON (line {error.lineno}, column {error.colno})"
        raise Rejected(msg) from None
    if not isinstance(data, dict):
        msg = f"not a login: JSON {type(data).__name__} instead of an object"
        raise Rejected(msg)
    _check_keys(data)
    login = {name: _field(data, name, *rule) for name, rule in LOGIN_FIELDS.items()}
    if not VERSION.match(login["app_version"] or ""):
        msg = "app_version: not a version number like 2.3.0"
        raise Rejected(msg)
    return login


def _check_keys(data: dict[str, Any]) -> None:
    missing = [
        name for name, (required, _) in LOGIN_FIELDS.items() if data.get(name) is None and required
    ]
    unexpected = sorted(key for key in data if key not in LOGIN_FIELDS)
    if missing:
        problems = ["missing " + ", ".join(missing)]
        if unexpected:
            problems.append("unexpected " + ", ".join(_short(key) for key in unexpected[:5]))
        raise Rejected("not a login: " + "; ".join(problems))


def _field(data: dict[str, Any], name: str, required: bool, max_length: int | None) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        msg = f"{name}: {type(value).__name__} instead of a string"
        raise Rejected(msg)
    text = str(value)
    if "\x00" in text:
        msg = f"{name}: contains a NUL character"
        raise Rejected(msg)
    if max_length is not None and len(text) > max_length:
        msg = f"{name}: longer than {max_length} characters"
        raise Rejected(msg)
    if required and not text.strip():
        msg = f"{name}: empty"
        raise Rejected(msg)
    return text


def _short(key: str) -> str:
    return key if len(key) <= 32 else key[:29] + "..."
