"""The job's dbt step starts dbt only while a staged row awaits it.

`meltano run dbt-postgres:transform`, the job's step as the job starts it (`dbt-with-target
--if-pending build …`, transform/dbt_with_target.py), against a staging table in each state: dbt
has never seen it, every row is settled, or a row of each kind waits (a valid login, a
message the tap rejected, a login user_logins refuses). A run with nothing to do says so and
starts no dbt; a run with anything to do delivers it, exactly as `dbt build` does; and when the
check cannot tell, dbt runs and reports what is wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.harness.dbt import add_messages, login, poison
from tests.harness.project import RUN_TIMEOUT, run_meltano, scrubbed

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


def transform(db: Database, **env: str) -> CompletedProcess[str]:
    """The job's dbt step, through Meltano in the checkout, from a scrubbed shell."""
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


def test_with_nothing_staged_no_dbt_starts(db: Database) -> None:
    settled(db)

    result = transform(db)

    assert result.returncode == 0, result.stderr[-3000:]
    assert SKIPPED in result.stderr
    assert DBT_STARTED not in result.stderr


def test_settled_rows_alone_start_no_dbt(db: Database) -> None:
    add_messages(db, login("m-1", "u-1"), poison("m-2", "not a login"))
    settled(db)
    assert pending(db) == set()

    result = transform(db)

    assert SKIPPED in result.stderr
    assert len(db.user_logins()) == 2  # the row there before and m-1, once


@pytest.mark.parametrize("kind", WAITING)
def test_any_row_awaiting_dbt_starts_it(kind: str, db: Database) -> None:
    settled(db)
    db.query(REFUSING)
    row = WAITING[kind]
    add_messages(db, row)

    result = transform(db)

    assert result.returncode == 0, result.stderr[-3000:]
    assert DBT_STARTED in result.stderr and SKIPPED not in result.stderr
    if kind == "a login user_logins refuses":  # pending still, so tried again every run
        assert pending(db) == {"m-refused"}
        result = transform(db)
        assert DBT_STARTED in result.stderr and SKIPPED not in result.stderr
        assert pending(db) == {"m-refused"}
    else:
        assert pending(db) == set()
    delivered = {r[0] for r in db.user_logins()}
    quarantined = {r[0] for r in db.query("select message_id from sqs_logins.quarantined_messages")}
    assert ("u-valid" in delivered) == (kind == "a valid login")
    assert (row["message_id"] in quarantined) == (kind != "a valid login")


def test_when_the_check_cannot_connect_dbt_runs_and_says_why(db: Database) -> None:
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

    first = transform(db, **schema)
    again = transform(db, **schema)

    assert first.returncode == 0, first.stderr[-3000:]
    assert DBT_STARTED in first.stderr
    assert "u-1" in {r[0] for r in db.user_logins()}
    assert SKIPPED in again.stderr
