"""What tells operators that the job failed or stalled, besides the orchestrators' alerts.

- The scheduled job runs `dbt build`: a failing data test fails the run (non-zero exit) and
  the log names the test.
- `dbt source freshness` on the staging source passes, warns after 45 minutes without a new
  batch, and errors after 2 hours (transform/models/staging/_sqs__sources.yml).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psycopg
import pytest

from localenv.sample import sample_bodies
from orchestrate import alerts
from tests.harness.jobs import (
    delivered,
    expected_rows,
    job_env,
    run_job,
    seed_ids,
    tail,
)
from tests.harness.project import REPO

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

PLUGIN_DBT = REPO / ".meltano" / "utilities" / "dbt-postgres" / "venv" / "bin" / "dbt"


def test_a_failing_data_test_fails_the_job_and_is_named(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    env = job_env(queue_url, database)
    first = sample_bodies(10, foreign_index=None)
    seed_ids(queue_url, first)
    assert run_job(env, tmp_path / "first.log") == 0, tail(tmp_path / "first.log")
    broken = (None, "web", None, None, None, 1, "2020-01-01")  # another writer's row
    with psycopg.connect(database.dsn) as conn:  # a login without a user: not_null fails
        conn.execute(
            "insert into public.user_logins (user_id, device_type, masked_ip, masked_device_id,"
            " locale, app_version, create_date) values (%s, %s, %s, %s, %s, %s, %s)",
            broken,
        )
    second = sample_bodies(5, foreign_index=None)
    seed_ids(queue_url, second)

    log = tmp_path / "second.log"
    assert run_job(env, log) != 0
    text = log.read_text(errors="replace")
    assert "Failure in test not_null_user_logins_user_id" in text
    assert "not_null_user_logins_user_id" in alerts.failure_reason(text.splitlines())
    today = datetime.now(timezone.utc).date().isoformat()
    expected = expected_rows(first + second, today) + Counter([broken])
    assert delivered(database) == expected  # the models still ran


@pytest.mark.parametrize(
    ("age_minutes", "status", "exit_code"),
    [(5, "PASS", 0), (44, "PASS", 0), (46, "WARN", 0), (119, "WARN", 0), (121, "ERROR STALE", 1)],
)
def test_source_freshness_thresholds(
    database: Database, tmp_path: Path, age_minutes: int, status: str, exit_code: int
) -> None:
    with psycopg.connect(database.dsn) as conn:
        conn.execute("create schema sqs_staging")
        conn.execute("create table sqs_staging.logins (message_id text, _sdc_batched_at timestamp)")
        conn.execute(
            "insert into sqs_staging.logins"
            " values ('m', (now() at time zone 'UTC') - make_interval(mins => %s))",
            [age_minutes],
        )
    result = subprocess.run(
        [str(PLUGIN_DBT), "source", "freshness", "--profiles-dir", "profiles"],
        cwd=REPO / "transform",
        env={
            **job_env("http://unused/000000000000/q", database),
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "sqs_staging",
            "DBT_TARGET_PATH": str(tmp_path / "target"),
            "DBT_LOG_PATH": str(tmp_path / "logs"),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == exit_code, result.stdout[-3000:]
    assert f"{status} freshness of sqs.logins" in result.stdout
