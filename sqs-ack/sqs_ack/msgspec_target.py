"""target-postgres reading its Singer input with msgspec: ``target-postgres-msgspec``.

The SDK's own reader (``singer_sdk.contrib.msgspec``) in place of its default, json: the same
messages, decimals as ``Decimal`` as before, parsed with less CPU per record. Nothing else of
target-postgres changes.
"""

from __future__ import annotations

from singer_sdk.contrib.msgspec import MsgSpecReader
from target_postgres.target import TargetPostgres


class TargetPostgresMsgspec(TargetPostgres):
    """target-postgres with the SDK's msgspec reader."""

    message_reader_class = MsgSpecReader
