"""The acknowledgement step against a real Postgres and a real SQS-compatible server."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqs_ack.acknowledge import follow
from sqs_ack.bookkeeping import prepare
from sqs_ack.derived import DerivedStreamError, derived_streams
from sqs_ack.target_settings import TargetSettings

from localenv.sqs import local_queue, seed, sqs_client
from tests.harness.jobs import MASKING, SEALED_MAPS, fetch

if TYPE_CHECKING:
    from tests.harness.services import Database


def acknowledge(dsn: str, config: dict[str, Any]) -> Counter[str]:
    """Settle every committed staging row, as the loader does once target-postgres ends."""
    return follow(TargetSettings(dsn, "sqs_staging", 8, 3), config, lambda: False)


CONFIG = {"region": "us-east-1"}  # the queue URL comes from each row
STAGING = """
create schema sqs_staging;
create table sqs_staging.logins (
    message_id text primary key, queue_url text, receipt_handle text,
    rejection_reason text, dead_letter_message_id text
)"""
INSERT = "insert into sqs_staging.logins values (%s, %s, %s, %s, %s)"
# dbt's bookkeeping columns, as its on-run-start adds them (transform/macros/bookkeeping.sql).
DBT_COLUMNS = (
    "alter table sqs_staging.logins add column _transformed_at timestamptz,"
    " add column _refused_reason text"
)


def received(queue_url: str, count: int) -> list[dict[str, Any]]:
    """Send `count` messages and receive them all (hidden for 10 minutes)."""
    client = sqs_client(queue_url.rsplit("/", 2)[0])
    seed(local_queue(queue_url), [f"m{i}" for i in range(count)])
    messages: list[dict[str, Any]] = []
    while len(messages) < count:
        messages += client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600
        ).get("Messages", [])
    return messages


def in_flight(queue_url: str) -> int:
    return int(local_queue(queue_url).depth().in_flight)


def stage(database: Database, rows: list[tuple[Any, ...]], ddl: str = STAGING) -> None:
    with psycopg.connect(database.dsn) as conn:
        conn.execute(ddl)
        conn.cursor().executemany(INSERT, rows)


def outcomes(database: Database) -> Counter[str]:
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute("select _ack_outcome from sqs_staging.logins").fetchall()
    return Counter(row[0] for row in rows)


def test_deletes_exactly_the_committed_deliverable_rows_once(
    queue_url: str, database: Database
) -> None:
    messages = received(queue_url, 25)
    valid, poison_kept, poison_dead_lettered, uncommitted = (
        messages[:20],
        messages[20:22],
        messages[22:24],
        messages[24:],
    )
    rows: list[tuple[Any, ...]] = [
        (m["MessageId"], queue_url, m["ReceiptHandle"], None, None) for m in valid
    ]
    rows += [(m["MessageId"], queue_url, m["ReceiptHandle"], "bad", None) for m in poison_kept]
    rows += [
        (m["MessageId"], queue_url, m["ReceiptHandle"], "bad", "dlq-id")
        for m in poison_dead_lettered
    ]
    rows.append(("expired", queue_url, "a-handle-sqs-no-longer-knows", None, None))
    stage(database, rows)

    counts = acknowledge(database.dsn, CONFIG)

    assert counts == Counter(deleted=22, refused=1, left=2, pruned=0)
    assert in_flight(queue_url) == len(poison_kept) + len(uncommitted)  # still on the queue
    assert outcomes(database) == Counter(deleted=22, refused=1, left=2)
    assert acknowledge(database.dsn, CONFIG) == Counter(pruned=0)

    with psycopg.connect(database.dsn) as conn:  # redelivered: a new handle is pending again
        conn.execute(
            "update sqs_staging.logins set receipt_handle = 'new' where message_id = %s",
            [valid[0]["MessageId"]],
        )
    assert acknowledge(database.dsn, CONFIG) == Counter(refused=1, pruned=0)


def test_a_message_whose_derived_row_is_missing_is_not_deleted(
    queue_url: str, database: Database
) -> None:
    messages = received(queue_url, 6)
    stage(database, [(m["MessageId"], queue_url, m["ReceiptHandle"], None, None) for m in messages])
    with psycopg.connect(database.dsn) as conn:
        conn.execute("create table sqs_staging.sealed_logins (message_id text primary key)")
        conn.cursor().executemany(
            "insert into sqs_staging.sealed_logins values (%s)",
            [(m["MessageId"],) for m in messages[:4]],
        )

    counts = acknowledge(database.dsn, {**CONFIG, "stream_maps": SEALED_MAPS})

    assert counts == Counter(deleted=4, incomplete=2, pruned=0)
    assert in_flight(queue_url) == 2


def test_staged_rows_of_a_deleted_queue_are_reported_and_skipped(
    queue_url: str, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    client = sqs_client(queue_url.rsplit("/", 2)[0])
    gone = client.create_queue(QueueName=f"{queue_url.rsplit('/', 1)[1]}-gone")["QueueUrl"]
    live, dead = received(queue_url, 3), received(gone, 12)
    client.delete_queue(QueueUrl=gone)
    rows = [(m["MessageId"], queue_url, m["ReceiptHandle"], None, None) for m in live]
    rows += [(m["MessageId"], gone, m["ReceiptHandle"], None, None) for m in dead]
    stage(database, rows)

    with caplog.at_level(logging.WARNING):
        counts = acknowledge(database.dsn, CONFIG)

    assert counts == Counter({"deleted": 3, "queue missing": 12, "pruned": 0})
    assert f"12 staged messages came from queue {gone}" in caplog.text


def test_two_workers_never_delete_the_same_rows(sqs_endpoint: str, database: Database) -> None:
    client = sqs_client(sqs_endpoint)
    queue_url = client.create_queue(QueueName=f"two-workers-{id(database)}")["QueueUrl"]
    messages = received(queue_url, 1200)
    stage(database, [(m["MessageId"], queue_url, m["ReceiptHandle"], None, None) for m in messages])
    results: list[Counter[str]] = []
    workers = [
        threading.Thread(target=lambda: results.append(acknowledge(database.dsn, CONFIG)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    # Each worker counts the rows it claimed: together exactly the 1,200, so none twice.
    # (The queue's own count is not checked: moto 5's delete_message is not thread-safe and
    # loses some of many concurrent deletes; those messages would simply come back.)
    assert sum(results, Counter()) == Counter(deleted=1200, pruned=0)
    assert all(result["deleted"] for result in results), results  # both did work


def test_old_settled_rows_are_pruned_once_dbt_has_marked_them(
    queue_url: str, database: Database
) -> None:
    """Before dbt's first run (no _transformed_at yet) nothing is pruned, however old; then
    the rows acknowledged over the retention ago and transformed are, and only those."""
    messages = received(queue_url, 3)
    stage(database, [(m["MessageId"], queue_url, m["ReceiptHandle"], None, None) for m in messages])
    assert acknowledge(database.dsn, CONFIG) == Counter(deleted=3, pruned=0)
    with psycopg.connect(database.dsn) as conn:
        conn.execute("update sqs_staging.logins set _acked_at = now() - interval '4 days'")
    assert acknowledge(database.dsn, CONFIG) == Counter(pruned=0)
    assert "logins_prunable" not in indexes(database)

    with psycopg.connect(database.dsn) as conn:
        conn.execute(DBT_COLUMNS)
        conn.execute(
            "update sqs_staging.logins set _transformed_at = now() where message_id <> %s",
            [messages[2]["MessageId"]],
        )
    assert acknowledge(database.dsn, CONFIG) == Counter(pruned=2)
    assert outcomes(database) == Counter(deleted=1)
    assert "logins_prunable" in indexes(database)


def indexes(database: Database) -> set[str]:
    """The names of the staging table's indexes."""
    query = "select indexname from pg_indexes where tablename = 'logins'"
    return {row[0] for row in fetch(database, query)}


