"""SQS's in-flight limit: the job stays under it, and if SQS answers OverLimit it loses nothing.

The SQS server is moto behind ``OverLimitProxy``, which answers ``OverLimit`` to a receive
while ``LIMIT`` messages are in flight, as SQS does at 120,000 (20,000 for FIFO).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    delivered,
    expected_rows,
    job_env,
    new_queues,
    queue_counts,
    run_job,
    seed_ids,
    tail,
)
from tests.harness.over_limit_proxy import OverLimitProxy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

LIMIT = 60
MESSAGES = 150


def run_until_drained(env: dict[str, str], queue_url: str, log: Path) -> int:
    """Run the job until the queue is empty; return how many runs it took."""
    for runs in range(1, 10):
        assert run_job(env, log) == 0, tail(log)
        if queue_counts(queue_url) == (0, 0):
            return runs
    pytest.fail(f"the queue was not drained in 9 runs: {queue_counts(queue_url)}")


@pytest.mark.parametrize(
    ("max_in_flight", "runs_at_least"),
    [
        (None, 3),  # the default is far above the limit: SQS answers OverLimit each run
        (LIMIT - 5, 3),  # under the limit: SQS never has to refuse
    ],
)
def test_the_job_stays_under_the_in_flight_limit_or_survives_over_limit(
    sqs_endpoint: str,
    database: Database,
    tmp_path: Path,
    max_in_flight: int | None,
    runs_at_least: int,
) -> None:
    queue_url, _ = new_queues(sqs_endpoint)
    bodies = sample_bodies(MESSAGES, seed=7, foreign_index=None)
    seed_ids(queue_url, bodies)
    with OverLimitProxy(sqs_endpoint, LIMIT) as proxy:
        settings = {"TAP_SQS_LOGINS_ENDPOINT_URL": proxy.endpoint}
        if max_in_flight is not None:
            settings["TAP_SQS_LOGINS_MAX_IN_FLIGHT"] = str(max_in_flight)
        log = tmp_path / "job.log"
        runs = run_until_drained(job_env(queue_url, database, **settings), queue_url, log)
    day = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, day)  # each login once, none lost
    assert runs >= runs_at_least
    if max_in_flight is None:
        assert proxy.refused >= 1
        assert "SQS answered OverLimit" in tail(log, 10**7)
    else:
        assert proxy.refused == 0
        assert proxy.peak_in_flight <= max_in_flight
