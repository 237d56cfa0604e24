"""The checkout and copies of it, a user's scrubbed shell, and Meltano run in them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the project's virtualenv: meltano, the tools
# The variables the README tells users to set for the job, Dagster and the alerts: a scrubbed
# environment (`env -i`) passes only these, with cron's PATH.
DOCUMENTED = re.compile(
    r"(TAP_SQS_LOGINS|TARGET_POSTGRES|DAGSTER|ALERT)_[A-Z_]+|MELTANO_(DATABASE_URI|ENVIRONMENT)"
)
NOWHERE = "postgres-host-unset.invalid"
WAYS = ("meltano.yml", "meltano config set", ".env", "shell")
RUN_TIMEOUT = 600  # seconds for `meltano run` of the job, or a dbt command through Meltano
# Meltano's system directory of the tests' runs in the checkout, one per pytest-xdist worker,
# as bin/worker gives one to each worker: its own system database (runs, state, the "already
# running" guard), run directory (the tap's catalog) and logs, and dbt's own target and logs.
# So two test workers' jobs never clash, and no test run lands in the checkout's own history.
TEST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
SYSTEM_DIR = REPO / ".meltano" / "workers" / f"pytest-{TEST_WORKER}"
# The tests that run Meltano in the checkout as it is (the cron lines' lock and log under
# .meltano/cron, Dagster's daemon and launches): one xdist worker runs them all, in turn.
IN_THE_CHECKOUT_ITSELF = pytest.mark.xdist_group("checkout")


def scrubbed(**variables: str) -> dict[str, str]:
    """`env -i HOME=$HOME PATH=/usr/bin:/bin LANG=C.UTF-8` plus `variables`."""
    home = os.environ.get("HOME", "/root")
    return {"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **variables}


def documented_shell(env: dict[str, str]) -> dict[str, str]:
    """A scrubbed shell with only the variables of `env` the README documents (DOCUMENTED)."""
    return scrubbed(**{name: value for name, value in env.items() if DOCUMENTED.fullmatch(name)})


def package_index() -> dict[str, str]:
    """This machine's certificates and package index settings, for uv and pip to reach PyPI."""
    return {
        name: value
        for name, value in os.environ.items()
        if name.startswith(("SSL_CERT_", "PIP_", "UV_")) or name == "REQUESTS_CA_BUNDLE"
    }


def in_checkout(env: dict[str, str]) -> dict[str, str]:
    """`env` for Meltano in the checkout, with the test worker's SYSTEM_DIR (bin/worker's way)."""
    for kind in ("extractors", "loaders", "utilities"):
        link = SYSTEM_DIR / kind
        if not link.is_symlink():
            link.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            link.symlink_to(REPO / ".meltano" / kind)
    return {
        "MELTANO_SYS_DIR_ROOT": str(SYSTEM_DIR),
        "DBT_TARGET_PATH": str(SYSTEM_DIR / "dbt-target"),
        "DBT_LOG_PATH": str(SYSTEM_DIR / "dbt-logs"),
        **env,
    }


def run_meltano(
    env: dict[str, str], *args: str, project: Path = REPO, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`<abs>/meltano <args>` in `project` from the environment `env`, as users start it."""
    return subprocess.run(
        [str(BIN / "meltano"), *args],
        cwd=project,
        env=in_checkout(env) if project == REPO else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def meltano(env: dict[str, str], *args: str, project: Path = REPO, timeout: float = 300) -> str:
    """Output of run_meltano (stdout, then stderr); fails the test on a non-zero exit."""
    result = run_meltano(env, *args, project=project, timeout=timeout)
    assert result.returncode == 0, (
        f"meltano {' '.join(args)}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.stdout + result.stderr


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
        definition = yaml.safe_load((project / "meltano.yml").read_text())
        target = definition["plugins"]["loaders"][0]
        target["config"] = {**target.get("config", {}), "host": host, "database": database}
        (project / "meltano.yml").write_text(yaml.safe_dump(definition, sort_keys=False))
    elif way == "meltano config set":
        for name, value in (("host", host), ("database", database)):
            meltano(env, "config", "set", "target-postgres", name, value, project=project)
    elif way == ".env":
        (project / ".env").write_text(
            f"TARGET_POSTGRES_HOST={host}\nTARGET_POSTGRES_DATABASE={database}\n"
        )
    else:
        env.update(TARGET_POSTGRES_HOST=host, TARGET_POSTGRES_DATABASE=database)
