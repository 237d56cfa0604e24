"""target-postgres reading its Singer input with msgspec: ``target-postgres-msgspec``.

The SDK's own reader (``singer_sdk.contrib.msgspec``) in place of its default, json: the same
messages, decimals as ``Decimal`` as before, parsed with less CPU per record. Nothing else of
target-postgres changes.
"""

from __future__ import annotations

import io
import sys
from typing import IO

from singer_sdk.contrib.msgspec import MsgSpecReader
from target_postgres.target import TargetPostgres


class TargetPostgresMsgspec(TargetPostgres):
    """target-postgres with the SDK's msgspec reader."""

    message_reader_class = MsgSpecReader

    def listen(self, file_input: IO[str] | None = None) -> None:
        """Read standard input as UTF-8, whatever the locale says.

        The tap's msgspec writer writes non-ASCII characters as UTF-8, not as the json
        writer's ASCII escapes: read with another encoding (a latin-1 locale,
        PYTHONIOENCODING), they would be loaded garbled.
        """
        if file_input is None:
            file_input = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
        super().listen(file_input)
