"""Delete from SQS exactly the messages whose whole outcome target-postgres has committed.

The Singer stream is one-way, so the tap cannot learn what the target committed. This step,
run after the target in the same ``meltano run``, reads the committed staging rows instead
(only those pending, see bookkeeping.py), and deletes a message with the receipt handle
stored beside it when its row is a valid login or a poison message with a dead-letter copy,
and every stream the maps derive from ``logins`` holds its message id. Rows are claimed with
``FOR UPDATE SKIP LOCKED``, so two workers never delete the same messages; each row's outcome
is committed with its claim, so a crash repeats at most one claim's deletes.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import psycopg

from tap_sqs_logins import bookkeeping, preflight
from tap_sqs_logins.client import BATCH_SIZE, QueueError, SqsQueue
from tap_sqs_logins.derived import DerivedStreamError, derived_streams
from tap_sqs_logins.tap import TapSqsLogins

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger("tap-sqs-logins-ack")

POSTGRES_SETTINGS = {  # environment variable: (libpq keyword, default of the reference image)
    "TARGET_POSTGRES_HOST": ("host", "localhost"),
    "TARGET_POSTGRES_PORT": ("port", "5432"),
    "TARGET_POSTGRES_USER": ("user", "postgres"),
    "TARGET_POSTGRES_PASSWORD": ("password", "postgres"),
    "TARGET_POSTGRES_DATABASE": ("dbname", "postgres"),
}
SCHEMA_SETTING = "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"
SETTINGS = {  # Contract 3; environment variable: default
    "SQS_ACK_DELETE_CONCURRENCY": 8,
    "SQS_ACK_STAGING_RETENTION_DAYS": 3,
}
CLAIM_SIZE = 500  # rows locked, deleted and recorded per transaction
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
        self, config: Mapping[str, Any], schema: str, derived: list[str], concurrency: int
    ) -> None:
        self.config = config
        self.schema = schema
        self.derived = derived
        self.concurrency = concurrency
        self.queues: dict[str, SqsQueue] = {}
        self.missing: Counter[str] = Counter()

    def run(self, connection: psycopg.Connection[Any]) -> Counter[str]:
        """Settle every pending row; return how many got each outcome."""
        outcomes: Counter[str] = Counter()
        with ThreadPoolExecutor(self.concurrency) as pool:
            while True:
                with connection.transaction():
                    rows = bookkeeping.claim(connection, self.schema, CLAIM_SIZE)
                    if not rows:
                        return outcomes
                    settled = self._settle(connection, rows, pool)
                    bookkeeping.record(connection, self.schema, settled)
                outcomes.update(outcome for _, _, outcome in settled)

    def _settle(
        self,
        connection: psycopg.Connection[Any],
        rows: list[tuple[Any, ...]],
        pool: ThreadPoolExecutor,
    ) -> list[tuple[str, str, str]]:
        """Decide each claimed row's outcome, deleting the deliverable ones batch by batch."""
        complete = self._complete(connection, [row[0] for row in rows])
        settled: list[tuple[str, str, str]] = []
        batches: dict[str, list[tuple[str, str]]] = {}
        for message_id, queue_url, handle, rejection, dead_letter_id in rows:
            if queue_url is None or queue_url in self.missing:
                outcome = QUEUE_MISSING
                self.missing[str(queue_url)] += 1
            elif rejection is not None and dead_letter_id is None:
                outcome = LEFT
            elif message_id not in complete:
                outcome = INCOMPLETE
            else:
                batches.setdefault(queue_url, []).append((message_id, handle))
                continue
            settled.append((message_id, handle, outcome))
        jobs = [
            (url, pool.submit(self._delete, self._queue(url), entries[start : start + BATCH_SIZE]))
            for url, entries in batches.items()
            for start in range(0, len(entries), BATCH_SIZE)
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
        except QueueError as error:
            if "does not exist" not in str(error):
                raise
            return [(message_id, handle, QUEUE_MISSING) for message_id, handle in entries]
        return [(m, h, REFUSED if h in refused else DELETED) for m, h in entries]


def acknowledge(
    conninfo: str,
    schema: str,
    config: Mapping[str, Any],
    concurrency: int = SETTINGS["SQS_ACK_DELETE_CONCURRENCY"],
    retention_days: int = SETTINGS["SQS_ACK_STAGING_RETENTION_DAYS"],
) -> Counter[str]:
    """Settle the pending staging rows and prune old settled ones; count each outcome.

    Each message is deleted from the queue its row says it came from, using the tap's
    AWS settings (``config``); staged rows whose queue no longer exists are reported, not
    fatal. The count of pruned rows is under ``"pruned"``.
    """
    acknowledger = Acknowledger(config, schema, derived_streams(config), concurrency)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        if not bookkeeping.prepare(connection, schema):
            return Counter()
        outcomes = acknowledger.run(connection)
        outcomes["pruned"] = bookkeeping.prune(connection, schema, retention_days)
    for url, count in acknowledger.missing.items():
        logger.warning(
            "%d staged messages came from queue %s, which no longer exists: recorded as "
            "'%s' and skipped.",
            count,
            url,
            QUEUE_MISSING,
        )
    return outcomes


def postgres_conninfo(environ: Mapping[str, str]) -> str:
    """Build a libpq connection string from the TARGET_POSTGRES_* variables."""
    return psycopg.conninfo.make_conninfo(
        **{key: environ.get(name, default) for name, (key, default) in POSTGRES_SETTINGS.items()}
    )


def settings(environ: Mapping[str, str]) -> dict[str, int]:
    """Read the SQS_ACK_* settings; a bad value names its variable."""
    values = {}
    for name, default in SETTINGS.items():
        text = environ.get(name) or str(default)
        if not text.isdigit() or (name == "SQS_ACK_DELETE_CONCURRENCY" and int(text) < 1):
            raise SystemExit(f"tap-sqs-logins-ack: {name} must be a whole number, not {text!r}")
        values[name] = int(text)
    return values


def check(config: Mapping[str, Any]) -> None:
    """Check Postgres, both queues and the stream maps; exit naming the setting to fix."""
    try:
        preflight.check_postgres(postgres_conninfo(os.environ))
        preflight.check_queues(config)
        derived_streams(config)
    except (preflight.PreflightError, DerivedStreamError) as error:
        raise SystemExit(f"tap-sqs-logins-ack --check: {error}") from None
    logger.info("Postgres, SQS and the stream maps are usable as configured.")


def main() -> None:
    """Run the acknowledgement step with the tap's settings (TAP_SQS_LOGINS_*)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", action="append", help="tap config file(s); default: environment"
    )
    parser.add_argument(
        "--check", action="store_true", help="only check Postgres, SQS and the stream maps"
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s | %(levelname)-8s | %(name)s | %(message)s"
    )
    config = TapSqsLogins(config=args.config, parse_env_config=True, setup_mapper=False).config
    if args.check:
        check(config)
        return
    values = settings(os.environ)
    schema = os.environ.get(SCHEMA_SETTING, "sqs_staging")
    try:
        outcomes = acknowledge(
            postgres_conninfo(os.environ),
            schema,
            config,
            values["SQS_ACK_DELETE_CONCURRENCY"],
            values["SQS_ACK_STAGING_RETENTION_DAYS"],
        )
    except (QueueError, DerivedStreamError) as error:
        raise SystemExit(f"tap-sqs-logins-ack: {error}") from None
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0]
        raise SystemExit(
            f"tap-sqs-logins-ack: cannot use Postgres ({first_line}): check TARGET_POSTGRES_*"
        ) from None
    logger.info(
        "Acknowledged staged messages: %s.",
        ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "none",
    )
