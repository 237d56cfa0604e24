"""A loader that fails mid-load hides nothing: what it did not commit is offered back at once.

When target-postgres dies (killed, or its Postgres connections terminated as in a server
restart), Meltano stops the tap, which keeps hidden the messages it already sent on. The loader
wrapper (sqs-ack) noted the receipt handle of every record it passed on and offers back, with
ChangeMessageVisibility 0, every one whose outcome is not committed: the next run does not
wait for the visibility timeout, and delivers everything exactly once.

A SIGTERM once the tap has ended (its output read) is the same: sqs-ack offers back what it
did not commit. If sqs-ack itself is killed outright, nothing can offer them back: the job's
extractor's short ``visibility_timeout`` (kept up by heartbeats while the run lives) brings
them back soon.
"""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psutil
import psycopg
import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    TARGET,
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
    import subprocess
    from collections.abc import Callable
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

MESSAGES = 1500
VISIBILITY = "600"  # far longer than the test: a message not offered back stays hidden
SHORT_VISIBILITY = 30  # the least; the job's extractor has 300 s (meltano.yml)
RUN_OPTIONS = ("--force", f"--state-id-suffix=loader-failure-{uuid.uuid4().hex[:8]}")


def kill_target(job: psutil.Process, _: Database) -> None:
    """SIGKILL target-postgres itself; its wrapper (sqs-ack) lives on."""
    target = find_child(job, TARGET)
    assert target is not None, "target-postgres is not running"
    target.kill()


def terminate_backends(_: psutil.Process, database: Database) -> None:
    """Terminate every Postgres connection of the job, as a server restart would."""
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        )


def kill_wrapper(job: psutil.Process, _: Database) -> None:
    """SIGKILL sqs-ack, the loader Meltano started; Linux stops its target-postgres."""
    wrapper = find_child(job, "target-postgres-sqs-ack")
    assert wrapper is not None, "sqs-ack is not running"
    wrapper.kill()


def kill_loader_tree(job: psutil.Process, _: Database) -> None:
    """SIGKILL sqs-ack and every process under it at once."""
    wrapper = find_child(job, "target-postgres-sqs-ack")
    assert wrapper is not None, "sqs-ack is not running"
    for process in [wrapper, *wrapper.children(recursive=True)]:
        process.kill()


def seeded(
    queue_url: str, database: Database, seed: int, visibility: str
) -> tuple[list[str], dict[str, str]]:
    """MESSAGES logins sent to the queue; the job's env with `visibility`, 100-row batches."""
    bodies = sample_bodies(MESSAGES, seed=seed, foreign_index=None)
    seed_ids(queue_url, bodies)
    env = job_env(
        queue_url,
        database,
        TAP_SQS_LOGINS__POSTGRES_VISIBILITY_TIMEOUT=visibility,
        TARGET_POSTGRES_BATCH_SIZE_ROWS="100",  # commits while the tap still sends
    )
    return bodies, env


def start_and_wait_for_a_commit(
    env: dict[str, str], log: Path, database: Database
) -> subprocess.Popen[bytes]:
    """Start the job; return once target-postgres has committed rows (the tap still sends)."""
    job = start_job(env, log, *RUN_OPTIONS)
    with psycopg.connect(database.dsn, autocommit=True) as probe:
        deadline = time.monotonic() + 300
        while row_count(probe, "sqs_staging.logins") == 0:
            assert job.poll() is None, f"the job ended before a commit:\n{tail(log)}"
            assert time.monotonic() < deadline, "nothing was committed in time"
            time.sleep(0.05)
    return job


def assert_next_run_delivers_each_once(
    env: dict[str, str], log: Path, queue_url: str, database: Database, bodies: list[str]
) -> None:
    assert run_job(env, log, *RUN_OPTIONS) == 0, tail(log)
    assert queue_counts(queue_url) == (0, 0)
    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, today)
    ledger = fetch(
        database, "select count(*), count(distinct message_id) from sqs_logins.login_deliveries"
    )
    assert ledger == [(MESSAGES, MESSAGES)]


@pytest.mark.parametrize("failure", [kill_wrapper, kill_loader_tree])
def test_a_killed_loader_hides_messages_only_for_the_jobs_short_visibility_timeout(
    failure: Callable[[psutil.Process, Database], None],
    queue_url: str,
    database: Database,
    tmp_path: Path,
) -> None:
    bodies, env = seeded(queue_url, database, 6, str(SHORT_VISIBILITY))
    log = tmp_path / "meltano.log"

    job = start_and_wait_for_a_commit(env, log, database)
    failure(psutil.Process(job.pid), database)
    killed_at = time.monotonic()
    assert job.wait(timeout=300) != 0

    # Nothing offered them back, and no heartbeat keeps them hidden any more.
    assert queue_counts(queue_url)[1] > 0, "every message was deleted or offered back"
    while queue_counts(queue_url)[1]:
        waited = time.monotonic() - killed_at
        assert waited < SHORT_VISIBILITY + 15, f"messages still hidden after {waited:.0f} s"
        time.sleep(1)

    assert_next_run_delivers_each_once(env, log, queue_url, database, bodies)


