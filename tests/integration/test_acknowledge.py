"""The acknowledgement step against a real Postgres and a real SQS-compatible server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from localenv.sqs import sqs_client
from tap_sqs_logins.acknowledge import acknowledge

if TYPE_CHECKING:
    from tests.conftest import Database

STAGING = """
create schema sqs_staging;
create table sqs_staging.logins (
    message_id text primary key, queue_url text, receipt_handle text,
    rejection_reason text, dead_letter_message_id text
)"""


def receive_all(client: object, queue_url: str, count: int) -> list[dict]:
    messages: list[dict] = []
    while len(messages) < count:
        messages += client.receive_message(  # type: ignore[attr-defined]
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600
        ).get("Messages", [])
    return messages


def test_deletes_exactly_the_committed_deliverable_rows_once(
    queue_url: str, database: Database
) -> None:
    client = sqs_client(queue_url.rsplit("/", 2)[0])
    for i in range(25):
        client.send_message(QueueUrl=queue_url, MessageBody=f"m{i}")
    messages = receive_all(client, queue_url, 25)
    valid, poison_kept, poison_dead_lettered, uncommitted = (
        messages[:20],
        messages[20:22],
        messages[22:24],
        messages[24:],
    )
    rows = [(m["MessageId"], m["ReceiptHandle"], None, None) for m in valid]
    rows += [(m["MessageId"], m["ReceiptHandle"], "not JSON", None) for m in poison_kept]
    rows += [
        (m["MessageId"], m["ReceiptHandle"], "not JSON", "dlq-id") for m in poison_dead_lettered
    ]
    rows.append(("expired", "a-handle-sqs-no-longer-knows", None, None))
    rows = [(message_id, queue_url, *rest) for message_id, *rest in rows]
    with psycopg.connect(database.dsn) as conn:
        conn.execute(STAGING)
        conn.cursor().executemany(
            "insert into sqs_staging.logins values (%s, %s, %s, %s, %s)", rows
        )

    config = {"region": "us-east-1"}  # the queue URL comes from each row
    deleted, refused = acknowledge(database.dsn, "sqs_staging", config)

    assert (deleted, refused) == (22, 1)
    attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    in_flight = int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])
    assert in_flight == len(poison_kept) + len(uncommitted)  # still on the queue
    with psycopg.connect(database.dsn) as conn:
        log = conn.execute(
            "select deleted, count(*) from sqs_staging.sqs_acknowledgements group by 1"
        ).fetchall()
    assert sorted(log) == [(False, 1), (True, 22)]
    assert acknowledge(database.dsn, "sqs_staging", config) == (0, 0)
