"""A misconfigured job fails at once, names the setting to fix, and leaves the queue alone.

The loader (sqs-ack's target-postgres) connects to Postgres and reads both queues' attributes
before it loads anything; the tap offers what it received back to the queue when the run
stops early, so every message is visible again at once.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

import psycopg
import pytest

from localenv.postgres import (
    drop_database,
    ensure_user_logins,
    start_private_postgres,
    stop_private_postgres,
)
from localenv.process import free_port
from localenv.sample import sample_bodies
from tests.harness.jobs import job_env, queue_counts, run_job, seed_ids, start_job

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

SCRAM_PASSWORD = "right-password"  # noqa: S105 - a throwaway server's


@pytest.fixture(scope="module")
def scram_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Port of a private server that checks passwords (the shared one may trust 127.0.0.1)."""
    data_dir = tmp_path_factory.mktemp("scram") / "data"
    port = free_port()
    start_private_postgres(port, data_dir, "127.0.0.1", "postgres", SCRAM_PASSWORD)
    yield port
    stop_private_postgres(data_dir)


def assert_fails_naming(
    env: dict[str, str], log: Path, queue_url: str, setting: str, count: int
) -> None:
    assert run_job(env, log) != 0
    lines = [line for line in log.read_text().splitlines() if "check " in line]
    assert any(setting in line for line in lines), log.read_text()[-4000:]
    if env.get("TAP_SQS_LOGINS__POSTGRES_ACKNOWLEDGEMENT") == "after_state":
        # A tap that finished first keeps what it emitted hidden for its next run to confirm.
        assert sum(queue_counts(queue_url)) == count  # nothing deleted
    else:
        assert queue_counts(queue_url) == (count, 0)  # nothing loaded, nothing left hidden


@pytest.mark.parametrize(
    ("case", "setting"),
    [
        ("closed Postgres port", "TARGET_POSTGRES_PORT"),
        ("closed SQS endpoint", "endpoint_url"),
        ("missing queue", "queue_url"),
        ("missing dead-letter queue", "dead_letter_queue_url"),
        ("the tap deleting too", "acknowledgement"),
        ("a quote in the staging schema", "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"),
    ],
)
def test_unusable_service_fails_naming_the_setting(
    case: str, setting: str, queue_url: str, database: Database, tmp_path: Path
) -> None:
    seed_ids(queue_url, sample_bodies(20))
    endpoint = queue_url.rsplit("/", 2)[0]
    override = {
        "closed Postgres port": {"TARGET_POSTGRES_PORT": str(free_port())},
        "closed SQS endpoint": {"TAP_SQS_LOGINS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"},
        "missing queue": {"TAP_SQS_LOGINS_QUEUE_URL": f"{endpoint}/000000000000/no-such-queue"},
        "missing dead-letter queue": {
            "TAP_SQS_LOGINS_DEAD_LETTER_QUEUE_URL": f"{endpoint}/000000000000/no-such-dlq"
        },
        "the tap deleting too": {
            "TAP_SQS_LOGINS__POSTGRES_ACKNOWLEDGEMENT": "after_state",
            "TAP_SQS_LOGINS_JOURNAL_DIR": str(tmp_path / "journal"),
        },
        "a quote in the staging schema": {"TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": 'sqs"staging'},
    }[case]
    env = job_env(queue_url, database, **override)
    assert_fails_naming(env, tmp_path / "meltano.log", queue_url, setting, 20)


def test_wrong_password_fails_naming_the_setting(
    scram_postgres: int, queue_url: str, database: Database, tmp_path: Path
) -> None:
    seed_ids(queue_url, sample_bodies(20))
    env = job_env(
        queue_url,
        database,
        TARGET_POSTGRES_HOST="127.0.0.1",
        TARGET_POSTGRES_PORT=str(scram_postgres),
        TARGET_POSTGRES_DATABASE="postgres",
        TARGET_POSTGRES_PASSWORD="wrong-password",
    )
    assert_fails_naming(env, tmp_path / "meltano.log", queue_url, "TARGET_POSTGRES_PASSWORD", 20)


@pytest.fixture(params=["LATIN1", "SQL_ASCII", "WIN1252"])
def non_utf8_database(
    request: pytest.FixtureRequest, postgres_server: Database
) -> Iterator[Database]:
    """A throwaway database in another server encoding, with public.user_logins."""
    db = replace(postgres_server, name=f"tsl_test_{request.param.lower()}_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(postgres_server.dsn, autocommit=True) as conn:
        conn.execute(
            f"create database {db.name} encoding '{request.param}' template template0"
            " lc_collate 'C' lc_ctype 'C'"
        )
    ensure_user_logins(db.dsn)
    yield db
    drop_database(postgres_server.dsn, db.name)


def test_a_database_that_cannot_store_every_login_is_refused_before_the_load(
    non_utf8_database: Database, queue_url: str, tmp_path: Path
) -> None:
    """LATIN1 cannot store an emoji user_id, SQL_ASCII stores bytes psycopg cannot read back:
    the check refuses the database, naming it and its encoding, and every message returns."""
    login = {"app_version": "2.3.0", "device_type": "ios", "ip": "10.0.0.1", "locale": None}
    bodies = [
        *sample_bodies(15),
        json.dumps({**login, "user_id": "\U0001f600" * 40, "device_id": "1"}),
        json.dumps({**login, "user_id": "José", "device_id": "2"}),
    ]
    seed_ids(queue_url, bodies)
    env = job_env(queue_url, non_utf8_database)
    log = tmp_path / "meltano.log"

    assert_fails_naming(env, log, queue_url, "TARGET_POSTGRES_DATABASE", len(bodies))

    with psycopg.connect(non_utf8_database.dsn) as conn:
        encoding = conn.info.parameter_status("server_encoding")
        assert f"server_encoding {encoding}" in log.read_text()
        assert conn.execute("select to_regclass('sqs_staging.logins')").fetchone() == (None,)


def test_a_session_encoding_that_cannot_carry_every_login_is_refused(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    seed_ids(queue_url, sample_bodies(10))
    env = job_env(queue_url, database, PGCLIENTENCODING="LATIN1")
    assert_fails_naming(env, tmp_path / "meltano.log", queue_url, "PGCLIENTENCODING", 10)


def test_what_a_pending_receive_brings_after_the_refusal_is_offered_back_too(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    """The tap's long polls go on after sqs-ack refused: it reads the tap's output to its end."""
    log = tmp_path / "meltano.log"
    env = job_env(
        queue_url,
        database,
        TARGET_POSTGRES_PORT=str(free_port()),
        TAP_SQS_LOGINS_WAIT_TIME_SECONDS="5",  # long polls pending when the check fails
    )
    job = start_job(env, log)
    bodies = iter(sample_bodies(2000, seed=9))
    sent, refused_at, deadline = 0, None, time.monotonic() + 120
    # Messages arrive all along, and for 4 s after the refusal.
    while job.poll() is None and (refused_at is None or time.monotonic() < refused_at + 4):
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        seed_ids(queue_url, [next(bodies)])
        sent += 1
        if refused_at is None and "cannot connect to Postgres" in log.read_text():
            refused_at = time.monotonic()
        time.sleep(0.1)
    assert job.wait(timeout=120) != 0
    assert queue_counts(queue_url) == (sent, 0), log.read_text()[-4000:]
