"""Meltano refuses a second run of a job whose state id is already running.

Its heartbeat must be 5 minutes old before the same state id runs again, unless `--force` is
given. Workers therefore run with their own state ids (`bin/worker`, tests/
test_workers.py).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import psutil
import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    TARGET,
    find_child,
    job_env,
    run_job,
    seed_ids,
    start_job,
    tail,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano


def test_a_second_run_of_the_same_state_id_is_refused(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    seed_ids(queue_url, sample_bodies(20))
    env = job_env(queue_url, database)
    # Its final empty receive long-polls for 10 s: the first run is still extracting.
    suffix = f"--state-id-suffix=refusal-{uuid.uuid4().hex[:8]}"  # only this test's runs
    first = start_job(
        {**env, "TAP_SQS_LOGINS_WAIT_TIME_SECONDS": "10"}, tmp_path / "first.log", suffix
    )
    try:
        deadline = time.monotonic() + 120
        while find_child(psutil.Process(first.pid), TARGET) is None:
            assert first.poll() is None, tail(tmp_path / "first.log")
            assert time.monotonic() < deadline, "the first run did not start loading"
            time.sleep(0.05)
        assert run_job(env, tmp_path / "second.log", suffix) != 0
        assert "pipeline is already running" in (tmp_path / "second.log").read_text()
    finally:
        assert first.wait(timeout=600) == 0, tail(tmp_path / "first.log")
