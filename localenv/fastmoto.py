"""A moto SQS server that stays fast with thousands of queued messages, and receives atomically.

moto 5.2 reads a slow, freezegun-aware clock for every message on every scan of a queue, and
recomputes all queue attributes (three such scans) on each send and twice per received message.
A queue of 2,000 messages then takes a second per receive. `apply()` swaps in the system clock
and reads the retention period directly. moto's receives and deletes also take no lock: two
concurrent receivers (the tap runs several) could both take one message, and of concurrent
deletes (the acknowledgement runs several) some are answered as done but lost. Real SQS does
neither, so `apply()` serialises both: each scan of a receive, not its long-poll wait, so
concurrent long polls wait side by side as on SQS (held, eight receivers of an empty queue
took eight waits). Queue semantics (visibility, receipt handles, deletes, attribute counts)
are otherwise unchanged. Serve it: `python -m localenv.fastmoto -H HOST -p PORT`.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from moto.core import utils
from moto.sqs import models

if TYPE_CHECKING:
    from datetime import datetime


def _unix_time(dt: datetime | None = None) -> float:
    return time.time() if dt is None else utils.unix_time(dt)


def _unix_time_millis(dt: datetime | None = None) -> float:
    return _unix_time(dt) * 1000.0


def _retained(self: models.SQSBackend, queue_name: str, message: models.Message) -> bool:
    queue = self.get_queue(queue_name)
    retention = int(queue.message_retention_period)  # type: ignore[attr-defined]  # set by moto
    sent = message.sent_timestamp or 0  # moto sets it on sending
    return bool(retention + sent / 1000 > time.time())


_RECEIVE = models.SQSBackend.receive_message
_DELETE = models.Queue.delete_message
_QUEUE_LOCK = threading.Lock()
RESCAN_SECONDS = 0.05


def _receive_atomically(
    self: models.SQSBackend,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[models.Message]:
    """Scan under the lock; long-poll between scans without it."""
    polling_end = time.monotonic() + wait_seconds_timeout
    while True:
        with _QUEUE_LOCK:
            result = _RECEIVE(
                self, queue_name, count, 0, visibility_timeout, message_attribute_names
            )
        left = polling_end - time.monotonic()
        if result or left <= 0:
            return result
        self.get_queue(queue_name).wait_for_messages(min(1, left))  # type: ignore[arg-type]  # moto types it int
        time.sleep(min(RESCAN_SECONDS, left))  # visible but held (a FIFO group in flight)


def _delete_atomically(self: models.Queue, receipt_handle: str) -> None:
    with _QUEUE_LOCK:
        _DELETE(self, receipt_handle)


def apply() -> None:
    """Patch moto's SQS models in this process."""
    models.unix_time = _unix_time  # type: ignore[attr-defined]
    models.unix_time_millis = _unix_time_millis  # type: ignore[attr-defined]
    models.SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
    models.SQSBackend.receive_message = _receive_atomically  # type: ignore[method-assign]
    models.Queue.delete_message = _delete_atomically  # type: ignore[method-assign]


if __name__ == "__main__":
    from moto.server import main

    apply()
    main()
