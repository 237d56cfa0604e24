"""Keep the run's unacknowledged messages hidden while the run goes on, however long.

Every third of ``visibility_timeout`` a thread hides again, for a whole ``visibility_timeout``,
every message the run received and nobody has acknowledged yet, so SQS never offers one
again while it is being worked on: a slow target cannot make the tap receive a message
twice. The handles are read back from disk (the journal), so memory stays flat.
"""

from __future__ import annotations

import threading
from itertools import takewhile
from typing import TYPE_CHECKING

from tap_sqs_logins.sqs.batches import hide_all
from tap_sqs_logins.sqs.client import QueueError

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from tap_sqs_logins.sqs.client import SqsQueue


class Heartbeat:
    """A thread that extends the visibility of ``handles()`` until the context exits."""

    def __init__(
        self,
        sqs: SqsQueue,
        handles: Callable[[], Iterable[str]],
        visibility_timeout: int,
        threads: int,
        logger: logging.Logger,
    ) -> None:
        """Prepare the thread; it starts on entering the context.

        Args:
            sqs: The queue the messages came from.
            handles: Returns the receipt handles to keep hidden, read afresh at each beat.
            visibility_timeout: Seconds each beat hides them for; a beat every third of it.
            threads: Calls in flight at once.
            logger: Where to report a beat SQS refused.
        """
        self._sqs = sqs
        self._handles = handles
        self._seconds = visibility_timeout
        self.interval = visibility_timeout / 3
        self._threads = threads
        self._logger = logger
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="visibility-heartbeat")
        self.beats = 0

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            handles = takewhile(lambda _: not self._stop.is_set(), self._handles())
            try:
                sent, refused = hide_all(self._sqs, handles, self._seconds, self._threads)
            except QueueError as error:  # the next beat tries again; at worst a duplicate
                self._logger.warning("Could not extend the visibility of messages: %s", error)
                continue
            self.beats += 1
            self._logger.info(
                "Kept %d unacknowledged messages hidden for %d s more (%d already gone).",
                sent - refused,
                self._seconds,
                refused,
            )
