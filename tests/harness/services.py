"""Real services for the tests: a PostgreSQL server and an SQS-compatible server.

Postgres: the server at TARGET_POSTGRES_HOST:PORT (default localhost:5432) when one answers,
otherwise a private one started for the session. Every test gets its own throwaway database,
so an existing server is never changed. SQS: a moto server on a free port for the session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from localenv.postgres import (
    conninfo,
    create_database,
    drop_database,
    ensure_user_logins,
    start_private_postgres,
    stop_private_postgres,
)
from localenv.process import free_port, port_open, stop_pidfile
from localenv.settings import Settings
from localenv.sqs import sqs_client, start_sqs_server

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass(frozen=True)
class Database:
    """One throwaway database with public.user_logins."""

    host: str
    port: int
    user: str
    password: str
    name: str

    @property
    def dsn(self) -> str:
        return conninfo(self.host, self.port, self.user, self.password, self.name)

    def env(self) -> dict[str, str]:
        """The TARGET_POSTGRES_* variables that point every pipeline step here."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.name,
        }


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A running PostgreSQL server: the job's own (as Meltano resolves target-postgres's
    settings) when it answers, else a private one with the same user and password."""
    job = Settings.resolve()
    server = Database(job.host, job.port, job.user, job.password, job.database)
    if port_open(server.host, server.port):
        yield server
        return
    data_dir = tmp_path_factory.mktemp("pg") / "data"
    port = free_port()
    start_private_postgres(port, data_dir, "127.0.0.1", server.user, server.password)
    yield Database("127.0.0.1", port, server.user, server.password, "postgres")
    stop_private_postgres(data_dir)


@pytest.fixture
def database(postgres_server: Database) -> Iterator[Database]:
    """A fresh database holding an empty public.user_logins, dropped afterwards."""
    host, port = postgres_server.host, postgres_server.port
    user, password = postgres_server.user, postgres_server.password
    db = Database(host, port, user, password, f"tsl_test_{uuid.uuid4().hex[:12]}")
    admin = postgres_server.dsn
    create_database(admin, db.name)
    ensure_user_logins(db.dsn)
    yield db
    drop_database(admin, db.name)


@pytest.fixture(scope="session")
def sqs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a moto server (real HTTP, localenv.fastmoto) for this session."""
    state_dir = tmp_path_factory.mktemp("sqs")
    port = free_port()
    start_sqs_server(port, name="sqs-test", state_dir=state_dir, host="127.0.0.1")
    yield f"http://127.0.0.1:{port}"
    stop_pidfile("sqs-test", state_dir)


@pytest.fixture
def queue_url(sqs_endpoint: str) -> str:
    """A new, empty queue."""
    client = sqs_client(sqs_endpoint)
    name = f"login-queue-{uuid.uuid4().hex[:8]}"
    return str(client.create_queue(QueueName=name)["QueueUrl"])
