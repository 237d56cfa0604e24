"""One configuration: however target-postgres's host and database are set, every step follows.

The project is copied (its installed plugins shared) with a target-postgres that points at a
host that does not exist. The right host and a fresh database are then set one way at a time,
the ways Meltano offers: in meltano.yml, with `meltano config set`, in .env, in the shell. The
job must stage, acknowledge and transform in that database, and empty the queue.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psycopg
import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    JOB,
    KEY,
    delivered,
    expected_rows,
    job_env,
    new_queues,
    queue_counts,
    seed_ids,
)
from tests.harness.project import (
    RUN_TIMEOUT,
    WAYS,
    copy_project,
    meltano,
    run_meltano,
    scrubbed,
    set_target,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano


@pytest.mark.parametrize("way", WAYS)
def test_every_step_follows_the_target_setting(
    way: str, queue_url: str, database: Database, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    env = job_env(queue_url, database)
    for name in ("HOST", "DATABASE"):
        env.pop(f"TARGET_POSTGRES_{name}")
    set_target(way, project, env, database.host, database.name)
    bodies = sample_bodies(40, seed=11)
    seed_ids(queue_url, bodies)

    meltano(env, "run", JOB, project=project, timeout=RUN_TIMEOUT)

    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, today)
    with psycopg.connect(database.dsn) as conn:
        outcomes: dict[str, int] = dict(
            conn.execute(
                "select coalesce(_ack_outcome, 'pending'), count(*) from sqs_staging.logins"
                " group by 1"
            ).fetchall()
        )
    assert outcomes == {"deleted": 39, "left": 1}, outcomes  # the sample's foreign message
    assert queue_counts(queue_url) == (0, 1)  # that message waits for the redrive policy


def test_a_production_environment_without_queue_url_fails_naming_it(tmp_path: Path) -> None:
    """The local queue is the dev environment's: the tap itself has no queue default."""
    env = scrubbed(TAP_SQS_LOGINS_MASK_KEY=KEY)
    for plugin in ("tap-sqs-logins", "tap-sqs-logins--postgres"):
        result = run_meltano(env, "--environment", "prod", "config", "test", plugin)
        assert result.returncode != 0
        assert "queue_url" in result.stdout + result.stderr
        assert "localhost:4566" not in result.stdout + result.stderr


def invoke(plugin: str, queue_url: str, tmp_path: Path) -> list[dict[str, object]]:
    """The records of `meltano invoke <plugin>` on `queue_url`, from a scrubbed shell."""
    env = scrubbed(
        TAP_SQS_LOGINS_QUEUE_URL=queue_url,
        TAP_SQS_LOGINS_ENDPOINT_URL=queue_url.rsplit("/", 2)[0],
        TAP_SQS_LOGINS_MASK_KEY=KEY,
        TAP_SQS_LOGINS_WAIT_TIME_SECONDS="0",
        TAP_SQS_LOGINS_JOURNAL_DIR=str(tmp_path / "journal"),
    )
    result = run_meltano(env, "invoke", plugin)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return [line["record"] for line in lines if line["type"] == "RECORD"]


def test_only_the_postgres_jobs_variant_runs_in_loader_mode(
    sqs_endpoint: str, tmp_path: Path
) -> None:
    """`tap-sqs-logins` with any target gets after_state; the job's variant serves sqs-ack."""
    base_queue, _ = new_queues(sqs_endpoint)
    job_queue, _ = new_queues(sqs_endpoint)
    for queue_url in (base_queue, job_queue):
        seed_ids(queue_url, sample_bodies(12))

    base = invoke("tap-sqs-logins", base_queue, tmp_path)
    job = invoke("tap-sqs-logins--postgres", job_queue, tmp_path)

    assert len(base) == len(job) == 12
    assert all("receipt_handle" not in r and "queue_url" not in r for r in base)
    assert all(r["receipt_handle"] and r["queue_url"] == job_queue for r in job)
    assert all("ip" not in r and "device_id" not in r for r in base + job)  # masked by default
    assert len(list((tmp_path / "journal").glob("*.jsonl"))) == 1  # after_state's, kept
