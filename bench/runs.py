"""The contestants, each on a freshly filled queue: the naive script, the bare drain, the job.

Every run is timed from its start to its exit (the queue is filled beforehand), watched for
peak RSS per process (bench.watch), and checked: everything delivered, the queue empty, and
for the job no message received twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import queues
from bench.watch import Watch

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bench.database import Server

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
MASK_KEY = "bench-key-NOT-SECRET-0123456789"
JOB = "sqs-logins-to-postgres"
TIMEOUT = 4 * 3600
DBT_TARGETS = REPO / ".bench" / "dbt-target"
MAX_RUNS = 10  # runs of the job to empty one queue, if each run bounds what it takes
RECEIVED_TWICE = "select count(*) filter (where receive_count > 1) from sqs_staging.logins"


@dataclass
class Context:
    """Where everything runs."""

    endpoint: str
    server: Server
    logs: Path
    wait_time: int = 0


# The fixed start-up: a scheduled run with no new message (it starts no dbt), and a run with
# one login (it does): what every run with messages pays before them. Each on the database of
# the run before it (warm), as in production.
STARTUPS = {0: "meltano run, nothing new", 1: "meltano run, one login"}


@dataclass
class Result:
    """One timed run."""

    n: int
    what: str
    seconds: float
    rss_mib: float | None = None
    cpu_s: float = 0.0  # of the whole process tree (bench.rusage)
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.n / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_1k(self) -> float:
        """CPU seconds of the whole process tree per 1,000 messages."""
        return 1000 * self.cpu_s / self.n if self.n else 0.0

    def check(self, condition: bool, problem: str) -> None:
        """Record `problem` unless `condition` holds."""
        if not condition:
            self.ok = False
            self.problems.append(problem)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, with msg/s."""
        return {
            **asdict(self),
            "msg_per_s": round(self.rate, 1),
            "cpu_s_per_1k": round(self.cpu_per_1k, 3),
        }


def _timed(
    argv: list[str], log: Path, env: dict[str, str] | None = None, check: bool = True
) -> tuple[float, Watch, float]:
    """Run argv from the repository root, output to `log`; return (seconds, its watch, CPU s).

    The CPU seconds are those of argv's whole process tree, every process counted once it
    has been reaped, orphans included (bench.rusage); the seconds run from its start to the
    last process's end.

    Raises:
        RuntimeError: if it exits non-zero and `check`.
    """
    counts = log.with_suffix(".rusage.json")
    wrapped = [str(BIN / "python"), "-m", "bench.rusage", str(counts), *argv]
    with log.open("wb") as out:
        process = subprocess.Popen(wrapped, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        watch = Watch(process, wrapper=True)
        try:
            code = process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
    watch.join()
    if code and check:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(argv[:4])} exited {code}; log {log}:\n{tail}")
    usage = json.loads(counts.read_text())
    return usage["seconds"], watch, usage["cpu_s"]


def _peak(watch: Watch) -> float | None:
    """The largest peak RSS (MiB) of the watched processes."""
    return max((step["rss_mib"] for step in watch.steps().values()), default=None)


def naive(ctx: Context, n: int) -> Result:
    """The seed-style script on a fresh queue and database."""
    queue_url = queues.new_queue(ctx.endpoint)
    valid = queues.valid_count(queues.fill(ctx.endpoint, queue_url, n))
    with ctx.server.database("naive") as db:
        argv = [str(BIN / "python"), "-m", "bench.naive", queue_url, ctx.server.dsn(db), MASK_KEY]
        seconds, watch, cpu = _timed(argv, ctx.logs / f"naive-{n}.log")
        result = Result(n, "naive script", seconds, _peak(watch), cpu)
        rows = ctx.server.scalar(db, "select count(*) from naive_user_logins")
    result.check(rows == valid, f"{rows} rows for {valid} logins")
    result.check(queues.depth(ctx.endpoint, queue_url) == 0, "queue not empty")
    queues.delete_queue(ctx.endpoint, queue_url)
    return result


def drain(ctx: Context, n: int, threads: int) -> Result:
    """The bare boto3 receive+delete drain with `threads` threads."""
    queue_url = queues.new_queue(ctx.endpoint)
    queues.fill(ctx.endpoint, queue_url, n)
    argv = [str(BIN / "python"), "-m", "bench.drain", queue_url, str(threads)]
    log = ctx.logs / f"drain{threads}-{n}.log"
    seconds, watch, cpu = _timed(argv, log)
    what = f"bare drain, {threads} thread{'s' if threads > 1 else ''}"
    result = Result(n, what, seconds, _peak(watch), cpu)
    drained = int(log.read_text().split()[-1])
    result.check(drained == n, f"drained {drained} of {n}")
    result.check(queues.depth(ctx.endpoint, queue_url) == 0, "queue not empty")
    queues.delete_queue(ctx.endpoint, queue_url)
    return result


