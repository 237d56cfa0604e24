"""`python -m orchestrate.cron` turns the project's schedules into crontab lines that work.

The lines are checked against `meltano schedule list` of the project and of a copy with a
schedule added by `meltano schedule add`; one line is run once, as cron would (`/bin/sh -c`),
and its run lands the queue's logins in `user_logins`; a tick while a run holds the lock skips.
Run from a scrubbed environment, a failed run alerts (the webhook and ALERT_COMMAND of the
project's .env), and so does a tick finding the lock held long after the last success, once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest

from localenv.process import free_port
from localenv.sample import sample_bodies
from orchestrate import cron
from orchestrate.schedules import load
from tests.harness.jobs import delivered, expected_rows, job_env, queue_counts, seed_ids
from tests.harness.orchestration import AlertReceiver, project_copy
from tests.harness.project import BIN, IN_THE_CHECKOUT_ITSELF, REPO, documented_shell

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = [pytest.mark.meltano, IN_THE_CHECKOUT_ITSELF]

FLOCK = shutil.which("flock") or "/usr/bin/flock"  # util-linux, as cron lines use it


def generate(*options: str) -> list[str]:
    """The crontab lines the tool prints for this project (comments dropped)."""
    output = subprocess.run(
        [sys.executable, "-m", "orchestrate.cron", *options],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in output.splitlines() if line and not line.startswith("#")]


def command_of(line: str) -> str:
    """The shell command of a crontab line (after its five time fields)."""
    return line.split(None, 5)[5]


def test_one_line_per_schedule_with_lock_log_and_alerts() -> None:
    meltano = str(BIN / "meltano")
    lines = generate("--meltano", meltano)
    assert lines == [
        f"*/15 * * * * cd {REPO} && mkdir -p .meltano/cron"
        " && { flock -n -E 75 .meltano/cron/sqs-logins-every-15-minutes.lock"
        f" {meltano} schedule run sqs-logins-every-15-minutes;"
        f" {sys.executable} -m orchestrate.cron_tick sqs-logins-every-15-minutes $?"
        " --interval 900; } >> .meltano/cron/sqs-logins-every-15-minutes.log 2>&1"
    ]


def test_a_schedule_added_with_meltano_schedule_add_gets_a_line(tmp_path: Path) -> None:
    shutil.copy(REPO / "meltano.yml", tmp_path / "meltano.yml")
    subprocess.run(
        [
            BIN / "meltano",
            "schedule",
            "add",
            "nightly 100%",
            "--job",
            "sqs-logins-to-postgres",
            "--interval",
            "@daily",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            BIN / "meltano",
            "schedule",
            "add",
            "by-hand",
            "--job",
            "sqs-logins-to-postgres",
            "--interval",
            "@once",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    lines = cron.crontab(
        load(tmp_path), tmp_path, "/opt/meltano/bin/meltano", python="/opt/meltano/bin/python"
    ).splitlines()
    assert lines.pop(1) == (
        "# by-hand: interval @once, not scheduled (run it with meltano schedule run)"
    )
    assert lines[1] == (
        f"0 0 * * * cd {tmp_path} && mkdir -p .meltano/cron"
        " && { flock -n -E 75 .meltano/cron/nightly_100_.lock"
        r" /opt/meltano/bin/meltano schedule run 'nightly 100\%';"
        r" /opt/meltano/bin/python -m orchestrate.cron_tick 'nightly 100\%' $?"
        " --interval 86400; } >> .meltano/cron/nightly_100_.log 2>&1"
    )
    assert lines[2].startswith("*/15 * * * * ")
    assert len(lines) == 4  # the two fencing comments


def test_a_generated_line_runs_the_job_once(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    bodies = sample_bodies(30, foreign_index=None)
    seed_ids(queue_url, bodies)
    suffix = f"cron-test-{uuid.uuid4().hex[:8]}"
    [line] = generate("--state-id-suffix", suffix)
    assert f"--state-id-suffix={suffix}" in line
    env = job_env(queue_url, database)
    log = REPO / ".meltano" / "cron" / "sqs-logins-every-15-minutes.log"
    start = log.stat().st_size if log.exists() else 0

    subprocess.run(["/bin/sh", "-c", command_of(line)], env=env, check=True, timeout=600)

    assert queue_counts(queue_url) == (0, 0)
    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, today)
    written = log.read_text(errors="replace")[start:]
    assert f"{suffix}" in written  # the run's own log went to the schedule's log file


def test_a_tick_during_a_run_skips(queue_url: str, database: Database) -> None:
    seed_ids(queue_url, sample_bodies(5))
    [line] = generate("--state-id-suffix", f"cron-test-{uuid.uuid4().hex[:8]}")
    lock = REPO / ".meltano" / "cron" / "sqs-logins-every-15-minutes.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([FLOCK, str(lock), "/bin/sleep", "60"])  # a run still going
    try:
        for _ in range(100):  # until the holder has the lock
            if subprocess.run([FLOCK, "-n", str(lock), "true"], check=False).returncode:
                break
            time.sleep(0.05)
        result = subprocess.run(
            ["/bin/sh", "-c", command_of(line)],
            env=job_env(queue_url, database),
            timeout=60,
            check=False,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 75  # flock -n -E 75: busy, nothing started
    assert queue_counts(queue_url) == (5, 0)


def cron_project(root: Path, alert_file: Path) -> tuple[Path, str]:
    """A project copy whose .env sets ALERT_COMMAND (append the alert to `alert_file`), and
    the shell command of its crontab line."""
    project = project_copy(root)
    (project / ".env").write_text(f"ALERT_COMMAND='cat >> {alert_file}'\n")
    [line] = generate("--project-root", str(project))
    return project, command_of(line)


def test_a_failed_run_alerts_the_webhook_and_the_command(
    queue_url: str,
    database: Database,
    alert_receiver: AlertReceiver,
    tmp_path: Path,
) -> None:
    seed_ids(queue_url, sample_bodies(5, foreign_index=None))
    alert_file = tmp_path / "alerts.txt"
    project, command = cron_project(tmp_path / "project", alert_file)
    closed_port = str(free_port())  # the job's database does not answer: the run fails
    env = documented_shell(
        job_env(
            queue_url,
            database,
            TARGET_POSTGRES_PORT=closed_port,
            ALERT_WEBHOOK_URL=alert_receiver.url,
        )
    )

    result = subprocess.run(["/bin/sh", "-c", command], env=env, timeout=600, check=False)

    assert result.returncode == 1  # the run's own status
    [alert] = alert_receiver.texts
    assert "cron run of schedule sqs-logins-every-15-minutes failed (exit 1)" in alert
    assert f":{closed_port}/" in alert  # the loader's check names the database it could not reach
    assert "TARGET_POSTGRES_PORT" in alert  # and the setting to fix
    assert str(project / ".meltano/cron/sqs-logins-every-15-minutes.log") in alert
    assert alert_file.read_text() == alert  # ALERT_COMMAND of .env got the same message
    assert queue_counts(queue_url) == (5, 0)  # nothing acknowledged, offered back at once
    assert not (project / ".meltano/cron/sqs-logins-every-15-minutes.ok").exists()


def test_a_stalled_schedule_alerts_once(queue_url: str, database: Database, tmp_path: Path) -> None:
    seed_ids(queue_url, sample_bodies(5))
    alert_file = tmp_path / "alerts.txt"
    project, command = cron_project(tmp_path / "project", alert_file)
    cron_dir = project / ".meltano" / "cron"
    cron_dir.mkdir()
    success = cron_dir / "sqs-logins-every-15-minutes.ok"
    success.touch()
    lock = cron_dir / "sqs-logins-every-15-minutes.lock"
    holder = subprocess.Popen([FLOCK, str(lock), "/bin/sleep", "120"])  # a run that hangs
    env = documented_shell(job_env(queue_url, database))
    try:
        for _ in range(100):  # until the holder has the lock
            if subprocess.run([FLOCK, "-n", str(lock), "true"], check=False).returncode:
                break
            time.sleep(0.05)

        def tick() -> int:
            return subprocess.run(["/bin/sh", "-c", command], env=env, timeout=60).returncode

        assert tick() == 75  # busy, last success just now: not stalled (30 min allowed)
        assert not alert_file.exists()
        an_hour_ago = time.time() - 3600
        os.utime(success, (an_hour_ago, an_hour_ago))
        assert tick() == 75
        stalled = alert_file.read_text()
        assert tick() == 75  # the same stall is told once
        assert alert_file.read_text() == stalled
    finally:
        holder.kill()
        holder.wait()
    assert "cron schedule sqs-logins-every-15-minutes is stalled" in stalled
    assert "no successful run for 60 min (threshold 30 min)" in stalled
    assert str(lock) in stalled
    assert queue_counts(queue_url) == (5, 0)
