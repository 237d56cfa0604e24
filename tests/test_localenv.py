"""The embedded default against real processes: moto, private and system PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from localenv import LocalEnvError
from localenv.__main__ import stop, up
from localenv.postgres import (
    conninfo,
    create_database,
    drop_database,
    ensure_postgres,
    find_bindir,
    start_private_postgres,
    stop_private_postgres,
)
from localenv.process import alive, free_port, port_open, stop_pidfile
from localenv.sample import sample_bodies
from localenv.settings import Settings
from localenv.sqs import ensure_queue, local_queue, seed, sqs_client, start_sqs_server
from localenv.summary import summarize

if TYPE_CHECKING:
    from collections.abc import Iterator

USER_LOGINS_COLUMNS = [
    ("user_id", "character varying", 128),
    ("device_type", "character varying", 32),
    ("masked_ip", "character varying", 256),
    ("masked_device_id", "character varying", 256),
    ("locale", "character varying", 32),
    ("app_version", "integer", None),
    ("create_date", "date", None),
]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state directory (under pytest's root-only temp dir); its services are stopped after."""
    yield tmp_path
    for pidfile in tmp_path.glob("*.pid"):
        stop_pidfile(pidfile.stem, tmp_path)
    for postmaster in tmp_path.glob("*/postmaster.pid"):
        stop_private_postgres(postmaster.parent)


@pytest.fixture(scope="module")
def job() -> Settings:
    """The job's settings, as Meltano resolves them."""
    return Settings.resolve()


@pytest.fixture(scope="module")
def server(job: Settings) -> Iterator[Settings]:
    """Settings for whichever server is present: the job's, else a private one."""
    if port_open(job.host, job.port):
        yield job
        return
    path = Path(tempfile.mkdtemp(prefix="localenv-test-"))
    port = free_port()
    start_private_postgres(port, path / "pgdata", "localhost", job.user, job.password)
    yield replace(job, port=port, database="postgres")
    stop_private_postgres(path / "pgdata")
    shutil.rmtree(path)


@pytest.fixture
def database(server: Settings) -> Iterator[Settings]:
    """Settings naming a throwaway database on `server`, dropped after the test."""
    name = f"localenv_test_{uuid.uuid4().hex[:8]}"
    admin = conninfo(server.host, server.port, server.user, server.password, "postgres")
    create_database(admin, name)
    yield replace(server, database=name)
    drop_database(admin, name)


def dsn(settings: Settings) -> str:
    """Return the connection string of `settings`."""
    return conninfo(
        settings.host, settings.port, settings.user, settings.password, settings.database
    )


def columns(settings: Settings) -> list[tuple[str, str, int | None]]:
    """Return public.user_logins' columns as (name, type, length)."""
    with psycopg.connect(dsn(settings)) as conn:
        return conn.execute(
            "SELECT column_name, data_type, character_maximum_length "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = 'user_logins' ORDER BY ordinal_position"
        ).fetchall()


def test_moto_server_takes_the_reference_queue_url_and_stops(state_dir: Path) -> None:
    port = free_port()
    pid = start_sqs_server(port, name="moto", state_dir=state_dir)
    endpoint = f"http://localhost:{port}"
    client = sqs_client(endpoint)
    queue_url = client.create_queue(QueueName="login-queue")["QueueUrl"]
    assert queue_url == f"{endpoint}/000000000000/login-queue"
    bodies = sample_bodies(25)
    seed(local_queue(queue_url), bodies)
    received: list[str] = []
    while messages := client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        received += [message["Body"] for message in messages]
    assert sorted(received) == sorted(bodies)
    assert stop_pidfile("moto", state_dir)
    assert not alive(pid)
    assert not port_open("localhost", port)
    assert not (state_dir / "moto.pid").exists()


