"""Singer tap for user-login events on an AWS SQS queue.

The names below are the package's API: sqs-ack, localenv, the bench, orchestrate and transform
import only these (``from tap_sqs_logins import SqsQueue``), never a submodule. Each is
imported on first use, so ``import tap_sqs_logins`` costs nothing and the SQS layer loads
without Singer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

if TYPE_CHECKING:
    from tap_sqs_logins.fields import STREAM, login_schema
    from tap_sqs_logins.privacy.masking import check_key
    from tap_sqs_logins.settings import COMMIT_REQUEST, LOADER, SETTINGS
    from tap_sqs_logins.sqs.batches import batches, delete_all, hide_all, send_all
    from tap_sqs_logins.sqs.client import (
        BATCH_SIZE,
        Depth,
        Message,
        OverLimitError,
        QueueError,
        QueueMissing,
        SqsEndpoint,
        SqsQueue,
        local_endpoint,
    )
    from tap_sqs_logins.sqs.heartbeat import Heartbeat
    from tap_sqs_logins.streams import LoginsStream
    from tap_sqs_logins.tap import TapSqsLogins, load_settings

# Each declared name and the module that defines it (tests/unit/test_declared_api.py).
_MODULES = {
    "TapSqsLogins": "tap",
    "load_settings": "tap",
    "SETTINGS": "settings",
    "COMMIT_REQUEST": "settings",
    "LOADER": "settings",
    "LoginsStream": "streams",
    "STREAM": "fields",
    "login_schema": "fields",
    "check_key": "privacy.masking",
    "BATCH_SIZE": "sqs.client",
    "Depth": "sqs.client",
    "Message": "sqs.client",
    "OverLimitError": "sqs.client",
    "QueueError": "sqs.client",
    "QueueMissing": "sqs.client",
    "SqsEndpoint": "sqs.client",
    "SqsQueue": "sqs.client",
    "local_endpoint": "sqs.client",
    "batches": "sqs.batches",
    "delete_all": "sqs.batches",
    "hide_all": "sqs.batches",
    "send_all": "sqs.batches",
    "Heartbeat": "sqs.heartbeat",
}
__all__ = [
    "BATCH_SIZE",
    "COMMIT_REQUEST",
    "LOADER",
    "SETTINGS",
    "STREAM",
    "Depth",
    "Heartbeat",
    "LoginsStream",
    "Message",
    "OverLimitError",
    "QueueError",
    "QueueMissing",
    "SqsEndpoint",
    "SqsQueue",
    "TapSqsLogins",
    "batches",
    "check_key",
    "delete_all",
    "hide_all",
    "load_settings",
    "local_endpoint",
    "login_schema",
    "send_all",
]


def __getattr__(name: str) -> Any:
    """Import a declared name from its module on first use (PEP 562)."""
    if name not in _MODULES:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
