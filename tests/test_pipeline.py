"""The real `meltano run` against a real Postgres and a real SQS-compatible HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from localenv.sample import sample_bodies
from localenv.sqs import local_queue, seed
from tests.harness.jobs import (
    JOB,
    KEY,
    expected_rows,
    job_env,
    mask,
    run_job,
    tail,
)
from tests.harness.project import BIN, RUN_TIMEOUT, meltano

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

BLOCKS = ["tap-sqs-logins--postgres", "target-postgres", "dbt-postgres:run"]


def meltano_run(tasks: list[str], queue_url: str, database: Database) -> None:
    meltano(job_env(queue_url, database), "run", *tasks, timeout=RUN_TIMEOUT)


def user_logins(database: Database) -> list[tuple[Any, ...]]:
    with psycopg.connect(database.dsn) as conn:
        return conn.execute(
            "select user_id, device_type, masked_ip, masked_device_id, locale, app_version,"
            " create_date::text from public.user_logins"
        ).fetchall()


def queue_depth(queue_url: str) -> int:
    return int(local_queue(queue_url).depth().total)


def test_job_loads_each_valid_message_once_masked(queue_url: str, database: Database) -> None:
    bodies = sample_bodies(100)
    seed(local_queue(queue_url), bodies)
    today = datetime.now(timezone.utc).date().isoformat()

    meltano_run([JOB], queue_url, database)

    rows = user_logins(database)
    assert Counter(rows) == expected_rows(bodies, today)
    raw = {value for body in bodies for value in json.loads(body).values()}
    assert not raw & {value for row in rows for value in (row[2], row[3])}
    ips = Counter(json.loads(b).get("ip") for b in bodies if "ip" in json.loads(b))
    repeated_ip = next(ip for ip, n in ips.items() if n > 1)
    assert Counter(row[2] for row in rows)[mask("ip", repeated_ip)] == ips[repeated_ip]
    assert queue_depth(queue_url) == 1  # only the foreign message, left for redrive

    meltano_run([JOB], queue_url, database)
    assert Counter(user_logins(database)) == Counter(rows)


def test_block_form_and_redelivery_add_no_rows(queue_url: str, database: Database) -> None:
    bodies = sample_bodies(30, seed=7)
    seed(local_queue(queue_url), bodies)
    meltano_run(BLOCKS, queue_url, database)
    first = Counter(user_logins(database))
    assert sum(first.values()) == sum(1 for b in bodies if "user_id" in json.loads(b))

    with psycopg.connect(database.dsn) as conn:  # a redelivery: the same message ids again
        conn.execute("update sqs_staging.logins set _sdc_batched_at = now()")
    meltano_run(BLOCKS, queue_url, database)
    assert Counter(user_logins(database)) == first


def test_the_catalog_is_discovered_once_per_tap_settings(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    """The tap is installed as a copy (not -e), so Meltano reuses its catalog between runs."""
    seed(local_queue(queue_url), sample_bodies(30))
    fifo = {"TAP_SQS_LOGINS_INCLUDE_FIFO_FIELDS": "true"}  # a setting that changes the schema
    discovered = []
    for number, settings in enumerate([{}, {}, fifo, fifo]):
        log = tmp_path / f"run-{number}.log"
        assert run_job(job_env(queue_url, database, **settings), log) == 0, tail(log)
        discovered.append("Running catalog discovery" in log.read_text())
    assert discovered == [True, False, True, False]  # a new queue_url is a new setting too
    with psycopg.connect(database.dsn) as conn:
        columns = conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'sqs_staging' and table_name = 'logins'"
        ).fetchall()
        assert ("message_group_id",) in columns  # the fresh catalog was used
        assert conn.execute("select count(*) from public.user_logins").fetchone() == (29,)


@pytest.mark.parametrize("flag", ["--about", "--discover"])
def test_tap_cli_works_without_credentials(flag: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TAP_SQS"))}
    result = subprocess.run(
        [str(BIN / "tap-sqs-logins"), flag], env=env, capture_output=True, text=True, check=True
    )
    assert "logins" in result.stdout or "queue_url" in result.stdout


def test_tap_runs_alone_with_a_config_file(queue_url: str, tmp_path: Path) -> None:
    seed(local_queue(queue_url), sample_bodies(10))
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "queue_url": queue_url,
                "wait_time_seconds": 0,
                "mask_key": KEY,
                "stream_maps": {
                    "logins": {
                        "masked_ip": "mask(ip)",
                        "ip": None,
                        "masked_device_id": "mask(device_id)",
                        "device_id": None,
                    }
                },
            }
        )
    )
    result = subprocess.run(
        [str(BIN / "tap-sqs-logins"), "--config", str(config)],
        cwd=tmp_path,  # the default journal_dir is relative to it
        capture_output=True,
        text=True,
        check=True,
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(m["type"] == "RECORD" for m in records) == 10
    assert len(list((tmp_path / ".tap-sqs-logins" / "journal").glob("*.jsonl"))) == 1
    assert all(m["record"]["masked_ip"] != "" for m in records if m["type"] == "RECORD")
