"""The job's dbt step starts dbt only while a staged row awaits it.

The job, `meltano run sqs-logins-to-postgres` from a scrubbed shell on an empty queue, against
a staging table in each state: every row is settled, or a row of each kind waits (a valid
login, a message the tap rejected, a login user_logins refuses). Its loader asks PostgreSQL
once its load has committed and, when nothing waits, leaves the dbt step a note
(sqs-ack/sqs_ack/dbt_handoff.py): the step says so and starts neither Meltano nor dbt. A run
with anything to do delivers it, exactly as `dbt build` does; without the note of its own
run's loader (the step on its own, after another run's loader), dbt runs.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

import pytest

from tests.harness.dbt import add_messages, login, poison
from tests.harness.jobs import JOB, KEY
from tests.harness.project import RUN_TIMEOUT, SYSTEM_DIR, run_meltano, scrubbed

if TYPE_CHECKING:
    from subprocess import CompletedProcess

    from tests.harness.dbt import Database

pytestmark = pytest.mark.meltano

SKIPPED = "no staged row awaits dbt, so `dbt build --exclude-resource-type unit_test` did not start"
DBT_STARTED = "Running with dbt="
WAITING = {
    "a valid login": login("m-valid", "u-valid"),
    "a message the tap rejected": poison("m-poison", "not JSON"),
    "a login user_logins refuses": login("m-refused", "u-refused"),
}
REFUSING = (
    "alter table public.user_logins add constraint no_u_refused check (user_id <> 'u-refused')"
)
NOTES = SYSTEM_DIR / "run" / "dbt-pending"  # in MELTANO_SYS_DIR_ROOT, as bin/worker sets it


def job(db: Database, queue_url: str, *blocks: str) -> CompletedProcess[str]:
    """The job (or `blocks` of it) on the empty `queue_url`, from a scrubbed shell."""
    tap = {
        "TAP_SQS_LOGINS_QUEUE_URL": queue_url,
        "TAP_SQS_LOGINS_ENDPOINT_URL": queue_url.rsplit("/", 2)[0],
        "TAP_SQS_LOGINS_MASK_KEY": KEY,
        "TAP_SQS_LOGINS_WAIT_TIME_SECONDS": "0",
    }
    env = scrubbed(**db.server.env(), **tap)
    result = run_meltano(env, "run", *(blocks or [JOB]), timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def transform(db: Database, **env: str) -> CompletedProcess[str]:
    """The job's dbt step on its own, through Meltano in the checkout, from a scrubbed shell."""
    return run_meltano(
        scrubbed(**{**db.server.env(), **env}), "run", "dbt-postgres:transform", timeout=RUN_TIMEOUT
    )


