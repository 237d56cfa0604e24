"""The project's schedules as `meltano schedule list --format=json` reports them.

Standard library only: the Dagster definitions (in the orchestrator's own virtualenv) and the
cron tool (in the project's) both import it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("MELTANO_PROJECT_ROOT", Path(__file__).resolve().parent.parent))


@dataclass(frozen=True)
class Schedule:
    """One Meltano schedule: run `meltano schedule run <name>` on `cron`."""

    name: str
    cron: str | None  # None for `@once`: run it by hand (`meltano schedule run`), never on a clock
    job: str | None  # None for a legacy `elt` schedule


def meltano_bin() -> str:
    """The `meltano` executable: $MELTANO_BIN, else the project's .venv, else the PATH."""
    if configured := os.environ.get("MELTANO_BIN"):
        return configured
    local = PROJECT_ROOT / ".venv" / "bin" / "meltano"
    if local.exists():
        return str(local)
    return shutil.which("meltano") or "meltano"


def parse(listing: str) -> list[Schedule]:
    """Schedules from the JSON of `meltano schedule list --format=json`."""
    data = json.loads(listing)["schedules"]
    schedules = []
    for entry in data.get("job", []) + data.get("elt", []):
        job = entry["job"]["name"] if isinstance(entry.get("job"), dict) else None
        schedules.append(Schedule(entry["name"], entry.get("cron_interval") or None, job))
    return sorted(schedules, key=lambda schedule: schedule.name)


def load(project_root: Path = PROJECT_ROOT) -> list[Schedule]:
    """Ask Meltano for the schedules of the project at `project_root`."""
    command = [meltano_bin(), "schedule", "list", "--format=json"]
    result = subprocess.run(  # noqa: S603
        command, cwd=project_root, check=False, capture_output=True, text=True
    )
    if result.returncode:
        msg = f"{' '.join(command)} failed in {project_root}:\n{result.stderr[-2000:]}"
        raise RuntimeError(msg)
    return parse(result.stdout)
