"""dbt against the database target-postgres writes to, as Meltano resolves its settings.

The executable of the dbt-postgres utility (``dbt-with-target``, meltano.yml): every dbt
command Meltano starts (``meltano invoke dbt-postgres debug``, ``dbt-postgres:run`` in a
job, ...) comes here. Meltano hands a utility only its own settings, so this asks the
Meltano that started it for target-postgres's (``meltano config print``, for the active
environment: meltano.yml, ``meltano config set``, .env and the environment alike) and gives
them to profiles.yml as TARGET_POSTGRES_*. That Meltano is the parent process: found from its
command line, not from PATH, which cron, systemd or a container may not set.

The job's step (``dbt-postgres:transform``) starts it with ``--if-pending`` first: dbt only
when a staged row awaits it, so a run that staged nothing does not pay dbt's start-up.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path
from typing import NoReturn

PROG = "dbt-with-target"
IF_PENDING = "--if-pending"
SETTINGS = ("host", "port", "user", "password", "database", "default_target_schema")
# Whether a row of the staging table awaits dbt: never transformed (macros/bookkeeping.sql),
# or no bookkeeping yet. A DDL lock on it answers "cannot tell" (dbt runs) after LOCK_TIMEOUT.
LOCK_TIMEOUT = "10s"
BOOKKEPT = """
select exists (select from pg_attribute where attrelid = to_regclass(%s)
               and attname = '_transformed_at' and not attisdropped)"""
PENDING = "select exists (select from {} where _transformed_at is null)"


def meltano_command() -> list[str]:
    """The command that starts the Meltano running this process, else ``meltano`` on PATH.

    Raises:
        SystemExit: if neither is found.
    """
    parent = Path(f"/proc/{os.getppid()}")
    try:
        argv = (parent / "cmdline").read_bytes().decode().split("\0")[:-1]
        cwd = os.readlink(parent / "cwd")
    except (OSError, UnicodeDecodeError):
        argv, cwd = [], "/"
    command = meltano_in(argv, cwd)
    if command is None and (on_path := shutil.which("meltano")):
        command = [on_path]
    if command is None:
        sys.exit(
            f"{PROG}: cannot find Meltano: its parent process is not Meltano and `meltano` is"
            " not on PATH. Run dbt through Meltano (`meltano invoke dbt-postgres …`, or"
            " `meltano run … dbt-postgres:run`)."
        )
    return command


def meltano_in(argv: list[str], cwd: str) -> list[str] | None:
    """The command that starts Meltano again, if `argv` (run in `cwd`) is Meltano's.

    Meltano runs as its console script: the kernel passes the script to the interpreter of its
    ``#!`` line (``[.../bin/python, .../bin/meltano, ...]``, the script's path as typed, or
    the ``.meltano/run/bin`` link to it by which ``meltano schedule run`` starts ``meltano
    run``). The interpreter is kept as given, not resolved: a virtualenv's python is a symlink.
    """
    if len(argv) < 2:
        return None
    interpreter, script = (os.path.join(cwd, arg) for arg in argv[:2])
    if os.path.basename(os.path.realpath(script)) != "meltano":
        return None
    return [interpreter, script]


def ask_meltano() -> subprocess.Popen[str]:
    """Start ``meltano config print target-postgres`` for the active environment."""
    environment = os.environ.get("MELTANO_ENVIRONMENT")
    command = [*meltano_command(), *(["--environment", environment] if environment else [])]
    return subprocess.Popen(  # noqa: S603 - Meltano itself
        [*command, "config", "--unsafe", "print", "target-postgres"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.environ.get("MELTANO_PROJECT_ROOT"),
    )


def dbt_environment(target: dict[str, object]) -> dict[str, str]:
    """The variables dbt runs with: target-postgres's settings for profiles.yml."""
    return {
        f"TARGET_POSTGRES_{name.upper()}": str(target[name])
        for name in SETTINGS
        if target.get(name) not in (None, "")
    }


