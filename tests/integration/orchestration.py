"""Fixtures and helpers shared by the orchestrator, cron and worker tests."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from localenv.postgres import conninfo, create_database, drop_database

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Database


def database_uri(database: Database, name: str) -> str:
    """A SQLAlchemy URL (psycopg 3 driver) for database `name` on the server of `database`."""
    return (
        f"postgresql+psycopg://{database.user}:{database.password}"
        f"@{database.host}:{database.port}/{name}"
    )


@pytest.fixture
def system_database(database: Database) -> Iterator[str]:
    """MELTANO_DATABASE_URI of a throwaway Meltano system database on the test's server."""
    name = f"tsl_meltano_{uuid.uuid4().hex[:12]}"
    admin = conninfo(database.host, database.port, database.user, database.password, "postgres")
    create_database(admin, name)
    yield database_uri(database, name)
    drop_database(admin, name)