@pytest.mark.parametrize(
    ("maps", "error"),
    [
        ({"logins": MASKING, "copy": {"__source__": "log*", "__else__": None, "x": "1"}}, "copy"),
        ({"logins": {**MASKING, "__alias__": "raw"}}, "own name"),
        ({"*": None}, "own name"),
        ({**SEALED_MAPS, "sealed.logins": SEALED_MAPS["sealed_logins"]}, "sealed.logins"),
        ({**SEALED_MAPS, "sealed-logins": SEALED_MAPS["sealed_logins"]}, "splits stream names"),
    ],
)
def test_maps_the_acknowledgement_cannot_check_are_refused(
    maps: dict[str, Any], error: str
) -> None:
    with pytest.raises(DerivedStreamError, match="stream_maps") as raised:
        derived_streams({"stream_maps": maps})
    assert error in str(raised.value)


@given(name=st.text(min_size=1, max_size=20).filter(lambda n: n not in {"logins", "__else__"}))
def test_a_derived_stream_name_is_its_table_name_or_refused(name: str) -> None:
    """target-postgres splits stream names on "." and "-": such a name would write a table
    the acknowledgement never finds, so it is refused at start, naming stream_maps."""
    maps = {"logins": SEALED_MAPS["logins"], name: SEALED_MAPS["sealed_logins"]}
    try:
        derived = derived_streams({"stream_maps": maps})
    except DerivedStreamError as error:
        assert str(error).startswith("stream_maps:")
    else:
        assert derived == [name]
        assert name.isascii() and name.replace("_", "a").isalnum() and not name[0].isdigit()