@pytest.mark.parametrize("failure", [kill_target, terminate_backends])
def test_what_a_failed_load_did_not_commit_is_visible_again_at_once(
    failure: Callable[[psutil.Process, Database], None],
    queue_url: str,
    database: Database,
    tmp_path: Path,
) -> None:
    bodies, env = seeded(queue_url, database, 5, VISIBILITY)
    log = tmp_path / "meltano.log"

    job = start_and_wait_for_a_commit(env, log, database)
    failure(psutil.Process(job.pid), database)
    job.wait(timeout=300)

    # Whatever the job deleted is gone; nothing else is left hidden for the visibility timeout.
    visible, hidden = queue_counts(queue_url)
    assert hidden == 0, f"{hidden} messages stay hidden:\n{tail(log)}"
    assert visible > 0, "the failure came after every delete"
    assert "offered back to SQS" in log.read_text()

    assert_next_run_delivers_each_once(env, log, queue_url, database, bodies)


def test_a_load_slower_than_the_visibility_timeout_offers_nothing_again_mid_run(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    """Once the tap has ended, sqs-ack's heartbeat keeps what it has not committed hidden."""
    log = tmp_path / "meltano.log"
    env = job_env(
        queue_url, database, TAP_SQS_LOGINS__POSTGRES_VISIBILITY_TIMEOUT=str(SHORT_VISIBILITY)
    )
    seed_ids(queue_url, sample_bodies(1, seed=7, foreign_index=None))
    assert run_job(env, log, *RUN_OPTIONS) == 0, tail(log)  # creates the staging table
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute(
            "create function slow_load() returns trigger language plpgsql as"
            f" $$ begin perform pg_sleep({SHORT_VISIBILITY * 1.5}); return null; end $$"
        )
        conn.execute(
            "create trigger slow_load after insert on sqs_staging.logins"
            " for each statement execute function slow_load()"
        )
    bodies = sample_bodies(300, seed=8, foreign_index=None)
    seed_ids(queue_url, bodies)

    job = start_job(env, log, *RUN_OPTIONS)
    deadline = time.monotonic() + 120
    while queue_counts(queue_url) != (0, len(bodies)):  # the tap received every message
        assert job.poll() is None and time.monotonic() < deadline, tail(log)
        time.sleep(0.2)
    while job.poll() is None:  # the load sleeps longer than the visibility timeout
        assert queue_counts(queue_url)[0] == 0, f"offered again mid-run:\n{tail(log)}"
        time.sleep(1)
    assert job.wait() == 0, tail(log)

    assert queue_counts(queue_url) == (0, 0)
    staged = fetch(database, "select max(receive_count), count(*) from sqs_staging.logins")
    assert staged == [(1, len(bodies) + 1)]
    assert "Kept 300 unacknowledged messages hidden" in log.read_text()


def sigterm_meltano(meltano: psutil.Process) -> None:
    """`docker stop`: SIGTERM to Meltano, which sends SIGTERM to each plugin."""
    meltano.terminate()


def ctrl_c(meltano: psutil.Process) -> None:
    """Ctrl-C: SIGINT to the whole foreground group; Meltano then sends SIGTERM too."""
    for process in [meltano, *meltano.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGINT)


@pytest.mark.parametrize("stop", [sigterm_meltano, ctrl_c])
def test_sigterm_while_the_last_rows_load_offers_back_what_was_not_committed(
    queue_url: str, database: Database, tmp_path: Path, stop: Callable[[psutil.Process], None]
) -> None:
    """`docker stop` or Ctrl-C once the tap has ended: sqs-ack offers back what it passed on,
    a second signal (Ctrl-C's SIGINT, then Meltano's SIGTERM) cutting none of it short."""
    log = tmp_path / "meltano.log"
    env = job_env(queue_url, database, TAP_SQS_LOGINS__POSTGRES_VISIBILITY_TIMEOUT=VISIBILITY)
    seed_ids(queue_url, sample_bodies(1, seed=9, foreign_index=None))
    assert run_job(env, log, *RUN_OPTIONS) == 0, tail(log)  # creates the staging table
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute(
            "create function slow_load() returns trigger language plpgsql as"
            " $$ begin perform pg_sleep(20); return null; end $$"
        )
        conn.execute(
            "create trigger slow_load after insert on sqs_staging.logins"
            " for each statement execute function slow_load()"
        )
    bodies = sample_bodies(50, seed=10, foreign_index=None)
    seed_ids(queue_url, bodies)

    job = start_job(env, log, *RUN_OPTIONS)
    deadline = time.monotonic() + 120
    meltano = psutil.Process(job.pid)
    with psycopg.connect(database.dsn, autocommit=True) as probe:
        # target-postgres loads at the end of its input: the tap has ended, sqs-ack read it all.
        while find_child(meltano, "tap-sqs-logins") or not fetch_one(
            probe,
            "select count(*) from pg_stat_activity"
            " where wait_event = 'PgSleep' and datname = current_database()",
        ):
            assert job.poll() is None and time.monotonic() < deadline, tail(log)
            time.sleep(0.1)
    stop(meltano)
    assert job.wait(timeout=60) != 0

    assert queue_counts(queue_url) == (len(bodies), 0), tail(log)
    assert f"did not commit {len(bodies)} messages it was sent: offered back" in log.read_text()
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute("drop trigger slow_load on sqs_staging.logins")  # once the load has ended
    assert run_job(env, log, *RUN_OPTIONS) == 0, tail(log)
    assert queue_counts(queue_url) == (0, 0)
    ledger = fetch(
        database, "select count(*), count(distinct message_id) from sqs_logins.login_deliveries"
    )
    assert ledger == [(len(bodies) + 1, len(bodies) + 1)]


def fetch_one(conn: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    """The single value `query` returns."""
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]
