"""`python -m orchestrate.cron` turns the project's schedules into crontab lines that work.

The lines are checked against `meltano schedule list` of the project and of a copy with a
schedule added by `meltano schedule add`; one line is run once, as cron would (`/bin/sh -c`),
and its run lands the queue's logins in `user_logins`; a tick while a run holds the lock skips.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from localenv.sample import sample_bodies
from orchestrate import cron
from orchestrate.schedules import load
from tests.conftest import REPO
from tests.integration.jobs import BIN, delivered, expected_rows, job_env, queue_counts, seed_ids

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Database

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


def test_one_line_per_schedule_with_lock_and_log() -> None:
    meltano = str(BIN / "meltano")
    lines = generate("--meltano", meltano)
    assert lines == [
        f"*/15 * * * * cd {REPO} && mkdir -p .meltano/cron"
        " && flock -n .meltano/cron/sqs-logins-every-15-minutes.lock"
        f" {meltano} schedule run sqs-logins-every-15-minutes"
        " >> .meltano/cron/sqs-logins-every-15-minutes.log 2>&1"
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
    lines = cron.crontab(load(tmp_path), tmp_path, "/opt/meltano/bin/meltano").splitlines()
    assert lines.pop(1) == (
        "# by-hand: interval @once, not scheduled (run it with meltano schedule run)"
    )
    assert lines[1] == (
        f"0 0 * * * cd {tmp_path} && mkdir -p .meltano/cron"
        " && flock -n .meltano/cron/nightly_100_.lock"
        r" /opt/meltano/bin/meltano schedule run 'nightly 100\%'"
        " >> .meltano/cron/nightly_100_.log 2>&1"
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
    assert result.returncode == 1  # flock -n: busy, nothing started
    assert queue_counts(queue_url) == (5, 0)
