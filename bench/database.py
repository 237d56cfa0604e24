"""Throwaway PostgreSQL databases for the bench, on the job's server (target-postgres's host/port).

If nothing answers there (by default localhost:5432), a private server is started under .bench/
(localenv.postgres) and stopped at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from localenv.postgres import (
    conninfo,
    create_database,
    drop_database,
    ensure_user_logins,
    start_private_postgres,
    stop_private_postgres,
)
from localenv.process import free_port, port_open
from localenv.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator

CHECKOUT = hashlib.sha256(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server the bench may create databases on."""

    host: str
    port: int
    user: str
    password: str

    def dsn(self, database: str = "postgres") -> str:
        """libpq connection string to `database`."""
        return conninfo(self.host, self.port, self.user, self.password, database)

    def env(self, database: str) -> dict[str, str]:
        """The TARGET_POSTGRES_* variables pointing the job at `database`."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": database,
        }

    def version(self) -> str:
        """The server's version string."""
        with psycopg.connect(self.dsn()) as conn:
            row = conn.execute("show server_version").fetchone()
        return str(row[0]) if row else "?"

    @contextlib.contextmanager
    def database(self, label: str) -> Iterator[str]:
        """A fresh database holding an empty public.user_logins; dropped afterwards.

        Its name is the same on every run from this checkout (`bench_<label>_<checkout>`), as
        a production database's is: dbt keys its partial parsing on the rendered profile, so a
        new name each run would force a full parse (seconds of CPU) that production never pays.
        """
        name = f"bench_{label}_{CHECKOUT}"
        drop_database(self.dsn(), name)  # left over from an interrupted bench
        create_database(self.dsn(), name)
        try:
            ensure_user_logins(self.dsn(name))
            yield name
        finally:
            drop_database(self.dsn(), name)

    def scalar(self, database: str, query: str) -> Any:
        """The first column of the first row of `query`, None if no row or no table."""
        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            try:
                row = conn.execute(query).fetchone()
            except psycopg.errors.UndefinedTable:
                return None
        return row[0] if row else None


@contextlib.contextmanager
def server(state: Path) -> Iterator[Server]:
    """The job's server (target-postgres's settings, as Meltano resolves them), or a private
    one started for the bench with the same user and password."""
    job = Settings.resolve()
    if port_open(job.host, job.port):
        yield Server(job.host, job.port, job.user, job.password)
        return
    data_dir = state / "pgdata"
    port = free_port()
    print(f"bench: no PostgreSQL at {job.host}; starting a private one in {data_dir}", flush=True)
    start_private_postgres(port, data_dir, "127.0.0.1", job.user, job.password)
    try:
        yield Server("127.0.0.1", port, job.user, job.password)
    finally:
        stop_private_postgres(data_dir)
