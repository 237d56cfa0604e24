"""The Dagster orchestrator runs the project's Meltano schedules, with its metadata in PostgreSQL.

The test installs nothing by hand: `meltano install` built the `dagster` utility from meltano.yml.
It creates the Dagster database (`dagster:createdb`), starts the daemon (`dagster:daemon`, the
scheduler and run queue of `make orchestrate`), checks that the schedule of meltano.yml became a
running Dagster schedule on the same cron, queues a run of that schedule's job through the
instance (`dagster:launch`), and waits for the daemon to run it: the queue's logins land in
`user_logins`, and Dagster's run and Meltano's run are both recorded in PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from localenv.postgres import conninfo, drop_database
from localenv.process import free_port
from localenv.sample import sample_bodies
from tests.harness.jobs import (
    delivered,
    expected_rows,
    job_env,
    queue_counts,
    seed_ids,
)
from tests.harness.orchestration import AlertReceiver, project_copy
from tests.harness.project import BIN, IN_THE_CHECKOUT_ITSELF, REPO, documented_shell, meltano

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = [pytest.mark.meltano, pytest.mark.slow, IN_THE_CHECKOUT_ITSELF]

JOB = "sqs_logins_every_15_minutes"  # the Dagster name of schedule sqs-logins-every-15-minutes


@pytest.fixture
def dagster_env(
    queue_url: str,
    database: Database,
    system_database: str,
    tmp_path: Path,
) -> Iterator[dict[str, str]]:
    """The job's environment plus a throwaway Dagster home and database on the test server."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(REPO / "orchestrate" / "dagster.yaml", home / "dagster.yaml")
    name = f"tsl_dagster_{uuid.uuid4().hex[:12]}"
    yield {
        **job_env(queue_url, database),
        "MELTANO_DATABASE_URI": system_database,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": database.host,
        "DAGSTER_PG_PORT": str(database.port),
        "DAGSTER_PG_USER": database.user,
        "DAGSTER_PG_PASSWORD": database.password,
        "DAGSTER_PG_DB": name,
    }
    admin = conninfo(database.host, database.port, database.user, database.password, "postgres")
    drop_database(admin, name)


def start_daemon(env: dict[str, str], log: Path, project: Path = REPO) -> subprocess.Popen[bytes]:
    """Start `meltano invoke dagster:daemon` in `project`, in its own session, logging to `log`."""
    return start_meltano(env, log, "daemon", project)


def start_meltano(
    env: dict[str, str], log: Path, command: str, project: Path = REPO
) -> subprocess.Popen[bytes]:
    """Start `meltano invoke dagster:<command>` in its own session, logging to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / "meltano"), "invoke", f"dagster:{command}"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


RUNS_QUERY = (
    "{ runsOrError { ... on Runs { results { runId jobName status startTime endTime } } } }"
)


def graphql(port: int, query: str, server: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    """The data of `query` from the web UI's GraphQL API, once the server answers."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    deadline = time.monotonic() + 300
    while True:
        assert server.poll() is None, log.read_text(errors="replace")[-4000:]
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return dict(json.load(response)["data"])
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
            time.sleep(2)


def dagster_dsn(env: dict[str, str]) -> str:
    """The Dagster database of `env` (its DAGSTER_PG_* variables)."""
    return conninfo(
        env["DAGSTER_PG_HOST"],
        int(env["DAGSTER_PG_PORT"]),
        env["DAGSTER_PG_USER"],
        env["DAGSTER_PG_PASSWORD"],
        env["DAGSTER_PG_DB"],
    )