def test_moto_server_long_polls_side_by_side_and_delivers_what_arrives(state_dir: Path) -> None:
    """A long poll holds no lock: another receiver is answered while it waits, as on SQS."""
    port = free_port()
    start_sqs_server(port, name="moto", state_dir=state_dir)
    client = sqs_client(f"http://localhost:{port}")
    waiting_url = client.create_queue(QueueName="empty-queue")["QueueUrl"]
    busy_url = client.create_queue(QueueName="busy-queue")["QueueUrl"]
    answers: list[list[dict[str, str]]] = []

    def long_poll() -> None:
        answer = client.receive_message(QueueUrl=waiting_url, WaitTimeSeconds=10)
        answers.append(answer.get("Messages", []))

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)  # the long poll is waiting on the server
    client.send_message(QueueUrl=busy_url, MessageBody="elsewhere")
    elsewhere = client.receive_message(QueueUrl=busy_url, WaitTimeSeconds=0)["Messages"]
    assert [message["Body"] for message in elsewhere] == ["elsewhere"]
    assert poller.is_alive(), "the other receive waited for the long poll to end"
    client.send_message(QueueUrl=waiting_url, MessageBody="arrived")
    poller.join(timeout=10)
    assert not poller.is_alive()
    assert [[message["Body"] for message in answer] for answer in answers] == [["arrived"]]


def test_ensure_queue_starts_and_seeds_only_once(state_dir: Path) -> None:
    endpoint = f"http://localhost:{free_port()}"
    queue_url = f"{endpoint}/000000000000/login-queue"
    assert ensure_queue(endpoint, queue_url, "us-east-1", state_dir) is True
    assert local_queue(queue_url).depth().total == 100
    assert ensure_queue(endpoint, queue_url, "us-east-1", state_dir) is False
    assert local_queue(queue_url).depth().total == 100
    with pytest.raises(LocalEnvError, match="check tap-sqs-logins queue_url"):
        ensure_queue(endpoint, f"{endpoint}/000000000000/missing-queue", "us-east-1", state_dir)


