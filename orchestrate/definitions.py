"""Dagster definitions generated from the Meltano project's schedules at load time.

Every schedule of `meltano schedule list --format=json` becomes a Dagster job of one op that
runs `meltano schedule run <name>` in the project, and a Dagster schedule on the same cron
(UTC), running from the start. Adding a schedule with `meltano schedule add` is enough: the
daemon reloads the definitions. A tick while the previous run of the schedule is still queued
or running is skipped, like cron's `flock -n`: runs of one schedule never overlap.

Runs Meltano from the project's .venv (or $MELTANO_BIN); MELTANO_* variables such as
MELTANO_DATABASE_URI and MELTANO_RUN_STATE_ID_SUFFIX pass through to it.
"""

import json
import logging
import re
import subprocess

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SkipReason,
    job,
    op,
    schedule,
)

from orchestrate.schedules import PROJECT_ROOT, Schedule, load, meltano_bin

ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def dagster_name(name: str) -> str:
    """A Dagster name (letters, digits, _) for a Meltano schedule name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def run_meltano(context: OpExecutionContext, args: list[str]) -> None:
    """Run `meltano --log-format=json <args>` in the project, its output going to the Dagster log.

    Each line, one JSON object, goes on unchanged at its own level (`forward`).
    """
    command = [meltano_bin(), "--log-format=json", *args]
    context.log.info(f"running {' '.join(command)} in {PROJECT_ROOT}")
    with subprocess.Popen(  # noqa: S603
        command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None  # noqa: S101
        for line in process.stdout:
            forward(context.log, line.rstrip())
        code = process.wait()
    if code:
        raise Failure(f"meltano {' '.join(args)} failed with exit code {code}")


# The levels Meltano's JSON log lines name (structlog's), as Python logging levels.
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def forward(log: logging.Logger, line: str) -> None:
    """Log one line of Meltano's JSON output unchanged, at the level it names."""
    if line.strip():
        log.log(meltano_level(line), line)


def meltano_level(line: str) -> int:
    """The level a line of Meltano's JSON output names; INFO for a line that names none.

    `meltano schedule run` starts `meltano run`, which prints its version line in the console
    format before it reads the log format Meltano passed it (`MELTANO_CLI_LOG_FORMAT`).
    """
    try:
        level = json.loads(line).get("level")
    except (ValueError, AttributeError, RecursionError):
        return logging.INFO
    return LEVELS.get(level.lower(), logging.INFO) if isinstance(level, str) else logging.INFO


def scheduled(meltano_schedule: Schedule) -> tuple[object, object]:
    """The Dagster job and schedule of one Meltano schedule."""
    name = dagster_name(meltano_schedule.name)
    assert meltano_schedule.cron is not None  # noqa: S101  (definitions() leaves out @once)

    @op(name=f"{name}_run", description=f"meltano schedule run {meltano_schedule.name}")
    def run_schedule(context: OpExecutionContext) -> None:
        run_meltano(context, ["schedule", "run", meltano_schedule.name])

    @job(
        name=name,
        description=f"Meltano schedule {meltano_schedule.name!r}"
        f" (job {meltano_schedule.job or 'elt'}, {meltano_schedule.cron})",
        tags={"meltano/schedule": meltano_schedule.name},
    )
    def schedule_job() -> None:
        run_schedule()

    @schedule(
        name=name,
        job=schedule_job,
        cron_schedule=meltano_schedule.cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def tick(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        active = context.instance.get_runs(
            filters=RunsFilter(job_name=name, statuses=ACTIVE), limit=1
        )
        if active:
            return SkipReason(f"run {active[0].run_id} of {name} is still going")
        return RunRequest()

    return schedule_job, tick


def definitions() -> Definitions:
    """One Dagster job and schedule per Meltano schedule of the project."""
    pairs = [scheduled(s) for s in load(PROJECT_ROOT) if s.cron is not None]  # not @once
    return Definitions(jobs=[j for j, _ in pairs], schedules=[s for _, s in pairs])


defs = definitions()