def job_env(ctx: Context, queue_url: str, dead_url: str, database: str) -> dict[str, str]:
    """The environment of `meltano run` on `queue_url` loading into `database`."""
    return {
        **os.environ,
        **ctx.server.env(database),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "TAP_SQS_LOGINS_QUEUE_URL": queue_url,
        "TAP_SQS_LOGINS_ENDPOINT_URL": ctx.endpoint,
        "TAP_SQS_LOGINS_REGION": queues.REGION,
        "TAP_SQS_LOGINS_DEAD_LETTER_QUEUE_URL": dead_url,
        "TAP_SQS_LOGINS_MASK_KEY": MASK_KEY,
        "TAP_SQS_LOGINS_WAIT_TIME_SECONDS": str(ctx.wait_time),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        # dbt's parse state per database, kept between benches as in production (see
        # bench.database.Server.database); transform/target is left alone.
        "DBT_TARGET_PATH": str(DBT_TARGETS / database),
    }


def warm(ctx: Context, database: str) -> None:
    """Run the job once, untimed, on an empty queue, as the scheduled run before this one.

    Meltano then has the tap's catalog cached for these settings, and dbt its parse of
    `database`, as in production, where every run has the same settings as the last.
    """
    job(ctx, 0, database, label="warm")


def job(
    ctx: Context,
    n: int,
    database: str,
    label: str = "job",
    wrap: Sequence[str] = (),
    startup: bool = False,
) -> Result:
    """`meltano run sqs-logins-to-postgres` on a fresh queue of `n` into `database` (kept).

    A job may bound what one run takes; it is then run again until the queue is empty (at
    most MAX_RUNS times) and the times are added up. `wrap` prefixes the command (a profiler,
    whose own exit status is not checked). Checks: user_logins grew by the number of valid
    messages, the queue is empty, no staged message was received more than once, and no
    message became visible again while the run that received it was still working.
    """
    # The same queue URLs every run: a changed setting would make Meltano discover again.
    queue_url = queues.new_queue(ctx.endpoint, name="bench-job")
    dead_url = queues.new_queue(ctx.endpoint, name="bench-job-dead")
    valid = queues.valid_count(queues.fill(ctx.endpoint, queue_url, n)) if n else 0
    before = int(ctx.server.scalar(database, "select count(*) from public.user_logins") or 0)
    env = job_env(ctx, queue_url, dead_url, database)
    result = Result(n, STARTUPS[n] if startup else "meltano run (job)", 0.0, 0.0)
    reoffered = 0
    for number in range(1, MAX_RUNS + 1):
        suffix = f"bench-{uuid.uuid4().hex[:8]}"
        argv = [*wrap, str(BIN / "meltano"), "run", "--state-id-suffix", suffix, JOB]
        visible = queues.VisibleWatch(ctx.endpoint, queue_url)
        log = ctx.logs / f"{label}-{n}{'' if number == 1 else f'-run{number}'}.log"
        try:
            seconds, watch, cpu = _timed(argv, log, env, check=not wrap)
        finally:
            visible.stop()
        result.seconds += seconds
        result.cpu_s += cpu
        steps = _job_steps(watch, seconds)
        _merge(result.steps, steps)
        tap_end = watch.started + steps.get("tap", {}).get("end", seconds)
        reoffered = max(reoffered, visible.reoffered_after(tap_end + 1.0))
        left = queues.depth(ctx.endpoint, queue_url)
        if not left or (number > 1 and left >= result.extra["left"]):
            break
        result.extra["left"] = left
    result.rss_mib = max(step.get("rss_mib", 0.0) for step in result.steps.values())
    after = int(ctx.server.scalar(database, "select count(*) from public.user_logins") or 0)
    twice = ctx.server.scalar(database, RECEIVED_TWICE)
    result.extra = {
        "rows_added": after - before,
        "valid": valid,
        "received_twice": twice,
        "runs": number,
        "reoffered": reoffered,
    }
    result.check(after - before == valid, f"{after - before} rows for {valid} logins")
    result.check(left == 0, f"{left} messages left on the queue after {number} runs")
    result.check(not twice, f"{twice} messages received more than once")
    result.check(not reoffered, f"{reoffered} messages offered again during the run")
    queues.delete_queue(ctx.endpoint, queue_url)
    queues.delete_queue(ctx.endpoint, dead_url)
    return result


def _job_steps(watch: Watch, seconds: float) -> dict[str, dict[str, float]]:
    """The watched steps, plus the extract-load block (tap, target, ack) and Meltano's time."""
    steps = watch.steps()
    pair = [steps[name] for name in ("tap", "target", "ack") if name in steps]
    if pair:
        steps["tap + target + ack"] = {
            "seconds": max(s["end"] for s in pair) - min(s["start"] for s in pair),
            "cpu_s": sum(s["cpu_s"] for s in pair),
        }
    steps["meltano (between steps)"] = {"seconds": seconds - watch.children_busy()}
    return steps


def _merge(total: dict[str, dict[str, float]], run: dict[str, dict[str, float]]) -> None:
    """Add one run's steps: seconds and CPU add up, peak RSS is the largest, end is the last."""
    for name, step in run.items():
        into = total.setdefault(name, {})
        for key, value in step.items():
            if key == "rss_mib":
                into[key] = max(into.get(key, 0.0), value)
            elif key in ("seconds", "cpu_s"):
                into[key] = into.get(key, 0.0) + value
            else:
                into.setdefault(key, value)


def python_version() -> str:
    """This interpreter's version."""
    return sys.version.split()[0]
