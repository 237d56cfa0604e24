"""Offer back to SQS the messages the tap sent a loader that did not commit them.

The loader notes the receipt handle of every record it passes to target-postgres and forgets
it once the acknowledgement has settled its row. If target-postgres or the acknowledgement
stops before the end, what is left is made visible again at once (ChangeMessageVisibility 0)
instead of staying hidden for the visibility timeout; if the check fails, every message the tap
sends is, once its output has ended (``offer_again``). The tap
offers back what it has not sent yet itself (tap_sqs_logins/sqs/receiving.py). Until then the
loader's heartbeat keeps them hidden, after the tap has ended too: the job's extractor has a
short ``visibility_timeout``, so that nothing stays hidden long if the loader is killed.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from tap_sqs_logins import QueueError, SqsQueue, hide_all

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

READ_SECONDS = 2.0  # how long the tap's further messages are read once nothing loads them
HANDLE_FIELD = b'"receipt_handle"'


class Unloaded:
    """The receipt handles of the records passed on whose rows are not settled yet."""

    def __init__(self) -> None:
        self._queues: dict[str, str] = {}  # receipt handle: queue url
        self._partial = b""  # the start of a line the next chunk ends
        self._lock = threading.Lock()

    def watch(self, chunk: bytes) -> None:
        """Note the receipt handles of the whole RECORD lines ``chunk`` completes."""
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        noted = dict(filter(None, map(_handle, lines)))
        if noted:
            with self._lock:
                self._queues.update(noted)

    def settled(self, handles: Iterable[str]) -> None:
        """Forget the messages whose outcome the acknowledgement has committed."""
        with self._lock:
            for handle in handles:
                self._queues.pop(handle, None)

    def handles(self, queue_url: str) -> list[str]:
        """Return the handles still noted of the messages of ``queue_url``."""
        with self._lock:
            return [handle for handle, url in self._queues.items() if url == queue_url]

    def offer_again(self, config: Mapping[str, Any]) -> int:
        """Make every message still noted visible again; return how many were offered."""
        by_queue: dict[str, list[str]] = defaultdict(list)
        with self._lock:
            for handle, url in self._queues.items():
                by_queue[url].append(handle)
            self._queues.clear()
        for url, handles in by_queue.items():
            queue = SqsQueue(config, url)
            with contextlib.suppress(QueueError):
                hide_all(queue, handles, 0, threads=config["receive_concurrency"])
        return sum(map(len, by_queue.values()))


def offer_again(stream: BinaryIO, config: Mapping[str, Any], seconds: float = math.inf) -> int:
    """Read the tap's output to its end, then make its records' messages visible; return how many.

    To the end, not for a while: a receive still pending when the check failed brings more,
    and once this loader has ended Meltano kills the tap, which then offers back nothing. The
    messages stay hidden until the tap has ended, so it does not receive them again. When the
    run is being stopped, Meltano keeps this input open until this loader has ended: then
    read only what comes within ``seconds``. ``stream`` is unread until now: its file
    descriptor is read directly, so nothing waits in a buffer that ``select`` cannot see.
    """
    unloaded = Unloaded()
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            if left < math.inf and not select.select([stream], [], [], left)[0]:
                break
            if not (chunk := os.read(stream.fileno(), 65536)):  # what one read brings
                break
            unloaded.watch(chunk)
    finally:  # stopped while reading (SIGTERM, SIGINT) too: offer back what was read
        offered = unloaded.offer_again(config)
    return offered


def _handle(line: bytes) -> tuple[str, str] | None:
    """(receipt handle, queue url) of a RECORD line that carries both, else None."""
    if HANDLE_FIELD not in line:
        return None
    try:
        message = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    if not isinstance(message, dict) or message.get("type") != "RECORD":
        return None
    record = message.get("record")
    if not isinstance(record, dict):
        return None
    handle, url = record.get("receipt_handle"), record.get("queue_url")
    return (handle, url) if isinstance(handle, str) and isinstance(url, str) and url else None
