"""Four `bin/worker` processes of one checkout share a queue and a PostgreSQL system database.

Each worker has its own Meltano system directory, dbt paths and state id (bin/worker), and all
record their runs and state in one Meltano system database on PostgreSQL, as replicas on
several machines would. Every valid login is delivered once, every poison message quarantined
once, and no run is refused.

As in test_concurrent_jobs.py, one run first creates the tables (staging, dbt models, Meltano's
own): a first run is not concurrent-safe, and the README says to make it before adding workers.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psycopg
import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    delivered,
    expected_rows,
    fetch,
    job_env,
    new_queues,
    poison_bodies,
    queue_counts,
    seed_ids,
    tail,
)
from tests.harness.orchestration import WORKERS, start_worker

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = [pytest.mark.meltano, pytest.mark.slow]


def system_runs(uri: str) -> list[tuple[object, ...]]:
    """(state id, run state) of every run in the Meltano system database at `uri`."""
    with psycopg.connect(uri.replace("postgresql+psycopg", "postgresql")) as conn:
        return conn.execute("select job_name, state from runs order by job_name").fetchall()


def test_four_workers_of_one_checkout_deliver_each_message_once(
    sqs_endpoint: str,
    database: Database,
    system_database: str,
    tmp_path: Path,
    worker_ids: list[str],
) -> None:
    queue_url, dlq_url = new_queues(sqs_endpoint)
    env = {
        **job_env(queue_url, database, TAP_SQS_LOGINS_DEAD_LETTER_QUEUE_URL=dlq_url),
        "MELTANO_DATABASE_URI": system_database,
    }
    first = sample_bodies(20, seed=6, foreign_index=None)
    seed_ids(queue_url, first)
    setup = start_worker(env, worker_ids[0], tmp_path / "first.log")
    assert setup.wait(timeout=600) == 0, tail(tmp_path / "first.log")
    valid = sample_bodies(400, seed=7, foreign_index=None)
    poison = poison_bodies(5)
    sent = seed_ids(queue_url, valid + poison)

    logs = [tmp_path / f"{worker_id}.log" for worker_id in worker_ids]
    workers = [
        start_worker(env, worker_id, log) for worker_id, log in zip(worker_ids, logs, strict=True)
    ]
    codes = [worker.wait(timeout=600) for worker in workers]

    assert codes == [0] * WORKERS, "\n".join(tail(log, 2000) for log in logs)
    assert not any("already running" in log.read_text() for log in logs)
    assert queue_counts(queue_url) == (0, 0)
    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(first + valid, today)
    runs = system_runs(system_database)
    state_ids = [f"dev:tap-sqs-logins--postgres-to-target-postgres:worker-{w}" for w in worker_ids]
    assert Counter(runs) == Counter(
        [(state_ids[0], "SUCCESS")] + [(state_id, "SUCCESS") for state_id in state_ids]
    )
    quarantined = fetch(database, "select message_id from sqs_logins.quarantined_messages")
    poison_ids = {message_id for message_id, body in sent.items() if body in poison}
    assert Counter(row[0] for row in quarantined) == Counter(poison_ids)
