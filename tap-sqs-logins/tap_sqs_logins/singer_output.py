"""The tap's Singer output, encoded by msgspec (the encoder of ``singer_sdk.contrib.msgspec``).

The same JSON as the SDK's default writer (simplejson), for less CPU per record.
"""

from __future__ import annotations

import sys

from singer_sdk.contrib.msgspec import encoder
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from singer_sdk.singerlib.encoding.simple import Message


class SingerWriter(GenericSingerWriter[bytes, Message]):
    """The SDK's msgspec writer, with each line its own bytes.

    ``MsgSpecWriter`` encodes into one buffer shared by every thread. This one also writes to
    a text-only stdout (a test capturing it).
    """

    def serialize_message(self, message: Message) -> bytes:
        """One message as a line of JSON."""
        return encoder.encode(message.to_dict()) + b"\n"

    def write_message(self, message: Message) -> None:
        """Write one message to stdout and flush it."""
        line = self.format_message(message)
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:
            sys.stdout.write(line.decode())
        else:
            buffer.write(line)
        sys.stdout.flush()
