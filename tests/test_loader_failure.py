"""A loader that fails mid-load hides nothing: what it did not commit is offered back at once.

When target-postgres dies (killed, or its Postgres connections terminated as in a server
restart), Meltano stops the tap, which keeps hidden the messages it already sent on. The loader
wrapper (sqs-ack) noted the receipt handle of every record it passed on and offers back, with
ChangeMessageVisibility 0, every one whose outcome is not committed: the next run does not
wait for the visibility timeout, and delivers everything exactly once.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psutil
import psycopg
import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    delivered,
    expected_rows,
    fetch,
    find_child,
    job_env,
    queue_counts,
    row_count,
    run_job,
    seed_ids,
    start_job,
    tail,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

MESSAGES = 1500
VISIBILITY = "600"  # far longer than the test: a message not offered back stays hidden
RUN_OPTIONS = ("--force", f"--state-id-suffix=loader-failure-{uuid.uuid4().hex[:8]}")


def kill_target(job: psutil.Process, _: Database) -> None:
    """SIGKILL target-postgres itself; its wrapper (sqs-ack) lives on."""
    target = find_child(job, "target-postgres")
    assert target is not None, "target-postgres is not running"
    target.kill()


def terminate_backends(_: psutil.Process, database: Database) -> None:
    """Terminate every Postgres connection of the job, as a server restart would."""
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        )


@pytest.mark.parametrize("failure", [kill_target, terminate_backends])
def test_what_a_failed_load_did_not_commit_is_visible_again_at_once(
    failure: Callable[[psutil.Process, Database], None],
    queue_url: str,
    database: Database,
    tmp_path: Path,
) -> None:
    bodies = sample_bodies(MESSAGES, seed=5, foreign_index=None)
    seed_ids(queue_url, bodies)
    log = tmp_path / "meltano.log"
    env = job_env(
        queue_url,
        database,
        TAP_SQS_LOGINS_VISIBILITY_TIMEOUT=VISIBILITY,
        TARGET_POSTGRES_BATCH_SIZE_ROWS="100",  # commits while the tap still sends
    )

    job = start_job(env, log, *RUN_OPTIONS)
    with psycopg.connect(database.dsn, autocommit=True) as probe:
        deadline = time.monotonic() + 300
        while row_count(probe, "sqs_staging.logins") == 0:
            assert job.poll() is None, f"the job ended before a commit:\n{tail(log)}"
            assert time.monotonic() < deadline, "nothing was committed in time"
            time.sleep(0.05)
    failure(psutil.Process(job.pid), database)
    job.wait(timeout=300)

    # Whatever the job deleted is gone; nothing else is left hidden for the visibility timeout.
    visible, hidden = queue_counts(queue_url)
    assert hidden == 0, f"{hidden} messages stay hidden:\n{tail(log)}"
    assert visible > 0, "the failure came after every delete"
    assert "offered back to SQS" in log.read_text()

    assert run_job(env, log, *RUN_OPTIONS) == 0, tail(log)
    assert queue_counts(queue_url) == (0, 0)
    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, today)
    ledger = fetch(
        database, "select count(*), count(distinct message_id) from sqs_logins.login_deliveries"
    )
    assert ledger == [(MESSAGES, MESSAGES)]