def settled(db: Database, **env: str) -> CompletedProcess[str]:
    """Run the step until nothing awaits dbt (the first run adds dbt's bookkeeping)."""
    result = transform(db, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert DBT_STARTED in result.stderr, "dbt did not run on a table it had never seen"
    return result


def pending(db: Database) -> set[Any]:
    """Message ids of the staged rows dbt has not settled."""
    return {
        r[0]
        for r in db.query("select message_id from sqs_staging.logins where _transformed_at is null")
    }


def test_with_nothing_staged_no_dbt_starts(db: Database, queue_url: str) -> None:
    settled(db)

    result = job(db, queue_url)

    assert SKIPPED in result.stderr
    assert "target-postgres found none in sqs_staging.logins" in result.stderr
    assert DBT_STARTED not in result.stderr


def test_a_staging_table_dbt_has_not_met_starts_it(db: Database, queue_url: str) -> None:
    result = job(db, queue_url)  # no _transformed_at column yet: dbt adds its bookkeeping

    assert DBT_STARTED in result.stderr and SKIPPED not in result.stderr
    assert SKIPPED in job(db, queue_url).stderr


def test_settled_rows_alone_start_no_dbt(db: Database, queue_url: str) -> None:
    add_messages(db, login("m-1", "u-1"), poison("m-2", "not a login"))
    settled(db)
    assert pending(db) == set()

    result = job(db, queue_url)

    assert SKIPPED in result.stderr
    assert len(db.user_logins()) == 2  # the row there before and m-1, once


@pytest.mark.parametrize("kind", WAITING)
def test_any_row_awaiting_dbt_starts_it(kind: str, db: Database, queue_url: str) -> None:
    settled(db)
    db.query(REFUSING)
    row = WAITING[kind]
    add_messages(db, row)

    result = job(db, queue_url)

    assert DBT_STARTED in result.stderr and SKIPPED not in result.stderr
    if kind == "a login user_logins refuses":  # pending still, so tried again every run
        assert pending(db) == {"m-refused"}
        result = job(db, queue_url)
        assert DBT_STARTED in result.stderr and SKIPPED not in result.stderr
        assert pending(db) == {"m-refused"}
    else:
        assert pending(db) == set()
    delivered = {r[0] for r in db.user_logins()}
    quarantined = {r[0] for r in db.query("select message_id from sqs_logins.quarantined_messages")}
    assert ("u-valid" in delivered) == (kind == "a valid login")
    assert (row["message_id"] in quarantined) == (kind != "a valid login")


def test_without_its_own_runs_note_dbt_runs(db: Database, queue_url: str) -> None:
    settled(db)
    for _ in range(3):  # each loader leaves a note no dbt step of its run takes
        job(db, queue_url, "tap-sqs-logins--postgres", "target-postgres")
    assert len(list(NOTES.glob("*.json"))) <= 1  # the notes of ended runs are removed
    add_messages(db, login("m-late", "u-late"))

    result = transform(db)  # on its own: another Meltano's note is not about this run

    assert result.returncode == 0, result.stderr[-3000:]
    assert DBT_STARTED in result.stderr and SKIPPED not in result.stderr
    assert "u-late" in {r[0] for r in db.user_logins()}


def test_a_note_that_cannot_be_written_fails_no_run(db: Database, queue_url: str) -> None:
    settled(db)
    add_messages(db, login("m-1", "u-1"))
    shutil.rmtree(NOTES, ignore_errors=True)  # this worker's notes: none is about a live run
    NOTES.parent.mkdir(parents=True, exist_ok=True)
    NOTES.write_text("not a directory")  # as a wrong owner or a full disk would refuse it
    try:
        waiting, quiet = job(db, queue_url), job(db, queue_url)
    finally:
        NOTES.unlink()

    assert DBT_STARTED in waiting.stderr and "u-1" in {r[0] for r in db.user_logins()}
    assert DBT_STARTED in quiet.stderr and SKIPPED not in quiet.stderr  # no note: dbt runs
    assert "The note to the dbt step" in quiet.stderr


def test_when_dbt_cannot_connect_it_says_why(db: Database) -> None:
    settled(db)
    missing = f"{db.server.name}_missing"

    result = transform(db, TARGET_POSTGRES_DATABASE=missing)

    assert result.returncode != 0
    assert DBT_STARTED in result.stderr and SKIPPED not in result.stderr
    assert f'database "{missing}" does not exist' in result.stderr


def test_vars_naming_another_staging_table_start_dbt(db: Database) -> None:
    settled(db)  # sqs_staging.logins: nothing pending
    add_messages(db, login("m-other", "u-other"))
    db.query("create table sqs_staging.logins2 (like sqs_staging.logins including all)")
    db.query("insert into sqs_staging.logins2 select * from sqs_staging.logins")
    db.query("delete from sqs_staging.logins where message_id = 'm-other'")

    result = run_meltano(
        scrubbed(**db.server.env()),
        "invoke",
        "dbt-postgres:transform",
        "--vars",
        "{sqs_staging_table: logins2}",
        timeout=RUN_TIMEOUT,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "u-other" in {r[0] for r in db.user_logins()}


def test_a_staging_schema_that_needs_quoting(db: Database) -> None:
    add_messages(db, login("m-1", "u-1"))
    db.query('alter schema sqs_staging rename to "My Stage"')
    schema = {"TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "My Stage"}

    result = transform(db, **schema)

    assert result.returncode == 0, result.stderr[-3000:]
    assert DBT_STARTED in result.stderr
    assert "u-1" in {r[0] for r in db.user_logins()}
