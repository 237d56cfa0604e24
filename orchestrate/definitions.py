"""Dagster definitions generated from the Meltano project's schedules at load time.

Every schedule of `meltano schedule list --format=json` becomes a Dagster job of one op that
runs `meltano schedule run <name>` in the project, and a Dagster schedule on the same cron
(UTC), running from the start. Adding a schedule with `meltano schedule add` is enough: the
daemon reloads the definitions. A tick while the previous run of the schedule is still queued
or running is skipped, like cron's `flock -n`: runs of one schedule never overlap.

Runs Meltano from the project's .venv (or $MELTANO_BIN), whatever the daemon's PATH;
MELTANO_* variables such as MELTANO_DATABASE_URI and MELTANO_RUN_STATE_ID_SUFFIX pass through
to it. Two sensors, running from the start, tell operators (orchestrate/alerts.py): one when a
run fails, one when a schedule has had no successful run for too long (stalled).
"""

import json
import logging
import os
import re
import subprocess
import time
from collections import deque
from pathlib import Path

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    Failure,
    OpExecutionContext,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    run_failure_sensor,
    schedule,
    sensor,
)

from orchestrate import alerts
from orchestrate.schedules import PROJECT_ROOT, Schedule, load, meltano_bin
from orchestrate.ticks import longest_gap_seconds

ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
OUTPUT_KEPT = 500  # last lines of Meltano's output searched for a failure's reason


def dagster_name(name: str) -> str:
    """A Dagster name (letters, digits, _) for a Meltano schedule name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def meltano_environment(meltano: str) -> dict[str, str]:
    """The op's environment with Meltano's own directory first on PATH.

    The daemon may run with a bare PATH (cron, systemd, `env -i`): the job's steps that call
    `meltano` again find the same one.
    """
    path = os.environ.get("PATH", os.defpath)
    if os.path.isabs(meltano):
        path = os.pathsep.join([str(Path(meltano).parent), path])
    return {**os.environ, "PATH": path}


def run_meltano(context: OpExecutionContext, args: list[str]) -> None:
    """Run `meltano --log-format=json <args>` in the project, its output going to the Dagster log.

    Each line, one JSON object, goes on unchanged at its own level (`forward`). On failure the
    op's error quotes the lines that say why, so the reason shows on the run's page and in the
    alert, not only deep in the log.
    """
    meltano = meltano_bin()
    command = [meltano, "--log-format=json", *args]
    context.log.info(f"running {' '.join(command)} in {PROJECT_ROOT}")
    last: deque[str] = deque(maxlen=OUTPUT_KEPT)
    with subprocess.Popen(  # noqa: S603
        command,
        cwd=PROJECT_ROOT,
        env=meltano_environment(meltano),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None  # noqa: S101
        for line in process.stdout:
            last.append(line.rstrip())
            forward(context.log, line.rstrip())
        code = process.wait()
    if code:
        raise Failure(
            f"meltano {' '.join(args)} failed with exit code {code}",
            metadata={"reason": alerts.failure_reason(list(last))},
        )


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


@run_failure_sensor(
    name="alert_on_run_failure",
    description="Alert (ALERT_WEBHOOK_URL / ALERT_COMMAND) when a run fails.",
    default_status=DefaultSensorStatus.RUNNING,
)
def alert_on_run_failure(context: RunFailureSensorContext) -> None:
    """Send an alert naming the failed run, its job and why it failed."""
    run = context.dagster_run
    reasons = []
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        user = data.user_failure_data if data else None
        if user is not None:
            reasons.append(user.description or "")
            reasons += [str(entry.value) for entry in user.metadata.values()]
        elif data is not None and data.error is not None:
            reasons.append(data.error.message.strip())
    alerts.notify(
        f"Dagster run {run.run_id} of job {run.job_name} failed:"
        f" {context.failure_event.message}\n" + "\n".join(reasons)
    )


def stall_sensor(schedules: list[Schedule]) -> SensorDefinition:
    """A sensor that alerts once when a schedule's job has not succeeded for too long.

    Too long: ALERT_STALE_AFTER_SECONDS, else twice the longest wait between two ticks (no
    check for a cron expression orchestrate.ticks does not understand). The clock starts at
    the job's last successful run, or when the sensor first saw the job.
    """
    gaps = {dagster_name(s.name): longest_gap_seconds(s.cron) for s in schedules if s.cron}

    @sensor(
        name="alert_on_stalled_schedules",
        description="Alert when a schedule's job has had no successful run for too long.",
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def stalled(context: SensorEvaluationContext) -> SkipReason:
        configured = alerts.settings()
        seen: dict[str, dict[str, float]] = json.loads(context.cursor or "{}")
        now, notes = time.time(), []
        for name, gap in gaps.items():
            entry = seen.setdefault(name, {"since": now})
            since = last_success(context, name) or entry["since"]
            age, stale_after = now - since, alerts.stale_after_seconds(gap, configured)
            if stale_after is None:
                notes.append(f"{name}: cron not understood, set ALERT_STALE_AFTER_SECONDS")
                continue
            notes.append(f"{name}: {alerts.duration(age)} of {alerts.duration(stale_after)}")
            if age > stale_after and entry.get("alerted") != since:
                alerts.notify(
                    f"Dagster schedule {name} is stalled: no successful run for"
                    f" {alerts.duration(age)} (threshold {alerts.duration(stale_after)})."
                    f" {active_run(context, name)} See the runs in the Dagster UI (dagster:ui)."
                )
                entry["alerted"] = since
        context.update_cursor(json.dumps(seen))
        return SkipReason("since the last successful run: " + "; ".join(notes))

    return stalled


def last_success(context: SensorEvaluationContext, job_name: str) -> float | None:
    """When the job's latest successful run ended, if it ever succeeded."""
    records = context.instance.get_run_records(
        filters=RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.SUCCESS]), limit=1
    )
    return records[0].end_time if records else None


def active_run(context: SensorEvaluationContext, job_name: str) -> str:
    """A sentence about the job's run still queued or going, if any."""
    runs = context.instance.get_runs(filters=RunsFilter(job_name=job_name, statuses=ACTIVE))
    if not runs:
        return "No run is queued or going: is the schedule stopped?"
    return f"Run {runs[0].run_id} is {runs[0].status.value} (stuck?)."


def definitions() -> Definitions:
    """One Dagster job and schedule per Meltano schedule of the project, and the alerts."""
    timed = [s for s in load(PROJECT_ROOT) if s.cron is not None]  # not @once
    pairs = [scheduled(s) for s in timed]
    return Definitions(
        jobs=[j for j, _ in pairs],
        schedules=[s for _, s in pairs],
        sensors=[alert_on_run_failure, stall_sensor(timed)],
    )


defs = definitions()
