"""Judge an SQS message body: a deliverable login, or a reason to quarantine it.

This is the pipeline's one judge: a login it passes always fits ``user_logins``, and the
SQL only casts it. ``parse_login`` raises nothing but ``Rejected``, whatever the body.
Reasons name rules and the fixed login field names only, never a key or a value of the
body: a rejected body may hold raw personal data (even in its key names), and reasons are
stored, logged and sent as message attributes.
"""

from __future__ import annotations

import json
import re
from typing import Any

# ASCII digits only (``\d`` also matches Arabic-Indic and full-width digits), matched
# with ``fullmatch`` (``$`` also matches before a trailing newline). A major of at most
# 9 digits always casts to a PostgreSQL integer.
VERSION = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})*")
# Characters PostgreSQL text cannot hold: NUL, and UTF-16 surrogates (never valid alone).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# field: (required, maximum length or None)
LOGIN_FIELDS: dict[str, tuple[bool, int | None]] = {
    "user_id": (True, 128),
    "app_version": (True, 64),
    "device_type": (True, 32),
    "ip": (False, None),
    "locale": (False, 32),
    "device_id": (False, None),
}
# The Python types json.loads returns, by their JSON names.
JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


class Rejected(ValueError):
    """The body is not a deliverable login; ``str(error)`` is the quarantine reason."""


def parse_login(body: str) -> dict[str, str | None]:
    """Return the login fields of a message body.

    Args:
        body: The raw SQS message body, any string.

    Returns:
        One value (a string or None) per field of ``LOGIN_FIELDS``, meeting Contract 1.

    Raises:
        Rejected: If the body is not JSON, not a login, or does not fit ``user_logins``.
    """
    return judge_login(load_json(body))


def judge_login(data: Any) -> dict[str, str | None]:
    """Return the login fields of a JSON value read by ``load_json``.

    Raises:
        Rejected: If the value is not a login, or does not fit ``user_logins``.
    """
    if not isinstance(data, dict):
        msg = f"not a login: JSON {json_type(data)} instead of an object"
        raise Rejected(msg)
    _check_required(data)
    login = {name: _field(name, data.get(name), *rule) for name, rule in LOGIN_FIELDS.items()}
    if not VERSION.fullmatch(login["app_version"] or ""):
        msg = "app_version: not a version number like 2.3.0 (ASCII digits, at most 9 each)"
        raise Rejected(msg)
    return login


def load_json(body: str) -> Any:
    """Read strict JSON: no repeated keys, no NaN or Infinity.

    Raises:
        Rejected: If the body is not such JSON, or too deep or too long to read.
    """
    try:
        return json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except Rejected:
        raise
    except json.JSONDecodeError as error:
        msg = f"not JSON (line {error.lineno}, column {error.colno})"
        raise Rejected(msg) from None
    except RecursionError:
        msg = "not a login: nested too deeply to read"
        raise Rejected(msg) from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        msg = "not a login: a number too long to read"
        raise Rejected(msg) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        msg = "not JSON: an object repeats a key"
        raise Rejected(msg)
    return data


def _no_constant(name: str) -> None:
    msg = "not JSON: NaN and Infinity are not JSON numbers"
    raise Rejected(msg)


def _check_required(data: dict[str, Any]) -> None:
    missing = [
        name for name, (required, _) in LOGIN_FIELDS.items() if required and data.get(name) is None
    ]
    if missing:
        reason = "not a login: missing " + ", ".join(missing)
        unexpected = sum(1 for key in data if key not in LOGIN_FIELDS)
        if unexpected:
            reason += f"; {unexpected} unexpected field{'s' if unexpected > 1 else ''}"
        raise Rejected(reason)


def _field(name: str, value: Any, required: bool, max_length: int | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        msg = f"{name}: {json_type(value)} instead of a string"
        raise Rejected(msg)
    text = str(value)
    if UNSTORABLE.search(text):
        msg = f"{name}: contains a NUL or lone surrogate character, which PostgreSQL cannot store"
        raise Rejected(msg)
    if max_length is not None and len(text) > max_length:
        msg = f"{name}: longer than {max_length} characters"
        raise Rejected(msg)
    if required and not text.strip():
        msg = f"{name}: empty or blank"
        raise Rejected(msg)
    return text


def json_type(value: Any) -> str:
    """Return the JSON name of a value ``json.loads`` returned, such as ``object``."""
    return JSON_TYPES[type(value)]
