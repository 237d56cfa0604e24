"""Delete from SQS exactly the messages whose rows target-postgres has committed.

The Singer stream is one-way, so the tap cannot learn what the target committed.
This step, run after the target in the same ``meltano run``, reads the committed
staging rows instead: every valid login and every poison message already on the
dead-letter queue is deleted with the receipt handle stored beside it. A message
whose handle has expired comes back, is upserted with a new handle, and goes next time.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from tap_sqs_logins import preflight
from tap_sqs_logins.client import BATCH_SIZE, QueueError, SqsQueue
from tap_sqs_logins.tap import TapSqsLogins

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

logger = logging.getLogger("tap-sqs-logins-ack")

POSTGRES_SETTINGS = {  # environment variable: (libpq keyword, default of the reference image)
    "TARGET_POSTGRES_HOST": ("host", "localhost"),
    "TARGET_POSTGRES_PORT": ("port", "5432"),
    "TARGET_POSTGRES_USER": ("user", "postgres"),
    "TARGET_POSTGRES_PASSWORD": ("password", "postgres"),
    "TARGET_POSTGRES_DATABASE": ("dbname", "postgres"),
}
SCHEMA_SETTING = "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"

CREATE_LOG = """
create table if not exists {log} (
    receipt_handle text primary key,
    message_id text not null,
    deleted boolean not null,
    acknowledged_at timestamptz not null default now()
)"""
PENDING = """
select l.queue_url, l.receipt_handle, l.message_id from {logins} l
where l.receipt_handle is not null
  and l.queue_url is not null
  and (l.rejection_reason is null or l.dead_letter_message_id is not null)
  and not exists (select from {log} a where a.receipt_handle = l.receipt_handle)
limit 1000"""
RECORD = """
insert into {log} (receipt_handle, message_id, deleted) values (%s, %s, %s)
on conflict do nothing"""


def acknowledge(conninfo: str, schema: str, config: Mapping[str, Any]) -> tuple[int, int]:
    """Delete the committed messages; return (deleted, refused) counts.

    Each message is deleted from the queue its row says it came from, using the tap's
    AWS settings (``config``). Each batch is logged (and committed) right after SQS
    answers, so a crash repeats at most one batch of deletes, and every handle leaves
    the pending set once tried.
    """
    queues: dict[str, SqsQueue] = {}
    names = {
        "logins": sql.Identifier(schema, "logins"),
        "log": sql.Identifier(schema, "sqs_acknowledgements"),
    }
    deleted = refused = 0
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL(CREATE_LOG).format(**names))
        for queue_url, batch in _batches(connection, sql.SQL(PENDING).format(**names)):
            queue = queues.setdefault(queue_url, SqsQueue(config, queue_url))
            failed = set(queue.delete([handle for handle, _ in batch]))
            rows = [(handle, message_id, handle not in failed) for handle, message_id in batch]
            with connection.cursor() as cursor:
                cursor.executemany(sql.SQL(RECORD).format(**names), rows)
            deleted += len(batch) - len(failed)
            refused += len(failed)
    return deleted, refused


def _batches(
    connection: psycopg.Connection[Any], query: sql.Composed
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Yield (queue URL, [(handle, message id)…]) batches, re-querying as the log fills."""
    while pending := connection.execute(query).fetchall():
        by_queue: dict[str, list[tuple[str, str]]] = {}
        for queue_url, handle, message_id in pending:
            by_queue.setdefault(queue_url, []).append((handle, message_id))
        for queue_url, entries in by_queue.items():
            for start in range(0, len(entries), BATCH_SIZE):
                yield queue_url, entries[start : start + BATCH_SIZE]


def postgres_conninfo(environ: Mapping[str, str]) -> str:
    """Build a libpq connection string from the TARGET_POSTGRES_* variables."""
    return psycopg.conninfo.make_conninfo(
        **{key: environ.get(name, default) for name, (key, default) in POSTGRES_SETTINGS.items()}
    )


def main() -> None:
    """Run the acknowledgement step with the tap's settings (TAP_SQS_LOGINS_*)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", action="append", help="tap config file(s); default: environment"
    )
    parser.add_argument(
        "--check", action="store_true", help="only check Postgres and SQS, then exit"
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s | %(levelname)-8s | %(name)s | %(message)s"
    )
    config = TapSqsLogins(config=args.config, parse_env_config=True, setup_mapper=False).config
    schema = os.environ.get(SCHEMA_SETTING, "sqs_staging")
    if args.check:
        try:
            preflight.check_postgres(postgres_conninfo(os.environ))
            preflight.check_queues(config)
        except preflight.PreflightError as error:
            raise SystemExit(f"tap-sqs-logins-ack --check: {error}") from None
        logger.info("Postgres and SQS are reachable as configured.")
        return
    try:
        deleted, refused = acknowledge(postgres_conninfo(os.environ), schema, config)
    except QueueError as error:
        raise SystemExit(f"tap-sqs-logins-ack: {error}") from None
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0]
        raise SystemExit(
            f"tap-sqs-logins-ack: cannot use Postgres ({first_line}): check TARGET_POSTGRES_*"
        ) from None
    logger.info(
        "Deleted %d committed messages from SQS; %d handles had expired and will be redelivered.",
        deleted,
        refused,
    )