def log_plainly() -> None:
    """Have dbt log its messages without colour codes, for Meltano to log line by line.

    Meltano (4.4.1) logs each line a utility prints in ``meltano run`` at INFO, in its own
    ``--log-format``; dbt's JSON lines would only nest inside Meltano's. DBT_USE_COLORS set in
    the environment wins.
    """
    os.environ.setdefault("DBT_USE_COLORS", "false")


def target_settings(meltano: subprocess.Popen[str]) -> dict[str, object]:
    """target-postgres's settings, as the Meltano asked answers."""
    output, errors = meltano.communicate()
    if meltano.returncode != 0:
        sys.exit(f"{PROG}: meltano config print target-postgres failed:\n{errors}")
    settings: dict[str, object] = json.loads(output)
    return settings


def staging_table(args: list[str]) -> str | None:
    """The staging table dbt reads: ``sqs_staging_table`` of dbt_project.yml's vars.

    None when `args` may point dbt elsewhere (``--vars``, ``--project-dir``) or it is not plain.
    """
    import yaml  # dbt's dependency

    if any(arg.startswith(("--vars", "--project-dir")) for arg in args):
        return None
    project = Path(os.environ.get("DBT_PROJECT_DIR", ".")) / "dbt_project.yml"
    try:
        name = (yaml.safe_load(project.read_text()).get("vars") or {}).get("sqs_staging_table")
    except (OSError, AttributeError, yaml.YAMLError):
        return None
    return name if isinstance(name, str) and "{" not in name else None


def awaits_dbt(target: dict[str, object], args: list[str]) -> bool:
    """Whether a staged row awaits dbt; True when that cannot be told, so dbt runs and says why.

    Rows dbt refused or has not reached keep ``_transformed_at`` NULL, so they are retried
    every run; a staging table without that column has not met dbt yet.
    """
    import psycopg2  # dbt-postgres's driver
    from psycopg2 import sql

    schema, name = target.get("default_target_schema"), staging_table(args)
    if not schema or not name:
        return True
    table = sql.Identifier(str(schema), name)
    connection_settings = {
        "host": target.get("host"),
        "port": target.get("port"),
        "user": target.get("user"),
        "password": target.get("password") or None,
        "dbname": target.get("database"),
    }
    try:
        with (
            closing(
                psycopg2.connect(
                    **connection_settings,
                    connect_timeout=10,
                    options=f"-c lock_timeout={LOCK_TIMEOUT}",
                )
            ) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(BOOKKEPT, (table.as_string(connection),))
            if not cursor.fetchone()[0]:
                return True
            cursor.execute(sql.SQL(PENDING).format(table))
            return bool(cursor.fetchone()[0])
    except psycopg2.Error:
        return True


def run_dbt(target: dict[str, object], args: list[str]) -> NoReturn:
    """Run dbt with `args` in target-postgres's database, and exit with dbt's status."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_environment(target))
    log_plainly()
    result = dbtRunner().invoke(args)
    sys.exit(0 if result.success else 2 if result.exception else 1)


def main() -> None:
    """Export target-postgres's connection settings, then run dbt with the arguments given.

    After ``--if-pending``, only if a staged row awaits dbt; otherwise say so, start no dbt.
    """
    if_pending = sys.argv[1:2] == [IF_PENDING]
    args = sys.argv[1 + if_pending :]
    meltano = ask_meltano()
    importing = threading.Thread(target=importlib.import_module, args=("dbt.cli.main",))
    importing.daemon = True
    importing.start()  # dbt is imported while Meltano answers
    target = target_settings(meltano)
    if if_pending and not awaits_dbt(target, args):
        print(
            f"{PROG}: no staged row awaits dbt, so `dbt {' '.join(args)}` did not start"
            " (`meltano invoke dbt-postgres:build` runs the models and tests anyway).",
            file=sys.stderr,
            flush=True,
        )
        os._exit(0)  # not waiting for dbt's import to finish
    importing.join()
    run_dbt(target, args)


if __name__ == "__main__":
    main()
