"""Two `meltano run` jobs on one queue at the same time still deliver each message once.

Meltano refuses a second run of a job whose state id is already running (the first one's
heartbeat is less than 5 minutes old) unless it is given `--force`. Even then, two runs in one
project directory clash: both write the tap's catalog to `.meltano/run/tap-sqs-logins/
tap.properties.json` (one reads the other's half-written file) and dbt's `transform/target`.
So each worker gets its own state id (`--state-id-suffix`), its own Meltano system directory
(`MELTANO_SYS_DIR_ROOT`, sharing the installed plugins) and its own dbt target and log paths,
as separate containers of the same project would.

The first run on a new database is not concurrent-safe: two runs that both find the staging
table or a dbt model missing both create it, and the second fails ("relation ... already
exists"). That failure loses and doubles nothing, and the next run succeeds; this test starts
its two workers after one run has created the tables.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psutil
import pytest

from localenv.process import free_port, spawn, stop_pidfile, wait_for_port
from localenv.sample import sample_bodies
from localenv.sqs import ACCOUNT_ID
from tests.conftest import REPO
from tests.integration.jobs import (
    expected_rows,
    fetch,
    find_child,
    job_env,
    new_queues,
    poison_bodies,
    queue_counts,
    run_job,
    seed_ids,
    start_job,
    tail,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Database


# moto 5's Queue.delete_message rebuilds the message list without a lock: of concurrent
# deletes on one queue, some are answered as done but lost (the message comes back later).
# Real SQS has no such race; this server is localenv.fastmoto with deletes serialised.
LOCKED_MOTO = """
import sys, threading
from moto.server import main
from moto.sqs import models
from localenv import fastmoto
fastmoto.apply()
lock, delete = threading.Lock(), models.Queue.delete_message
def locked_delete(self, receipt_handle):
    with lock:
        delete(self, receipt_handle)
models.Queue.delete_message = locked_delete
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def locked_sqs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a fast moto server whose deletes are thread-safe."""
    state_dir = tmp_path_factory.mktemp("locked-sqs")
    port = free_port()
    env = dict(os.environ, MOTO_ACCOUNT_ID=ACCOUNT_ID, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-c", LOCKED_MOTO, "-H", "127.0.0.1", "-p", str(port)]
    pid = spawn(argv, "locked-sqs", state_dir, env)
    wait_for_port("127.0.0.1", port, pid, state_dir / "locked-sqs.log")
    yield f"http://127.0.0.1:{port}"
    stop_pidfile("locked-sqs", state_dir)


def worker_env(env: dict[str, str], home: Path) -> dict[str, str]:
    """`env` with a Meltano system directory and dbt paths of the worker's own under `home`."""
    for kind in ("extractors", "loaders", "utilities"):
        (home / ".meltano").mkdir(parents=True, exist_ok=True)
        (home / ".meltano" / kind).symlink_to(REPO / ".meltano" / kind)
    return {
        **env,
        "MELTANO_SYS_DIR_ROOT": str(home / ".meltano"),
        "DBT_TARGET_PATH": str(home / "dbt-target"),
        "DBT_LOG_PATH": str(home / "dbt-logs"),
    }


def test_two_jobs_at_once_deliver_each_message_once(
    locked_sqs_endpoint: str, database: Database, tmp_path: Path
) -> None:
    queue_url, dlq_url = new_queues(locked_sqs_endpoint)
    env = job_env(queue_url, database, TAP_SQS_LOGINS_DEAD_LETTER_QUEUE_URL=dlq_url)
    first = sample_bodies(20, seed=4, foreign_index=None)
    seed_ids(queue_url, first)
    assert run_job(env, tmp_path / "first.log") == 0, tail(tmp_path / "first.log")
    valid = sample_bodies(1000, seed=5, foreign_index=None)
    poison = poison_bodies(5)
    sent = seed_ids(queue_url, valid + poison)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]

    jobs = [
        start_job(worker_env(env, tmp_path / log.stem), log, f"--state-id-suffix={log.stem}")
        for log in logs
    ]
    assert [job.wait(timeout=600) for job in jobs] == [0, 0], tail(logs[0]) + tail(logs[1])

    assert queue_counts(queue_url) == (0, 0)
    today = datetime.now(timezone.utc).date().isoformat()
    delivered = fetch(
        database,
        "select user_id, device_type, masked_ip, masked_device_id,"
        " locale, app_version, create_date::text from public.user_logins",
    )
    assert Counter(delivered) == expected_rows(first + valid, today)
    quarantined = fetch(database, "select message_id from sqs_logins.quarantined_messages")
    poison_ids = {message_id for message_id, body in sent.items() if body in poison}
    assert Counter(row[0] for row in quarantined) == Counter(poison_ids)
    read = [
        int(line.split("Stopped after ")[1].split()[0])
        for log in logs
        for line in log.read_text().splitlines()
        if "Stopped after " in line
    ]
    print(f"both jobs read messages: {read or 'until the queue was empty'}")


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
        while find_child(psutil.Process(first.pid), "target-postgres") is None:
            assert first.poll() is None, tail(tmp_path / "first.log")
            assert time.monotonic() < deadline, "the first run did not start loading"
            time.sleep(0.05)
        assert run_job(env, tmp_path / "second.log", suffix) != 0
        assert "pipeline is already running" in (tmp_path / "second.log").read_text()
    finally:
        assert first.wait(timeout=600) == 0, tail(tmp_path / "first.log")
