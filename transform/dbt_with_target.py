"""dbt against the database target-postgres writes to, as Meltano resolves its settings.

The executable of the dbt-postgres utility (``dbt-with-target``, meltano.yml): every dbt
command Meltano starts (``meltano invoke dbt-postgres debug``, ``dbt-postgres:run`` in a
job, ...) comes here. Meltano hands a utility only its own settings, so this asks the
Meltano that started it for target-postgres's (``meltano config print``, for the active
environment: meltano.yml, ``meltano config set``, .env and the environment alike) and gives
them to profiles.yml as TARGET_POSTGRES_*. That Meltano is the parent process: found from its
command line, not from PATH, which cron, systemd or a container may not set.

The job's step (``dbt-postgres:transform``) starts it with ``--if-pending`` first: when the
job's loader (sqs-ack, in the same ``meltano run``) has noted that no staged row awaits dbt
once its load committed (sqs-ack/sqs_ack/dbt_handoff.py), it starts neither that Meltano nor
dbt. Without such a note (``meltano run dbt-postgres:transform`` on its own), dbt runs.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import NoReturn

PROG = "dbt-with-target"
IF_PENDING = "--if-pending"
SETTINGS = ("host", "port", "user", "password", "database", "default_target_schema")
LOADER = "target-postgres"  # the loader whose settings dbt runs with
# sqs-ack's notes, in Meltano's system directory (.meltano): sqs-ack/sqs_ack/dbt_handoff.py.
NOTES = Path("run", "dbt-pending")


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


def loaders_note(args: list[str]) -> dict[str, str] | None:
    """Take the loader's note for this Meltano run that no staged row awaits dbt.

    None if there is none, or it is not target-postgres's about the table dbt reads.
    """
    root, meltano = os.environ.get("MELTANO_SYS_DIR_ROOT"), process_id(os.getppid())
    if not root or not meltano:
        return None
    note = Path(root, NOTES, f"{meltano}.json")
    try:
        contents = json.loads(note.read_text())
        note.unlink()
    except (OSError, ValueError):
        return None
    if not isinstance(contents, dict) or contents.get("loader") != LOADER:
        return None
    return contents if contents.get("table") == staging_table(args) else None


def process_id(pid: int) -> str | None:
    """``<pid>-<start time>``, as sqs-ack names the Meltano process its note is for."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return f"{pid}-{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, after the command


def run_dbt(target: dict[str, object], args: list[str]) -> NoReturn:
    """Run dbt with `args` in target-postgres's database, and exit with dbt's status."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_environment(target))
    log_plainly()
    result = dbtRunner().invoke(args)
    sys.exit(0 if result.success else 2 if result.exception else 1)


def main() -> None:
    """Export target-postgres's connection settings, then run dbt with the arguments given.

    After ``--if-pending``, not if the job's loader noted that no staged row awaits dbt.
    """
    if_pending = sys.argv[1:2] == [IF_PENDING]
    args = sys.argv[1 + if_pending :]
    if if_pending and (note := loaders_note(args)):
        print(
            f"{PROG}: no staged row awaits dbt, so `dbt {' '.join(args)}` did not start"
            f" ({LOADER} found none in {note.get('schema')}.{note['table']} once its load"
            " committed; `meltano invoke dbt-postgres:build` runs the models and tests anyway).",
            file=sys.stderr,
            flush=True,
        )
        return
    meltano = ask_meltano()
    importing = threading.Thread(target=importlib.import_module, args=("dbt.cli.main",))
    importing.daemon = True
    importing.start()  # dbt is imported while Meltano answers
    target = target_settings(meltano)
    importing.join()
    run_dbt(target, args)


if __name__ == "__main__":
    main()