def test_derived_streams_follow_the_sdk_rules() -> None:
    assert derived_streams({"stream_maps": {"logins": MASKING}}) == []
    assert derived_streams({"stream_maps": SEALED_MAPS}) == ["sealed_logins"]
    wildcard = {"*": MASKING, "all": {"__source__": "l?gins"}}
    assert derived_streams({"stream_maps": wildcard}) == ["all"]


def test_while_the_target_loads_committed_rows_go_and_incomplete_ones_wait(
    queue_url: str, database: Database
) -> None:
    """Rows committed mid-load are deleted before the load ends; a row whose derived stream is
    not committed yet stays pending until the load ends, and is deleted once it is."""
    messages = received(queue_url, 30)
    rows = [(m["MessageId"], queue_url, m["ReceiptHandle"], None, None) for m in messages]
    stage(database, rows[:10])
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute("create table sqs_staging.sealed_logins (message_id text primary key)")
        sealed = "insert into sqs_staging.sealed_logins values (%s)"
        conn.cursor().executemany(sealed, [(m["MessageId"],) for m in messages[:10]])
    seen: list[int] = []  # messages in flight at each look of the acknowledgement

    def target_commits_more() -> bool:
        """The 'target': commits batch 2 (its sealed rows later), then batch 3, then ends."""
        seen.append(in_flight(queue_url))
        with psycopg.connect(database.dsn, autocommit=True) as conn:
            if len(seen) == 2:
                conn.cursor().executemany(INSERT, rows[10:20])
            elif len(seen) == 4:
                conn.cursor().executemany(INSERT, rows[20:])
                conn.cursor().executemany(sealed, [(m["MessageId"],) for m in messages[20:]])
            elif len(seen) == 6:
                conn.cursor().executemany(sealed, [(m["MessageId"],) for m in messages[10:20]])
        return len(seen) < 6

    settings = TargetSettings(database.dsn, "sqs_staging", 8, 3)
    counts = follow(settings, {**CONFIG, "stream_maps": SEALED_MAPS}, target_commits_more)

    assert counts == Counter(deleted=30, pruned=0)
    assert seen[:2] == [30, 20]  # batch 1 went before batch 2 was even committed
    assert seen[4] == 10  # batch 3 went while batch 2 waited for its sealed rows
    assert in_flight(queue_url) == 0
    assert outcomes(database) == Counter(deleted=30)


def test_only_settled_rows_are_pruned_never_an_undelivered_login(
    queue_url: str, database: Database
) -> None:
    """Every mix of bookkeeping states, acknowledged long ago, retention 0 days: a row goes only
    once acknowledged and transformed (delivered, or quarantined by the tap), never while dbt
    has not delivered it or user_logins refused it."""
    states = [
        (transformed, outcome, refused)
        for transformed in (True, False)
        for outcome in (None, "deleted", "left", "incomplete")
        for refused in (None, "public.user_logins refused it: no (SQLSTATE 23514)")
    ]
    stage(database, [(f"m{n}", queue_url, f"h{n}", None, None) for n in range(len(states))])
    with psycopg.connect(database.dsn) as conn:
        prepare(conn, "sqs_staging")
        conn.execute(DBT_COLUMNS)
        for n, (transformed, outcome, refused) in enumerate(states):
            conn.execute(
                "update sqs_staging.logins set _ack_handle = receipt_handle, _ack_outcome = %s,"
                " _acked_at = now() - interval '400 days', _refused_reason = %s,"
                " _transformed_at = case when %s then now() end where message_id = %s",
                [outcome, refused, transformed, f"m{n}"],
            )

    counts = follow(TargetSettings(database.dsn, "sqs_staging", 8, 0), CONFIG, lambda: False)

    kept = {row[0] for row in fetch(database, "select message_id from sqs_staging.logins")}
    pruned = {
        f"m{n}"
        for n, (transformed, outcome, refused) in enumerate(states)
        if transformed and outcome and not refused
    }
    assert counts["pruned"] == len(pruned)
    assert kept == {f"m{n}" for n in range(len(states))} - pruned
