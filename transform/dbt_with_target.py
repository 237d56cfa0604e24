"""Run dbt against the database target-postgres writes to, as Meltano resolves its settings.

Meltano hands a utility only its own settings, so this asks Meltano for target-postgres's
(``meltano config print``, for the active environment: meltano.yml, ``meltano config set``,
.env and the environment alike) and gives them to profiles.yml as TARGET_POSTGRES_*.
Usage (as the dbt-postgres commands in meltano.yml): ``python dbt_with_target.py run ...``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

SETTINGS = ("host", "port", "user", "password", "database", "default_target_schema")


def ask_meltano() -> subprocess.Popen[str]:
    """Start ``meltano config print target-postgres`` for the active environment."""
    meltano = shutil.which("meltano")
    if meltano is None:
        sys.exit("dbt_with_target.py: `meltano` is not on PATH; run dbt through Meltano.")
    environment = os.environ.get("MELTANO_ENVIRONMENT")
    command = [meltano, *(["--environment", environment] if environment else [])]
    return subprocess.Popen(  # noqa: S603 - Meltano itself
        [*command, "config", "--unsafe", "print", "target-postgres"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.environ.get("MELTANO_PROJECT_ROOT"),
    )


def log_plainly() -> None:
    """Have dbt log its messages without colour codes, for Meltano to log line by line.

    Meltano (4.4.1) logs each line a utility prints in ``meltano run`` at INFO, in its own
    ``--log-format``; dbt's JSON lines would only nest inside Meltano's. DBT_USE_COLORS set in
    the environment wins.
    """
    os.environ.setdefault("DBT_USE_COLORS", "false")


def main() -> None:
    """Export target-postgres's connection settings, then run dbt with the arguments given."""
    meltano = ask_meltano()
    from dbt.cli.main import dbtRunner

    output, errors = meltano.communicate()
    if meltano.returncode != 0:
        sys.exit(f"dbt_with_target.py: meltano config print target-postgres failed:\n{errors}")
    config = json.loads(output)
    for name in SETTINGS:
        if config.get(name) not in (None, ""):
            os.environ[f"TARGET_POSTGRES_{name.upper()}"] = str(config[name])
    log_plainly()
    result = dbtRunner().invoke(sys.argv[1:])
    sys.exit(0 if result.success else 1)


if __name__ == "__main__":
    main()
