"""What one run holds in flight: a budget under SQS's limit, and FIFO groups it holds back.

SQS keeps at most about 120,000 received-but-not-deleted messages per standard queue and
20,000 per FIFO queue; beyond that ``ReceiveMessage`` fails with ``OverLimit``. A run holds
what it receives until it is deleted: by the loader once committed (``loader``), at the next
run (``after_state``), or right away (``on_emit``). So a run receives at most its budget:
``max_in_flight`` (by default 90% of the queue type's limit) less what the queue already has
in flight when the run starts.

On a FIFO queue SQS returns nothing more from a message group while a batch of it is in
flight, so receives come back empty while the rest of each group waits for this run's
messages to be deleted. ``GroupRelease`` then asks for them to be deleted (``release``: the
loader commits, or ``on_emit`` deletes the batch in progress) and lets the run receive again
until the queue has nothing visible, or no message of the run awaits deletion any more, or
the loader deleted nothing for ``RELEASE_WAIT_SECONDS``. With ``after_state`` nothing can be
deleted before the next run: each run takes one batch per group.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tap_sqs_logins.sqs.batches import batches
from tap_sqs_logins.sqs.client import FIFO_IN_FLIGHT_LIMIT, IN_FLIGHT_LIMIT

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from tap_sqs_logins.sqs.client import SqsQueue

DEFAULT_SHARE = 0.9  # of SQS's limit: room for other consumers and earlier runs
RELEASE_WAIT_SECONDS = 60.0  # for the loader to delete what this run asked it to commit


def default_max_in_flight(*, fifo: bool) -> int:
    """Return ``max_in_flight`` when unset: 90% of SQS's limit for the queue type."""
    return int(DEFAULT_SHARE * (FIFO_IN_FLIGHT_LIMIT if fifo else IN_FLIGHT_LIMIT))


def in_flight_budget(sqs: SqsQueue, config: Mapping[str, Any], logger: logging.Logger) -> int:
    """Return how many messages this run may receive: ``max_in_flight`` less those in flight.

    Raises:
        QueueError: If the queue's attributes cannot be read.
    """
    limit = config.get("max_in_flight") or default_max_in_flight(fifo=sqs.is_fifo)
    held = sqs.depth().in_flight
    budget = max(0, limit - held)
    if budget < limit:
        logger.info(
            "%d messages of the queue are in flight already: this run receives at most %d "
            "(max_in_flight %d).",
            held,
            budget,
            limit,
        )
    return budget


class GroupRelease:
    """Decides whether a FIFO run that receives nothing waits for its groups to be released."""

    def __init__(
        self,
        sqs: SqsQueue,
        release: Callable[[], bool],
        visibility_timeout: int,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare; ``stalled()`` is the receiver's hook.

        Args:
            sqs: The FIFO source queue.
            release: Asks for the messages emitted so far to be deleted; False if the
                acknowledgement mode cannot do it during the run (``after_state``).
            visibility_timeout: Seconds each probe of the awaited messages hides them for.
            logger: Where to say why receiving goes on or stops.
            clock: Monotonic seconds.
        """
        self._sqs = sqs
        self._release = release
        self._visibility = visibility_timeout
        self._logger = logger
        self._clock = clock
        self._new: list[str] = []  # emitted since the last release, to be deleted by it
        self._emitted_since_release = False
        self._awaited: list[str] = []  # released, not known to be deleted yet
        self._released_at = 0.0

    def emitted(self, handle: str, *, deleted_on_release: bool) -> None:
        """Note a message written; ``deleted_on_release`` unless it stays for redrive."""
        self._emitted_since_release = True
        if deleted_on_release:
            self._new.append(handle)

    def stalled(self) -> bool:
        """Return True to receive again after a round of empty receives."""
        visible = self._sqs.depth().visible
        if visible == 0:
            return False
        if self._emitted_since_release:
            return self._ask()
        if not self._awaited:
            self._logger.info(
                "The %s messages left in the queue belong to groups held by messages in flight "
                "elsewhere (another consumer, or poison left for redrive): stopping.",
                visible,
            )
            return False
        self._awaited = self._in_flight(self._awaited)
        if not self._awaited:
            return True  # all deleted: their groups are free for one more round
        if self._clock() - self._released_at >= RELEASE_WAIT_SECONDS:
            self._logger.warning(
                "The loader deleted none of %d released messages in %.0f s: stopping; their "
                "groups go on at the next run.",
                len(self._awaited),
                RELEASE_WAIT_SECONDS,
            )
            return False
        return True

    def _ask(self) -> bool:
        if not self._release():
            self._logger.info(
                "FIFO groups wait for this run's messages to be acknowledged: with "
                "acknowledgement after_state the next run goes on with them."
            )
            return False
        self._awaited += self._new
        self._new = []
        self._emitted_since_release = False
        self._released_at = self._clock()
        return True

    def _in_flight(self, handles: list[str]) -> list[str]:
        """Return the handles still in flight, hiding them again; SQS refuses deleted ones."""
        refused: set[str] = set()
        for batch in batches(handles):
            refused.update(self._sqs.change_visibility(batch, self._visibility))
        return [handle for handle in handles if handle not in refused]
