"""Offer back to SQS the messages the tap sent a loader that will not load them.

When the check fails, the records already in the pipe would otherwise stay hidden until
their visibility times out. The loader reads what arrives for a moment and makes those
messages visible again; when it exits, the tap's next write fails and the tap offers its
own recent messages again (tap_sqs_logins/receiving.py).
"""

from __future__ import annotations

import json
import select
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, BinaryIO

from tap_sqs_logins.client import BATCH_SIZE, QueueError, SqsQueue

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

READ_SECONDS = 2.0


def offer_again(stream: BinaryIO, config: Mapping[str, Any], seconds: float = READ_SECONDS) -> int:
    """Make the messages of the records read within ``seconds`` visible; return how many."""
    handles: dict[str, list[str]] = defaultdict(list)
    for record in _records(stream, time.monotonic() + seconds):
        if record.get("queue_url") and record.get("receipt_handle"):
            handles[record["queue_url"]].append(record["receipt_handle"])
    for url, batch in handles.items():
        queue = SqsQueue(config, url)
        for start in range(0, len(batch), BATCH_SIZE):
            try:
                queue.change_visibility(batch[start : start + BATCH_SIZE], 0)
            except QueueError:
                break
    return sum(map(len, handles.values()))


def _records(stream: BinaryIO, deadline: float) -> Iterator[dict[str, Any]]:
    """The RECORD messages' records that arrive before ``deadline`` or the end of input."""
    buffered = b""
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([stream], [], [], left)[0]:
            return
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            return
        *lines, buffered = (buffered + chunk).split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("type") == "RECORD":
                yield message.get("record") or {}
