"""Each step reads only its pending staging rows: correct under concurrency, in any time zone,
and without scanning the history (1,000,000 delivered rows)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING

import pytest
from sqs_ack.acknowledge import follow
from sqs_ack.bookkeeping import prepare
from sqs_ack.target_settings import TargetSettings

from tap_sqs_logins.fields import login_schema
from tests.harness.dbt import add_messages, login, poison
from tests.harness.jobs import TARGET as JOB_TARGET
from tests.harness.project import REPO

if TYPE_CHECKING:
    from tests.harness.dbt import Database

pytestmark = pytest.mark.meltano

TARGET = REPO / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / JOB_TARGET
HISTORY = 1_000_000
NEW = 10_000
TABLES = ("sqs_staging.logins", "sqs_logins.login_deliveries", "sqs_logins.quarantined_messages")


def load_with_target_postgres(db: Database, records: list[dict[str, object]]) -> None:
    """Feed `records` of the logins stream through the installed target-postgres."""
    server = db.server
    config = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "password": server.password,
        "database": server.name,
        "default_target_schema": "sqs_staging",
    }
    (db.workdir / "target.json").write_text(json.dumps(config))
    schema = login_schema({"acknowledgement": "loader"})  # as the job's tap emits it
    schema["properties"] = {
        k: v for k, v in schema["properties"].items() if k not in ("ip", "device_id")
    }
    lines = [
        {"type": "SCHEMA", "stream": "logins", "schema": schema, "key_properties": ["message_id"]}
    ]
    lines += [{"type": "RECORD", "stream": "logins", "record": record} for record in records]
    subprocess.run(
        [str(TARGET), "--config", str(db.workdir / "target.json")],
        input="\n".join(json.dumps(line) for line in lines),
        text=True,
        capture_output=True,
        check=True,
    )


def test_create_date_is_the_utc_send_date_whatever_the_time_zone(db: Database) -> None:
    """Sent at 23:30 UTC, seen from UTC+14 (already the next day there): the UTC day."""
    db.query(f"ALTER DATABASE \"{db.server.name}\" SET timezone = 'Pacific/Kiritimati'")
    db.query("DROP TABLE sqs_staging.logins")  # target-postgres creates it as in production
    records = [
        {
            "message_id": f"m{i}",
            "sent_at": f"2024-03-0{i}T23:30:00+00:00",
            "sent_date": f"2024-03-0{i}",
            "receive_count": 1,
            "queue_url": "q",
            "receipt_handle": f"h{i}",
            "user_id": f"u{i}",
            "app_version": "2.1",
            "device_type": "ios",
            "masked_ip": "ip",
            "masked_device_id": "dev",
        }
        for i in (1, 2)
    ]
    load_with_target_postgres(db, records)
    with db.connect() as conn:
        assert conn.execute("show timezone").fetchone() == ("Pacific/Kiritimati",)
        prepare(conn, "sqs_staging")
    db.dbt("run")
    assert db.query(
        "SELECT user_id, create_date FROM public.user_logins WHERE user_id <> 'pre' ORDER BY 1"
    ) == [("u1", date(2024, 3, 1)), ("u2", date(2024, 3, 2))]


def test_two_concurrent_runs_quarantine_every_message_once(db: Database) -> None:
    """600 poison and 200 valid messages staged while two workers' dbt runs overlap."""
    db.dbt("run")  # the first run creates the tables: two first runs would both try
    stop = threading.Event()
    failures: list[str] = []

    def worker() -> None:
        while not stop.is_set():
            code, out = db.dbt("run", check=False)
            if code:
                failures.append(out[-3000:])

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    for batch in range(6):  # later batches were extracted earlier: no watermark can hold
        extracted = f"2024-03-02 0{9 - batch}:00:00"
        add_messages(
            db,
            *(poison(f"p{batch}-{i}", "not JSON", _sdc_extracted_at=extracted) for i in range(100)),
            *(login(f"m{batch}-{i}", f"u{batch}-{i:02d}") for i in range(33)),
        )
        time.sleep(2)
    stop.set()
    for thread in workers:
        thread.join()
    db.dbt("run")

    assert not failures, failures[0]
    quarantined = Counter(
        r[0] for r in db.query("SELECT message_id FROM sqs_logins.quarantined_messages")
    )
    assert len(quarantined) == 600 and set(quarantined.values()) == {1}
    users = Counter(r[0] for r in db.user_logins())
    assert len(users) == 1 + 6 * 33 and set(users.values()) == {1}


