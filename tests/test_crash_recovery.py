"""Nothing lost, nothing doubled: the job SIGKILLed in each step, then rerun until done.

Guarantees checked: every valid message lands in user_logins exactly once and every poison
message in sqs_logins.quarantined_messages exactly once. The dead-letter queue is at least
once: the tap forwards poison when it reads it, before staging commits, so a message
redelivered after a crash is forwarded again. Its copies are deduplicated by their
`source_message_id` attribute, which must name each poison message (and nothing else).
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    TARGET,
    KillPoint,
    counts,
    delivered,
    drain,
    expected_rows,
    fetch,
    job_env,
    new_queues,
    poison_bodies,
    queue_counts,
    row_count,
    run_and_kill,
    run_job,
    seed_ids,
    tail,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = [pytest.mark.meltano, pytest.mark.slow]

VISIBILITY = 30  # the tap's minimum: a killed run's messages return after it
PER_RUN = "600"  # messages a crashed run reads, so every kill point has work to interrupt
# A killed run leaves its Meltano job "running" until its heartbeat is 5 minutes old, and
# Meltano refuses to start that state id again before then unless forced. The test's own
# state id keeps those stale jobs from blocking other tests' runs.
RUN_OPTIONS = ("--force", f"--state-id-suffix=crash-test-{uuid.uuid4().hex[:8]}")
STARTED = 100  # messages a run must have received before it is killed in receive or load


def in_flight_since(queue_url: str, baseline: int) -> bool:
    """Whether at least STARTED more messages are in flight than at `baseline`."""
    return queue_counts(queue_url)[1] >= baseline + STARTED


def total(queue_url: str) -> int:
    """Messages on the queue, visible or in flight."""
    return sum(queue_counts(queue_url))


def crash_in_every_step(
    env: dict[str, str], log: Path, queue_url: str, probe: psycopg.Connection[Any]
) -> None:
    """Kill four runs, one per step, checking that each kill interrupted its step's work."""

    def kill(point: KillPoint) -> None:
        run_and_kill(env, log, point, *RUN_OPTIONS)

    baseline = queue_counts(queue_url)[1]
    kill(KillPoint("receive", "tap-sqs-logins", lambda: in_flight_since(queue_url, baseline)))
    assert row_count(probe, "sqs_staging.logins") == 0, "the receive kill came after a load"

    queued = total(queue_url)  # deletes are the acknowledgement's progress
    kill(KillPoint("acknowledge", "target-postgres-sqs-ack", lambda: total(queue_url) < queued))
    assert total(queue_url) > queued - int(PER_RUN), "the acknowledge kill came after every delete"

    kill(
        KillPoint(
            "transform",
            "dbt-with-target",
            lambda: bool(
                probe.execute(
                    "select 1 from pg_stat_activity"
                    " where application_name = 'dbt' and datname = current_database()"
                ).fetchone()
            ),
        )
    )
    assert row_count(probe, "public.user_logins") == 0, "the transform kill came after a delivery"

    baseline = queue_counts(queue_url)[1]
    staged = row_count(probe, "sqs_staging.logins")
    kill(KillPoint("load", TARGET, lambda: in_flight_since(queue_url, baseline)))
    assert row_count(probe, "sqs_staging.logins") == staged, "the load kill came after a commit"


def wait_for_redelivery(queue_url: str) -> None:
    """Wait until the queue is empty or offers a message again (a crashed run's expired)."""
    deadline = time.monotonic() + VISIBILITY + 30
    while queue_counts(queue_url)[0] == 0 and queue_counts(queue_url)[1]:
        assert time.monotonic() < deadline, "messages stayed in flight past their visibility"
        time.sleep(1)


def test_kills_in_every_step_lose_and_double_nothing(
    sqs_endpoint: str, database: Database, tmp_path: Path
) -> None:
    queue_url, dlq_url = new_queues(sqs_endpoint)
    valid = sample_bodies(2000, seed=3, foreign_index=None)
    poison = poison_bodies(10) + sample_bodies(13, seed=3)[12:]  # + the sample's foreign one
    bodies = valid + poison
    random.Random(3).shuffle(bodies)  # noqa: S311 - test data
    sent = seed_ids(queue_url, bodies)
    poison_ids = {message_id for message_id, body in sent.items() if body in poison}
    assert len(sent) == len(bodies) and len(poison_ids) == len(poison) == 41
    log = tmp_path / "meltano.log"
    env = job_env(
        queue_url,
        database,
        TAP_SQS_LOGINS_DEAD_LETTER_QUEUE_URL=dlq_url,
        TAP_SQS_LOGINS__POSTGRES_VISIBILITY_TIMEOUT=str(VISIBILITY),
    )
    crashed = {**env, "TAP_SQS_LOGINS_MAX_MESSAGES": PER_RUN}
    with psycopg.connect(database.dsn, autocommit=True) as probe:
        crash_in_every_step(crashed, log, queue_url, probe)
        for _ in range(8):  # rerun until the queue is empty and a run delivers nothing new
            wait_for_redelivery(queue_url)
            before = counts(probe)
            assert run_job(env, log, *RUN_OPTIONS) == 0, tail(log)
            if queue_counts(queue_url) == (0, 0) and counts(probe) == before:
                break
        else:
            raise AssertionError(f"the job never settled:\n{tail(log)}")

    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(valid, today)
    quarantined = [
        row[0] for row in fetch(database, "select message_id from sqs_logins.quarantined_messages")
    ]
    assert Counter(quarantined) == Counter(poison_ids)
    deliveries = [
        row[0] for row in fetch(database, "select message_id from sqs_logins.login_deliveries")
    ]
    assert Counter(deliveries) == Counter(set(sent) - poison_ids)
    assert delivered(database).total() + len(quarantined) == len(bodies)

    dead = drain(dlq_url)
    sources = Counter(m["MessageAttributes"]["source_message_id"]["StringValue"] for m in dead)
    assert set(sources) == poison_ids
    assert all(
        m["Body"] == sent[m["MessageAttributes"]["source_message_id"]["StringValue"]] for m in dead
    )
    print(f"dead-letter copies: {len(dead)} for {len(poison_ids)} poison messages")
