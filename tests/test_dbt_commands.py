"""Every dbt command through Meltano runs in the database target-postgres is configured for.

As in test_configuration.py, a copy of the project points target-postgres at a host that does
not exist, and the right host and a fresh database are set one way at a time (meltano.yml,
`meltano config set`, .env, the shell); `dbt debug` through Meltano finds that database each
way. After one run of the job, each dbt command is started the way the README shows,
`meltano invoke dbt-postgres …` (and the named commands the job uses), by the absolute path of
Meltano from a scrubbed environment: each succeeds, so each reached that database, and
`docs generate` catalogues it. Outside Meltano, the wrapper says what to do.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import JOB, KEY, seed_ids
from tests.harness.project import (
    REPO,
    RUN_TIMEOUT,
    WAYS,
    copy_project,
    meltano,
    scrubbed,
    set_target,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

COMMANDS = (
    "debug",
    "compile",
    "source freshness",
    "docs generate",
    "run",
    "test",
    "build",
    ":run",
    ":build",
    ":test",
)  # and ":transform", the job's step, in every run of the job


def configured_project(
    way: str, queue_url: str, database: Database, tmp_path: Path
) -> tuple[Path, dict[str, str]]:
    """A project copy whose target-postgres is set `way`, and its env."""
    project = copy_project(tmp_path)
    env = scrubbed(
        TAP_SQS_LOGINS_QUEUE_URL=queue_url,
        TAP_SQS_LOGINS_ENDPOINT_URL=queue_url.rsplit("/", 2)[0],
        TAP_SQS_LOGINS_MASK_KEY=KEY,
        TAP_SQS_LOGINS_WAIT_TIME_SECONDS="0",
        TARGET_POSTGRES_PORT=str(database.port),
        TARGET_POSTGRES_USER=database.user,
        TARGET_POSTGRES_PASSWORD=database.password,
    )
    set_target(way, project, env, database.host, database.name)
    return project, env


@pytest.mark.parametrize("way", WAYS)
def test_dbt_debug_finds_the_configured_database(
    way: str, queue_url: str, database: Database, tmp_path: Path
) -> None:
    # That the job's steps follow the setting too: tests/test_configuration.py.
    project, env = configured_project(way, queue_url, database, tmp_path)

    output = meltano(env, "invoke", "dbt-postgres", "debug", project=project, timeout=RUN_TIMEOUT)

    assert f"database: {database.name}" in output
    assert "All checks passed" in output


@pytest.mark.slow  # minutes: every dbt command through Meltano
def test_every_dbt_command_runs_in_the_configured_database(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    project, env = configured_project(".env", queue_url, database, tmp_path)
    seed_ids(queue_url, sample_bodies(10, seed=31, foreign_index=None))
    meltano(env, "run", JOB, project=project, timeout=RUN_TIMEOUT)  # the staging tables dbt reads

    for command in COMMANDS:
        name = f"dbt-postgres{command}" if command.startswith(":") else "dbt-postgres"
        args = [] if command.startswith(":") else command.split()
        meltano(env, "invoke", name, *args, project=project, timeout=RUN_TIMEOUT)

    catalog = json.loads((project / "transform" / "target" / "catalog.json").read_text())
    databases = {node["metadata"]["database"] for node in catalog["nodes"].values()}
    assert databases == {database.name}


def test_outside_meltano_the_wrapper_says_what_to_do(tmp_path: Path) -> None:
    wrapper = REPO / ".meltano" / "utilities" / "dbt-postgres" / "venv" / "bin" / "dbt-with-target"
    result = subprocess.run(
        [str(wrapper), "debug"],
        cwd=tmp_path,
        env={"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "its parent process is not Meltano" in result.stderr
    assert "meltano invoke dbt-postgres" in result.stderr