@pytest.mark.postgres
@pytest.mark.parametrize("wheel", [False, True], ids=["system-binaries", "pgserver-wheel"])
def test_private_postgres_starts_with_password_and_stops(
    state_dir: Path, wheel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cron's PATH: as root, the server runs as postgres through runuser, which is in /usr/sbin
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    bindir = find_bindir(wheel=wheel)
    assert ("pgserver" in bindir.parts) is wheel
    port = free_port()
    pid = start_private_postgres(
        port, state_dir / "pgdata", "localhost", "etl", "s3cret", bindir=bindir
    )
    with psycopg.connect(conninfo("localhost", port, "etl", "s3cret", "postgres")) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    binary = subprocess.run([bindir / "postgres", "--version"], capture_output=True, text=True)
    assert version and version[0].split()[0] in binary.stdout
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(conninfo("localhost", port, "etl", "wrong", "postgres"))
    assert stop_private_postgres(state_dir / "pgdata")
    assert not alive(pid)
    assert not port_open("localhost", port)


@pytest.mark.postgres
def test_ensure_postgres_starts_a_private_server_with_user_logins(
    job: Settings, state_dir: Path
) -> None:
    settings = replace(
        job, host="localhost", port=free_port(), user="etl", password="s3cret", database="logins"
    )
    args = (settings.host, settings.port, settings.user, settings.password, settings.database)
    assert ensure_postgres(*args, state_dir=state_dir) == (True, True)
    assert columns(settings) == USER_LOGINS_COLUMNS
    assert ensure_postgres(*args, state_dir=state_dir) == (False, False)
    assert stop_private_postgres(state_dir / "pgdata")
    assert ensure_postgres(*args, state_dir=state_dir) == (True, False)  # reuses its data


@pytest.mark.postgres
def test_ensure_postgres_leaves_an_existing_user_logins_alone(database: Settings) -> None:
    with psycopg.connect(dsn(database), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.user_logins (user_id text, note text)")
        conn.execute("INSERT INTO public.user_logins VALUES ('u1', 'kept')")
    args = (database.host, database.port, database.user, database.password, database.database)
    assert ensure_postgres(*args) == (False, False)
    assert [name for name, _, _ in columns(database)] == ["user_id", "note"]
    with psycopg.connect(dsn(database)) as conn:
        assert conn.execute("SELECT * FROM public.user_logins").fetchall() == [("u1", "kept")]


@pytest.mark.postgres
def test_ensure_postgres_creates_a_missing_database_on_a_found_server(server: Settings) -> None:
    name = f"localenv_test_{uuid.uuid4().hex[:8]}"
    try:
        assert ensure_postgres(server.host, server.port, server.user, server.password, name) == (
            False,
            True,
        )
        assert columns(replace(server, database=name))
    finally:
        drop_database(dsn(server), name)


@pytest.mark.postgres
def test_up_then_stop_leaves_nothing_running(
    job: Settings, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"http://localhost:{free_port()}"
    settings = replace(
        job,
        endpoint_url=endpoint,
        queue_url=f"{endpoint}/000000000000/login-queue",
        host="localhost",
        port=free_port(),
    )
    up(settings, state_dir)
    up(settings, state_dir)
    sqs_pid = int((state_dir / "sqs.pid").read_text())
    pg_pid = int((state_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    stop(state_dir)
    stop(state_dir)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[:2] for line in lines] == [
        ["sqs:", "started"],
        ["postgres:", "started"],
        ["sqs:", "found"],
        ["postgres:", "found"],
        ["sqs:", "stopped"],
        ["postgres:", "stopped"],
        ["sqs:", "none"],
        ["postgres:", "none"],
    ]
    assert not alive(sqs_pid) and not alive(pg_pid)
    assert not port_open("localhost", settings.port)
    assert not list(state_dir.glob("*.pid")) and not (state_dir / "pgdata/postmaster.pid").exists()


@pytest.mark.postgres
def test_summary_says_what_is_missing_instead_of_failing(database: Settings) -> None:
    closed = f"http://localhost:{free_port()}"
    settings = replace(
        database, endpoint_url=closed, queue_url=f"{closed}/000000000000/login-queue"
    )
    text = summarize(settings)
    assert "sqs_staging.logins does not exist yet" in text
    assert "sqs_logins.login_deliveries does not exist yet" in text
    assert "check tap-sqs-logins endpoint_url and queue_url" in text
    assert f"psql -h {database.host} -p {database.port}" in text


@pytest.mark.postgres
def test_summary_counts_this_run_only(database: Settings, state_dir: Path) -> None:
    port = free_port()
    start_sqs_server(port, state_dir=state_dir)
    endpoint = f"http://localhost:{port}"
    queue_url = sqs_client(endpoint).create_queue(QueueName="login-queue")["QueueUrl"]
    seed(local_queue(queue_url), sample_bodies(3))
    with psycopg.connect(dsn(database), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA sqs_staging; CREATE SCHEMA sqs_logins")
        conn.execute(
            "CREATE TABLE sqs_staging.logins (message_id text, rejection_reason text, "
            "_sdc_batched_at timestamp)"
        )
        conn.execute(
            "INSERT INTO sqs_staging.logins VALUES ('old', 'not a login', '2020-01-01'),"
            "('a', NULL, '2030-01-01'), ('b', 'not a login', '2030-01-01'),"
            "('c', 'bad ip', '2030-01-01'), ('d', 'bad ip', '2030-01-01')"
        )
        conn.execute(
            "CREATE TABLE sqs_logins.login_deliveries (message_id text, delivered_at timestamptz)"
        )
        conn.execute("INSERT INTO sqs_logins.login_deliveries VALUES ('a', '2030-01-01Z')")
    settings = replace(database, endpoint_url=endpoint, queue_url=queue_url)
    ensure_postgres(
        settings.host, settings.port, settings.user, settings.password, settings.database
    )
    text = summarize(settings, datetime(2029, 1, 1, tzinfo=timezone.utc))
    assert "messages read this run:          4" in text
    assert "rows loaded into user_logins:    1" in text
    assert "messages rejected this run:      3\n    bad ip: 2\n    not a login: 1" in text
    assert "public.user_logins is empty" in text
    assert "messages still on the queue:     3" in text
