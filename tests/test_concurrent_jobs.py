"""Meltano refuses a second run of a job whose state id is already running.

Its heartbeat must be 5 minutes old before the same state id runs again, unless `--force` is
given. Workers therefore run with their own state ids (`bin/worker`, tests/
test_workers.py).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    KillPoint,
    delivered,
    freeze_at,
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
    suffix = f"--state-id-suffix=refusal-{uuid.uuid4().hex[:8]}"  # only this test's runs
    first = start_job(env, tmp_path / "first.log", suffix)
    # The first run's tap is frozen as it starts: the run stays running until it is let go.
    tap = freeze_at(first, KillPoint("tap running", "tap-sqs-logins"), tmp_path / "first.log")
    try:
        assert run_job(env, tmp_path / "second.log", suffix) != 0
        assert "pipeline is already running" in (tmp_path / "second.log").read_text()
    finally:
        tap.resume()
        assert first.wait(timeout=600) == 0, tail(tmp_path / "first.log")
    assert delivered(database).total() == 19  # the first run went on: all but the junk one