def dagster_runs(env: dict[str, str]) -> list[tuple[object, ...]]:
    """(job name, status) of every run in the Dagster database."""
    with psycopg.connect(dagster_dsn(env)) as conn:
        return conn.execute("select pipeline_name, status from runs").fetchall()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and everything it started."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def test_dagster_runs_the_meltano_schedule(
    queue_url: str, database: Database, dagster_env: dict[str, str], tmp_path: Path
) -> None:
    bodies = sample_bodies(30, foreign_index=None)
    seed_ids(queue_url, bodies)
    assert "created database" in meltano(dagster_env, "invoke", "dagster:createdb")
    listing = meltano(dagster_env, "invoke", "dagster:schedules")
    assert f"Schedule: {JOB} [RUNNING]" in listing
    assert "Cron Schedule: */15 * * * *" in listing

    log = tmp_path / "daemon.log"
    daemon = start_daemon(dagster_env, log)
    try:
        meltano(dagster_env, "invoke", "dagster:launch", JOB)
        deadline = time.monotonic() + 600
        while (runs := dagster_runs(dagster_env)) != [(JOB, "SUCCESS")]:
            assert daemon.poll() is None, log.read_text(errors="replace")[-4000:]
            assert all(status not in {"FAILURE", "CANCELED"} for _, status in runs), (
                runs,
                log.read_text(errors="replace")[-4000:],
            )
            assert time.monotonic() < deadline, (runs, log.read_text(errors="replace")[-4000:])
            time.sleep(2)
    finally:
        stop(daemon)

    assert queue_counts(queue_url) == (0, 0)
    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, today)
    uri = dagster_env["MELTANO_DATABASE_URI"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(uri) as conn:
        meltano_runs = conn.execute("select job_name, state from runs").fetchall()
    assert meltano_runs == [("dev:tap-sqs-logins--postgres-to-target-postgres", "SUCCESS")]


def scheduled_runs(env: dict[str, str]) -> list[tuple[object, ...]]:
    """(schedule name, status) of the runs Dagster's scheduler started."""
    with psycopg.connect(dagster_dsn(env)) as conn:
        return conn.execute(
            "select t.value, r.status from runs r join run_tags t on t.run_id = r.run_id"
            " where t.key = 'dagster/schedule_name' order by r.create_timestamp"
        ).fetchall()


def every_minute_schedule(env: dict[str, str], project: Path) -> None:
    """Swap `project`'s */15 schedule (it could tick during a test and race it) for every-minute."""
    meltano(env, "schedule", "remove", "sqs-logins-every-15-minutes", project=project)
    meltano(
        env,
        *("schedule", "add", "every-minute", "--job", "sqs-logins-to-postgres"),
        *("--interval", "* * * * *"),
        project=project,
    )


def run_every_minute_schedule(env: dict[str, str], project: Path, log: Path) -> None:
    """createdb (as `make orchestrate` does), then the daemon until every_minute's run succeeds."""
    meltano(env, "invoke", "dagster:createdb", project=project)
    assert "Schedule: every_minute [RUNNING]" in meltano(
        env, "invoke", "dagster:schedules", project=project
    )
    daemon = start_daemon(env, log, project)
    try:
        deadline = time.monotonic() + 420  # the next minute's tick, then the run
        while ("every_minute", "SUCCESS") not in (runs := scheduled_runs(env)):
            assert daemon.poll() is None, log.read_text(errors="replace")[-4000:]
            assert ("every_minute", "FAILURE") not in runs, log.read_text(errors="replace")
            assert time.monotonic() < deadline, (runs, log.read_text(errors="replace")[-4000:])
            time.sleep(2)
    finally:
        stop(daemon)


def test_a_schedule_added_with_meltano_schedule_add_is_run_by_the_daemon(
    queue_url: str, database: Database, dagster_env: dict[str, str], tmp_path: Path
) -> None:
    project = project_copy(tmp_path / "project")
    env = {
        **dagster_env,
        "MELTANO_PROJECT_ROOT": str(project),
        "DBT_TARGET_PATH": str(tmp_path / "dbt-target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt-logs"),
    }

    every_minute_schedule(env, project)
    bodies = sample_bodies(20, foreign_index=None)
    seed_ids(queue_url, bodies)

    run_every_minute_schedule(env, project, tmp_path / "daemon.log")

    assert queue_counts(queue_url)[0] == 0
    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, today)


def launch(env: dict[str, str], job: str = JOB) -> None:
    """`meltano invoke dagster:launch <job>` by absolute path from a scrubbed environment."""
    launched = subprocess.run(
        [str(BIN / "meltano"), "invoke", "dagster:launch", job],
        cwd=REPO,
        env=documented_shell(env),
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launched.returncode == 0, f"{launched.stdout[-3000:]}{launched.stderr[-3000:]}"


def test_a_failed_run_and_a_stalled_schedule_alert_the_webhook(
    queue_url: str,
    dagster_env: dict[str, str],
    alert_receiver: AlertReceiver,
    tmp_path: Path,
) -> None:
    seed_ids(queue_url, sample_bodies(5, foreign_index=None))
    closed_port = str(free_port())  # the job's database does not answer: the run fails
    env = {
        **dagster_env,
        "TARGET_POSTGRES_PORT": closed_port,
        "ALERT_WEBHOOK_URL": alert_receiver.url,
        "ALERT_STALE_AFTER_SECONDS": "20",
    }
    meltano(env, "invoke", "dagster:createdb")
    log = tmp_path / "daemon.log"
    daemon = start_daemon(documented_shell(env), log)
    try:
        launch(env)
        failed = alert_receiver.wait_for("failed", timeout=600)
        stalled = alert_receiver.wait_for("stalled", timeout=300)
    finally:
        stop(daemon)

    assert f"job {JOB} failed" in failed
    assert "meltano schedule run sqs-logins-every-15-minutes failed with exit code 1" in failed
    assert f":{closed_port}/" in failed  # the loader's check names the database it could not reach
    assert "TARGET_POSTGRES_PORT" in failed  # and the setting to fix
    assert f"schedule {JOB} is stalled" in stalled
    # The launch, and any quarter-hour tick of the enabled schedule while the daemon ran.
    runs = dagster_runs(env)
    assert runs and set(runs) == {(JOB, "FAILURE")}, runs
    assert sum("stalled" in text for text in alert_receiver.texts) == 1  # once per stall

    # The web UI (`make ui`) shows the run, its status and its duration.
    port = free_port()
    ui = start_meltano(
        documented_shell({**env, "DAGSTER_UI_PORT": str(port)}), tmp_path / "ui.log", "ui"
    )
    try:
        shown = graphql(port, RUNS_QUERY, ui, tmp_path / "ui.log")["runsOrError"]["results"]
    finally:
        stop(ui)
    assert len(shown) == len(runs)
    for run in shown:
        assert (run["jobName"], run["status"]) == (JOB, "FAILURE")
        assert run["endTime"] > run["startTime"] > 0  # the UI's duration column


def test_the_daemon_started_by_absolute_path_from_a_scrubbed_environment_runs_a_schedule(
    queue_url: str, database: Database, dagster_env: dict[str, str], tmp_path: Path
) -> None:
    project = project_copy(tmp_path / "project")
    every_minute_schedule(dagster_env, project)
    bodies = sample_bodies(20, foreign_index=None)
    seed_ids(queue_url, bodies)
    env = {
        **documented_shell(dagster_env),
        "DBT_TARGET_PATH": str(tmp_path / "dbt-target"),  # the copy shares transform/
        "DBT_LOG_PATH": str(tmp_path / "dbt-logs"),
    }

    run_every_minute_schedule(env, project, tmp_path / "daemon.log")

    assert queue_counts(queue_url)[0] == 0
    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, today)