def seq_scans(db: Database) -> dict[str, int]:
    """Sequential scans so far of the staging table, the ledger and the quarantine."""
    time.sleep(1.5)  # other sessions' statistics are flushed at the latest when they end
    with db.connect() as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        rows = conn.execute(
            "select schemaname || '.' || relname, seq_scan from pg_stat_user_tables"
            " where schemaname || '.' || relname = any(%s)",
            [list(TABLES)],
        ).fetchall()
    return dict(rows)


def test_no_step_scans_the_history(db: Database, sqs_endpoint: str) -> None:
    """With 1,000,000 rows staged and delivered, a run reads its new rows through indexes."""
    add_messages(db, login("first", "u0"), poison("first-poison", "not JSON"))
    db.dbt("run")  # creates the ledger and the quarantine
    with db.connect() as conn:
        prepare(conn, "sqs_staging")  # as the next load does: indexes dbt's columns too
        conn.execute(
            "insert into sqs_staging.logins (message_id, sent_at, sent_date, receive_count,"
            " queue_url, receipt_handle, user_id, app_version, device_type, masked_ip,"
            " masked_device_id, _sdc_extracted_at, _sdc_batched_at, _ack_handle, _ack_outcome,"
            " _acked_at, _transformed_at)"
            " select 'old-' || i, '2024-03-01', '2024-03-01', 1, 'q', 'h' || i, 'u' || i, '1.0',"
            " 'ios', 'ip', 'dev', now(), now(), 'h' || i, 'deleted', now(), now()"
            " from generate_series(1, %s) i",
            [HISTORY],
        )
        conn.execute(
            "insert into sqs_logins.login_deliveries select 'old-' || i, 'u' || i, 'ios', 'ip',"
            " 'dev', null, 1, date '2024-03-01', now(), 'old'"
            " from generate_series(1, %s) i",
            [HISTORY],
        )
        conn.execute(
            "insert into sqs_logins.quarantined_messages (message_id, rejection_reason)"
            " select 'old-poison-' || i, 'not JSON' from generate_series(1, %s) i",
            [HISTORY // 10],
        )
        for table in TABLES:
            conn.execute(f"analyze {table}")
    gone = f"{sqs_endpoint}/000000000000/no-such-queue"
    with db.connect() as conn:  # enough new rows that a hash join would look cheaper
        conn.execute(
            "insert into sqs_staging.logins (message_id, sent_date, queue_url, receipt_handle,"
            " user_id, app_version, device_type, rejection_reason)"
            " select 'new-' || i, '2024-03-02', %s, 'r' || i,"
            " case when i %% 5 > 0 then 'n' || i end, case when i %% 5 > 0 then '2.0' end,"
            " case when i %% 5 > 0 then 'ios' end, case when i %% 5 = 0 then 'not JSON' end"
            " from generate_series(1, %s) i",
            [gone, NEW],
        )
    before = seq_scans(db)

    settings = TargetSettings(db.server.dsn, "sqs_staging", 8, 3)
    outcomes = follow(settings, {"region": "us-east-1"}, lambda: False)
    db.dbt("run")

    # Poison rows settled before the queue was found missing are "left" (no dead-letter copy).
    assert outcomes["queue missing"] + outcomes["left"] == NEW and outcomes["pruned"] == 0
    assert seq_scans(db) == before
    assert db.query("select count(*) from public.user_logins") == [(2 + NEW * 4 // 5,)]
    assert db.query("select count(*) from sqs_logins.quarantined_messages") == [
        (HISTORY // 10 + 1 + NEW // 5,)
    ]
