"""Who deletes a message from SQS, and when: the ``acknowledgement`` setting.

- ``after_state`` (default, at least once with any Singer target): the tap journals the
  receipt handles of each batch of records it writes, then a STATE bookmark naming the run
  and the batch. A Singer target emits a STATE only once it has committed the records before
  it, and Meltano stores it; at the start of the next run the tap deletes exactly the batches
  that state confirms. Unconfirmed messages come back after ``visibility_timeout``.
- ``loader``: a loader deletes what it committed (this project's sqs-ack); the tap emits
  ``queue_url`` and ``receipt_handle`` for it and deletes nothing.
- ``on_emit`` (at most once): the tap deletes each batch of ten right after writing it; a
  target that fails before committing loses them.

Whatever the mode, a bookmark left by an ``after_state`` run is honoured first.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap_sqs_logins.acknowledging.journal import (
    Journal,
    earlier_run,
    journals,
    read_confirmed,
    remove_older_than,
)
from tap_sqs_logins.settings import AFTER_STATE, ON_EMIT
from tap_sqs_logins.sqs.batches import delete_all, hide_all
from tap_sqs_logins.sqs.client import BATCH_SIZE, QueueError, SqsQueue

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Mapping

BOOKMARK = "acknowledgement"  # {"run": run id, "batch": last batch written} in the stream state
STATE_BATCH = 500  # records per journal batch and STATE bookmark


class Acknowledgement:
    """One run's acknowledgement, in the configured mode."""

    def __init__(
        self,
        config: Mapping[str, Any],
        source: SqsQueue,
        state: dict[str, Any],
        logger: logging.Logger,
    ) -> None:
        """Prepare; nothing is read or deleted before ``start()``.

        Args:
            config: The tap settings (acknowledgement, journal_dir, visibility_timeout,
                receive_concurrency, the AWS settings).
            source: The queue this run receives from.
            state: The stream's state, holding the incoming bookmark; the run's own
                bookmarks are written there.
            logger: Where to report what was deleted.
        """
        self.mode: str = config["acknowledgement"]
        self.batch_size = BATCH_SIZE if self.mode == ON_EMIT else STATE_BATCH
        self._config = config
        self._source = source
        self._state = state
        self._logger = logger
        self._directory = Path(config["journal_dir"])
        self._threads = config["receive_concurrency"]
        self._journal: Journal | None = None
        self._batch: list[str] = []
        self._left: list[str] = []  # poison of the batch, for the redrive policy
        self._lock = threading.Lock()  # the heartbeat reads the batch in progress

    def start(self) -> None:
        """Delete what the incoming state confirms, remove stale journals, open the run's.

        Raises:
            QueueError: If SQS refuses; the confirmed journal is kept for the next try.
            JournalError: If ``journal_dir`` cannot be used.
        """
        bookmark = self._state.pop(BOOKMARK, None)
        if bookmark is None and self.mode == AFTER_STATE:
            self._warn_if_no_state_comes_back()
        self._confirm(bookmark)
        retention = self._source.attributes("MessageRetentionPeriod")["MessageRetentionPeriod"]
        if removed := remove_older_than(self._directory, int(retention)):
            self._logger.info("Removed %d journals older than the queue's retention.", removed)
        if self.mode == ON_EMIT:
            self._logger.warning(
                "acknowledgement is on_emit: each message is deleted once its record is "
                "written, before the target commits it; a target that fails loses them."
            )
            return
        self._journal = Journal(self._directory, self._source.queue_url)
        if self.mode == AFTER_STATE:
            self._state[BOOKMARK] = {"run": self._journal.run_id, "batch": 0}

    def add(self, handle: str, *, delete: bool = True) -> bool:
        """Add a message about to be written to the batch; return True once the batch is full.

        One not to ``delete`` (poison for the queue's redrive policy) is kept hidden while the
        run lasts, and never deleted.
        """
        with self._lock:
            (self._batch if delete else self._left).append(handle)
        return len(self._batch) + len(self._left) >= self.batch_size

    def close_batch(self) -> bool:
        """Journal (or, on_emit, delete) the batch once its records are written.

        Returns:
            True if the bookmark moved on: write a STATE message now.
        """
        if not (self._batch or self._left):
            return False
        if self._journal is None:
            delete_all(self._source, self._batch, self._threads)
        else:
            batch = self._journal.append(self._batch, self._left)
            if self.mode == AFTER_STATE:
                self._state[BOOKMARK] = {"run": self._journal.run_id, "batch": batch}
        with self._lock:
            self._batch, self._left = [], []
        return self.mode == AFTER_STATE

    def unacknowledged(self) -> Iterator[str]:
        """Yield the handles of the messages written (or being written) and not acknowledged."""
        with self._lock:
            in_progress = [*self._batch, *self._left]
        yield from in_progress
        if self._journal:
            yield from self._journal.handles()

    def finish(self, *, completed: bool) -> None:
        """Close the journal; after a complete after_state run, keep it and its messages hidden.

        The messages stay hidden for a whole ``visibility_timeout`` from now, for the next
        run to delete the confirmed ones before SQS offers them again.
        """
        if self._journal is None:
            return
        if completed and self.mode == AFTER_STATE:
            try:
                hide_all(
                    self._source,
                    self._journal.handles(),
                    self._config["visibility_timeout"],
                    self._threads,
                )
            except QueueError as error:  # they may come back early: a duplicate, not a loss
                self._logger.warning("Could not extend the visibility of messages: %s", error)
        self._journal.close(keep=self.mode == AFTER_STATE)

    def _warn_if_no_state_comes_back(self) -> None:
        """Say so when no state came in although earlier runs left journals to confirm.

        That is how a plugin entry without the ``state`` capability looks: Meltano then
        passes no state, and every run's messages come back after ``visibility_timeout``.
        """
        if pending := journals(self._directory):
            self._logger.warning(
                "acknowledgement after_state: no state came in, but journal_dir %s holds %d "
                "journals of earlier runs that only their state can confirm; their messages "
                "come back after visibility_timeout and are emitted again. Under Meltano, "
                "add `state` to the extractor's capabilities in meltano.yml (without it "
                "Meltano passes no state); elsewhere pass the target's last STATE with "
                "--state. A first run under a new state id sees this once.",
                self._directory,
                len(pending),
            )

    def _confirm(self, bookmark: Any) -> None:
        """Delete the messages of the batches an earlier run's bookmark confirms.

        That run is over: its journal goes too, and its unconfirmed messages come back.
        """
        if not isinstance(bookmark, dict) or not isinstance(bookmark.get("batch"), int):
            return  # a state is input: only a bookmark this tap wrote is acted on
        run, through = str(bookmark.get("run")), bookmark["batch"]
        path = earlier_run(self._directory, run)
        if path is None:
            if through:
                self._logger.info(
                    "No journal of run %s in %s: nothing to delete (already done, or the "
                    "journal was lost and its messages are emitted again).",
                    run,
                    self._directory,
                )
            return
        if through:
            queue_url, handles = read_confirmed(path, through)
            queue = SqsQueue(self._config, queue_url, self._threads)
            sent, refused = delete_all(queue, handles, self._threads)
            self._logger.info(
                "Deleted the %d messages of run %s that the target confirmed (batches 1-%d); "
                "%d were already gone.",
                sent - refused,
                run,
                through,
                refused,
            )
        path.unlink()
