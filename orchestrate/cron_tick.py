"""After each cron tick of a schedule: record a success, or alert on a failure or a stall.

The generated crontab line (orchestrate/cron.py) runs, from the project directory,

    python -m orchestrate.cron_tick SCHEDULE EXIT_CODE --interval SECONDS

with the exit code of `flock -n -E 75 … meltano schedule run SCHEDULE`:

- 0: the run succeeded; `.meltano/cron/<schedule>.ok` records when;
- 75: the previous run still holds the lock, so this tick started nothing. If no run has
  succeeded for longer than ALERT_STALE_AFTER_SECONDS (default twice `--interval`, the longest
  wait between two ticks; without either, no stall check), the schedule is stalled: alert
  once, until the next success;
- anything else: the run failed: alert with the end of the schedule's log.

Exits with EXIT_CODE, so the line's status is the run's.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from orchestrate import alerts

BUSY = 75  # flock -E: the lock is held, this tick started nothing
LOG_BYTES = 256 * 1024  # the end of the schedule's log searched for a failure's reason
UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(schedule: str) -> str:
    """The file name stem of a schedule's lock, log and markers under .meltano/cron/."""
    return UNSAFE.sub("_", schedule)


def log_tail(log: Path) -> list[str]:
    """The lines at the end of the schedule's log."""
    if not log.is_file():
        return []
    with log.open("rb") as file:
        file.seek(max(0, file.seek(0, 2) - LOG_BYTES))
        return file.read().decode(errors="replace").splitlines()


def check_stall(
    schedule: str, directory: Path, interval: float | None, configured: dict[str, str]
) -> None:
    """Alert once if the schedule's last success (or its first tick) is too old."""
    stale_after = alerts.stale_after_seconds(interval, configured)
    if stale_after is None:
        return
    stem = safe_name(schedule)
    success, alerted = directory / f"{stem}.ok", directory / f"{stem}.stalled"
    since_file = success if success.exists() else directory / f"{stem}.lock"
    since = since_file.stat().st_mtime if since_file.exists() else time.time()
    age = time.time() - since
    if age <= stale_after or (alerted.exists() and alerted.stat().st_mtime >= since):
        return
    alerts.notify(
        f"cron schedule {schedule} is stalled: no successful run for {alerts.duration(age)}"
        f" (threshold {alerts.duration(stale_after)}) and the previous run still holds"
        f" {directory / (stem + '.lock')}. Check its log {directory / (stem + '.log')},"
        " the process (`ps`) and `meltano logs list`.",
        configured,
    )
    alerted.touch()


def after_tick(schedule: str, code: int, interval: float | None, directory: Path) -> int:
    """Record or report the outcome of one tick; return `code`."""
    stem = safe_name(schedule)
    configured = alerts.settings(project_root=Path.cwd())  # the line's `cd` to the project
    if code == 0:
        (directory / f"{stem}.ok").touch()
        (directory / f"{stem}.stalled").unlink(missing_ok=True)
    elif code == BUSY:
        check_stall(schedule, directory, interval, configured)
    else:
        log = directory / f"{stem}.log"
        alerts.notify(
            f"cron run of schedule {schedule} failed (exit {code}); its log: {log}\n"
            f"{alerts.failure_reason(log_tail(log))}",
            configured,
        )
    return code


def main(argv: list[str] | None = None) -> int:
    """Handle the outcome of one cron tick."""
    parser = argparse.ArgumentParser(prog="python -m orchestrate.cron_tick", description=__doc__)
    parser.add_argument("schedule")
    parser.add_argument("exit_code", type=int)
    parser.add_argument("--interval", type=float, help="longest wait between two ticks (s)")
    parser.add_argument("--directory", type=Path, default=Path(".meltano/cron"))
    args = parser.parse_args(argv)
    return after_tick(args.schedule, args.exit_code, args.interval, args.directory.resolve())


if __name__ == "__main__":
    sys.exit(main())
