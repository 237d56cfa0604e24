"""One configuration: however target-postgres's host and database are set, every step follows.

The project is copied (its installed plugins shared) with a target-postgres that points at a
host that does not exist. The right host and a fresh database are then set one way at a time,
the ways Meltano offers: in meltano.yml, with `meltano config set`, in .env, in the shell. The
job must stage, acknowledge and transform in that database, and empty the queue.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psycopg
import pytest
import yaml

from localenv.sample import sample_bodies
from tests.conftest import REPO
from tests.integration.jobs import (
    BIN,
    JOB,
    delivered,
    expected_rows,
    job_env,
    queue_counts,
    seed_ids,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Database

NOWHERE = "postgres-host-unset.invalid"
WAYS = ("meltano.yml", "meltano config set", ".env", "shell")


def copy_project(tmp_path: Path) -> Path:
    """A copy of the Meltano project whose target-postgres points at no server."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("transform", "tap-sqs-logins", "sqs-ack"):
        shutil.copytree(
            REPO / name, project / name, ignore=shutil.ignore_patterns("target", "logs")
        )
    meltano = yaml.safe_load((REPO / "meltano.yml").read_text())
    for setting in next(p for p in meltano["plugins"]["loaders"])["settings"]:
        if setting["name"] in ("host", "database"):
            setting["value"] = NOWHERE if setting["name"] == "host" else "no_such_database"
    (project / "meltano.yml").write_text(yaml.safe_dump(meltano, sort_keys=False))
    (project / ".meltano").mkdir(mode=0o700)
    for kind in ("extractors", "loaders", "utilities"):
        (project / ".meltano" / kind).symlink_to(REPO / ".meltano" / kind)
    return project


def set_target(way: str, project: Path, env: dict[str, str], host: str, database: str) -> None:
    """Point target-postgres at host/database one way; the shell variables are set only last."""
    if way == "meltano.yml":
        meltano = yaml.safe_load((project / "meltano.yml").read_text())
        target = meltano["plugins"]["loaders"][0]
        target["config"] = {**target.get("config", {}), "host": host, "database": database}
        (project / "meltano.yml").write_text(yaml.safe_dump(meltano, sort_keys=False))
    elif way == "meltano config set":
        for name, value in (("host", host), ("database", database)):
            subprocess.run(
                [str(BIN / "meltano"), "config", "set", "target-postgres", name, value],
                cwd=project,
                env=env,
                check=True,
                capture_output=True,
            )
    elif way == ".env":
        (project / ".env").write_text(
            f"TARGET_POSTGRES_HOST={host}\nTARGET_POSTGRES_DATABASE={database}\n"
        )
    else:
        env.update(TARGET_POSTGRES_HOST=host, TARGET_POSTGRES_DATABASE=database)


@pytest.mark.parametrize("way", WAYS)
def test_every_step_follows_the_target_setting(
    way: str, queue_url: str, database: Database, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    env = job_env(queue_url, database)
    for name in ("HOST", "DATABASE"):
        env.pop(f"TARGET_POSTGRES_{name}")
    set_target(way, project, env, database.host, database.name)
    bodies = sample_bodies(40, seed=11)
    seed_ids(queue_url, bodies)

    result = subprocess.run(
        [str(BIN / "meltano"), "run", JOB],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-4000:]
    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, today)
    with psycopg.connect(database.dsn) as conn:
        outcomes = dict(
            conn.execute(
                "select coalesce(_ack_outcome, 'pending'), count(*) from sqs_staging.logins"
                " group by 1"
            ).fetchall()
        )
    assert outcomes == {"deleted": 39, "left": 1}, outcomes  # the sample's foreign message
    assert queue_counts(queue_url) == (0, 1)  # that message waits for the redrive policy
