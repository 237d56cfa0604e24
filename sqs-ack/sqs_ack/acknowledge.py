"""Delete from SQS exactly the messages whose whole outcome target-postgres has committed.

The Singer stream is one-way, so the tap cannot learn what the target committed. The loader
reads the committed staging rows instead (only those pending, see bookkeeping.py) while
target-postgres is still loading, and once more when it ends. A message is deleted with the
receipt handle stored beside it when its row is a valid login or a poison message with a
dead-letter copy, and every stream the maps derive from ``logins`` holds its message id.
Rows are claimed with ``FOR UPDATE SKIP LOCKED``, so two workers never delete the same
messages; each row's outcome is committed with its claim, so a crash repeats at most one
claim's deletes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import psycopg

from sqs_ack import bookkeeping
from sqs_ack.derived import derived_streams
from tap_sqs_logins import QueueMissing, SqsQueue, batches

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sqs_ack.target_settings import TargetSettings

logger = logging.getLogger("sqs-ack")

CLAIM_SIZE = 500  # rows locked, deleted and recorded per transaction
POLL_SECONDS = 0.25  # pause between looks at staging while the target loads
# Outcomes recorded in _ack_outcome.
DELETED, REFUSED, LEFT, INCOMPLETE, QUEUE_MISSING = (
    "deleted",  # gone from SQS
    "refused",  # the receipt handle had expired: SQS redelivers it, and it goes next time
    "left",  # poison without a dead-letter copy: the queue's redrive policy takes it
    "incomplete",  # a derived stream has no row for it yet: SQS redelivers it
    "queue missing",  # its queue no longer exists
)


class Acknowledger:
    """Settles pending staging rows claim by claim, with one SQS client per queue."""

    def __init__(
        self,
        config: Mapping[str, Any],
        schema: str,
        derived: list[str],
        concurrency: int,
        on_settled: Callable[[list[str]], None],
    ) -> None:
        self.config = config
        self.on_settled = on_settled
        self.schema = schema
        self.derived = derived
        self.concurrency = concurrency
        self.queues: dict[str, SqsQueue] = {}
        self.missing: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.deferred: set[str] = set()  # rows a derived stream may still commit

    def settle(self, connection: psycopg.Connection[Any], *, final: bool) -> int:
        """Settle every pending row now committed; return how many were claimed.

        Before the target has ended (``final`` false), a row whose derived streams are not
        all committed yet is left pending for a later pass instead of recorded incomplete.
        """
        if final:
            self.deferred.clear()
        claimed = 0
        with ThreadPoolExecutor(self.concurrency) as pool:
            while True:
                with connection.transaction():
                    rows = bookkeeping.claim(
                        connection, self.schema, CLAIM_SIZE, list(self.deferred)
                    )
                    if not rows:
                        return claimed
                    settled = self._settle(connection, rows, pool)
                    if not final:
                        self.deferred.update(m for m, _, o in settled if o == INCOMPLETE)
                        settled = [row for row in settled if row[2] != INCOMPLETE]
                    bookkeeping.record(connection, self.schema, settled)
                self.on_settled([handle for _, handle, outcome in settled if outcome != INCOMPLETE])
                claimed += len(rows)
                self.outcomes.update(outcome for _, _, outcome in settled)

    def _settle(
        self,
        connection: psycopg.Connection[Any],
        rows: list[tuple[Any, ...]],
        pool: ThreadPoolExecutor,
    ) -> list[tuple[str, str, str]]:
        """Decide each claimed row's outcome, deleting the deliverable ones batch by batch."""
        complete = self._complete(connection, [row[0] for row in rows])
        settled: list[tuple[str, str, str]] = []
        by_queue: dict[str, list[tuple[str, str]]] = {}
        for message_id, queue_url, handle, rejection, dead_letter_id in rows:
            if queue_url is None or queue_url in self.missing:
                outcome = QUEUE_MISSING
                self.missing[str(queue_url)] += 1
            elif rejection is not None and dead_letter_id is None:
                outcome = LEFT
            elif message_id not in complete:
                outcome = INCOMPLETE
            else:
                by_queue.setdefault(queue_url, []).append((message_id, handle))
                continue
            settled.append((message_id, handle, outcome))
        jobs = [
            (url, pool.submit(self._delete, self._queue(url), batch))
            for url, entries in by_queue.items()
            for batch in batches(entries)
        ]
        for url, job in jobs:
            results = job.result()
            if gone := sum(outcome == QUEUE_MISSING for _, _, outcome in results):
                self.missing[url] += gone
            settled += results
        return settled

    def _complete(self, connection: psycopg.Connection[Any], message_ids: list[str]) -> set[str]:
        """The message ids that every derived stream has committed."""
        complete = set(message_ids)
        for table in self.derived:
            complete &= bookkeeping.committed(connection, self.schema, table, message_ids)
        return complete

    def _queue(self, url: str) -> SqsQueue:
        if url not in self.queues:
            self.queues[url] = SqsQueue(self.config, url)
        return self.queues[url]

    @staticmethod
    def _delete(queue: SqsQueue, entries: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        try:
            refused = set(queue.delete([handle for _, handle in entries]))
        except QueueMissing:
            return [(message_id, handle, QUEUE_MISSING) for message_id, handle in entries]
        return [(m, h, REFUSED if h in refused else DELETED) for m, h in entries]


def follow(
    settings: TargetSettings,
    config: Mapping[str, Any],
    running: Callable[[], bool],
    on_settled: Callable[[list[str]], None] = lambda handles: None,
) -> Counter[str]:
    """Acknowledge what the target commits while ``running()``, then the rest; prune.

    Each message is deleted from the queue its row says it came from, using the tap's AWS
    settings (``config``); staged rows whose queue no longer exists are reported, not fatal.
    ``on_settled`` gets the receipt handles of each claim's rows once their outcome is
    committed (all but the incomplete ones). Returns how many rows got each outcome, and
    how many old settled rows were ``pruned``.
    """
    acknowledger = Acknowledger(
        config, settings.schema, derived_streams(config), settings.delete_concurrency, on_settled
    )
    with psycopg.connect(settings.conninfo, autocommit=True) as connection:
        prepared = False
        while running():
            prepared = prepared or bookkeeping.prepare(connection, settings.schema)
            if not (prepared and acknowledger.settle(connection, final=False)):
                time.sleep(POLL_SECONDS)
        if prepared or bookkeeping.prepare(connection, settings.schema):
            acknowledger.settle(connection, final=True)
            acknowledger.outcomes["pruned"] = bookkeeping.prune(
                connection, settings.schema, settings.retention_days
            )
    for url, count in acknowledger.missing.items():
        logger.warning(
            "%d staged messages came from queue %s, which no longer exists: recorded as "
            "'%s' and skipped.",
            count,
            url,
            QUEUE_MISSING,
        )
    return acknowledger.outcomes
