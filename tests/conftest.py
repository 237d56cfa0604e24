"""The harness's fixtures (tests/harness), and the `postgres` marker from the ones a test uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.harness.dbt import db
from tests.harness.orchestration import alert_receiver, system_database, worker_ids
from tests.harness.services import database, postgres_server, queue_url, sqs_endpoint

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "alert_receiver",
    "database",
    "db",
    "postgres_server",
    "queue_url",
    "sqs_endpoint",
    "system_database",
    "worker_ids",
]


def pytest_collection_modifyitems(items: Sequence[pytest.Item]) -> None:
    """Mark `postgres` every test that uses the PostgreSQL server (directly or not)."""
    for item in items:
        if "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
