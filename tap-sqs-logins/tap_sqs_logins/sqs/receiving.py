"""Receive with several concurrent long polls into a small buffer, within the run's limits.

Each thread long-polls ``receive_message`` and puts its batches into a bounded queue
that the stream drains, so memory stays flat. Receiving stops when every thread got an
empty receive, or when ``max_messages`` or the in-flight budget is reached (counts are
reserved before each receive, so a run never receives more), or when SQS answers
``OverLimit`` (the run then ends normally with what it received). On a FIFO queue an empty
receive may only mean that this run holds the rest of each group in flight: after a round of
empty receives the ``stalled`` hook decides whether to receive again. However long that
takes, the heartbeat keeps the messages received and not yet written hidden (``waiting()``).

If the run fails (the loader stops reading, the tap is terminated), the messages still
waiting and the last ones emitted are offered again at once rather than when their visibility
times out: a committed one comes back as a duplicate, which the pipeline recognises.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from tap_sqs_logins.sqs.batches import hide_all
from tap_sqs_logins.sqs.client import BATCH_SIZE, OverLimitError, QueueError

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Generator, Mapping

    from tap_sqs_logins.sqs.client import Message, SqsQueue

_DONE = None  # what a thread puts into the buffer when it stops
PUT_POLL_SECONDS = 0.1
IDLE_PAUSE_SECONDS = 0.5  # between empty receives that do not long-poll, while stalled
RELEASE_WINDOW = 5_000  # last emitted messages offered again if the run fails


class ConcurrentReceiver:
    """Receives one run's messages with ``receive_concurrency`` threads."""

    def __init__(
        self,
        sqs: SqsQueue,
        config: Mapping[str, Any],
        logger: logging.Logger,
        budget: int | None = None,
        stalled: Callable[[], bool] | None = None,
    ) -> None:
        """Prepare the threads; nothing is received until ``messages()`` is iterated.

        Args:
            sqs: The source queue; its boto3 client is shared by the threads.
            config: The tap settings (receive_concurrency, max_messages, wait_time_seconds,
                visibility_timeout).
            logger: Where to log why receiving stopped and what was offered again.
            budget: Most messages this run may hold in flight (``in_flight.py``); no bound
                if None.
            stalled: Called (in the reading thread) after every thread got an empty receive
                in a row; True to receive again. Unset: the first round of them ends the run.
        """
        self._sqs = sqs
        self._threads = config["receive_concurrency"]
        self._limit: int | None = config.get("max_messages")
        self._budget = budget
        self._stalled = stalled
        self._over_limit = False
        self._wait = config["wait_time_seconds"]
        self._visibility = config["visibility_timeout"]
        self._logger = logger
        self._buffer: queue.Queue[list[Message] | None] = queue.Queue(maxsize=2 * self._threads)
        self._stop = threading.Event()  # receive no more
        self._closed = threading.Event()  # the stream reads no more
        self._lock = threading.Lock()
        self._reserved = 0  # received, plus requested by receives in flight
        self._errors: list[Exception] = []
        self._emitted: deque[str] = deque(maxlen=RELEASE_WINDOW)  # receipt handles
        self._waiting: dict[str, None] = {}  # received, not yet handed on (in insertion order)

    def messages(self) -> Generator[Message, None, None]:
        """Yield messages as the threads receive them.

        Raises:
            QueueError: From a receive, once every thread has stopped.
        """
        threads = [
            threading.Thread(target=self._receive, name=f"receive-{n}")
            for n in range(self._threads)
        ]
        finished = False
        try:  # a stop (the SDK's SIGTERM handler raises SystemExit) may come between starts
            for thread in threads:
                thread.start()
            running, empty = len(threads), 0
            while running:
                batch = self._buffer.get()
                if batch is _DONE:
                    running -= 1
                elif not batch:
                    empty += 1
                    if empty >= running:  # a round of empty receives, none with messages
                        empty = 0
                        if not (self._stalled and self._stalled()):
                            self._stop.set()
                else:
                    empty = 0
                    for message in batch:
                        self._emitted.append(message.receipt_handle)
                        yield message
                        with self._lock:  # handed on: the caller tracks it from now on
                            self._waiting.pop(message.receipt_handle, None)
            finished = True
        finally:
            self._stop.set()
            self._closed.set()
            for thread in threads:
                if thread.is_alive():  # one never started sees _stop and ends by itself
                    thread.join()
            if not finished:
                self._offer_again()
        if self._errors:
            raise self._errors[0]
        self._logger.info("Stopped receiving after %d messages: %s.", self._reserved, self._why())

    def waiting(self) -> list[str]:
        """Return the handles of the messages received and not yet handed on."""
        with self._lock:
            return list(self._waiting)

    def _offer_again(self) -> None:
        """Make the waiting and the last emitted messages visible again (best effort)."""
        handles = list(dict.fromkeys([*self._emitted, *self.waiting()]))
        with contextlib.suppress(QueueError):
            hide_all(self._sqs, handles, 0, self._threads)
            self._logger.info("The run stopped early: offered %d messages again.", len(handles))

    def _why(self) -> str:
        if self._over_limit:
            return "SQS answered OverLimit (too many messages in flight)"
        if self._limit is not None and self._reserved >= self._limit:
            return "max_messages reached"
        if self._budget is not None and self._reserved >= self._budget:
            return "max_in_flight reached (the rest waits for the next run)"
        return "every receiver got an empty receive"

    def _receive(self) -> None:
        try:
            while not self._stop.is_set():
                count = self._reserve()
                if not count:
                    return
                batch: list[Message] = []
                try:
                    batch = self._sqs.receive(count, self._wait, self._visibility)
                finally:
                    self._release(count - len(batch))
                if not batch and self._stalled is None:
                    return
                with self._lock:
                    self._waiting.update(dict.fromkeys(m.receipt_handle for m in batch))
                self._put(batch)
                if not batch and not self._wait:
                    self._stop.wait(IDLE_PAUSE_SECONDS)
        except OverLimitError as error:  # what was received goes on; the rest waits
            self._logger.warning("%s. This run receives no more and ends normally.", error)
            self._over_limit = True
            self._stop.set()
        except Exception as error:  # raised again in the reading thread
            self._errors.append(error)
            self._stop.set()
        finally:
            self._put(_DONE)

    def _reserve(self) -> int:
        with self._lock:
            limits = [limit for limit in (self._limit, self._budget) if limit is not None]
            count = min([BATCH_SIZE, *(limit - self._reserved for limit in limits)])
            self._reserved += count
            return count

    def _release(self, count: int) -> None:
        with self._lock:
            self._reserved -= count

    def _put(self, item: list[Message] | None) -> None:
        while True:
            try:
                self._buffer.put(item, timeout=PUT_POLL_SECONDS)
            except queue.Full:
                if self._closed.is_set():
                    return
            else:
                return
