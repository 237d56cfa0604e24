"""Where the job's time goes: py-spy over every process of one run, plus Meltano's fixed cost.

`python -m bench --profile N` runs the job on N messages under `py-spy record --subprocesses`
(raw collapsed stacks), then sums the samples per step: how many fall in imports (start-up)
and which functions hold the rest. It also times `meltano run dbt-postgres:run` (the
transform block alone) against the dbt process inside it, `meltano --version` and
`dbt --help` (`dbt --version` asks PyPI for the latest release).
The raw stacks stay in the run's log folder for flame graphs (flamegraph.pl, speedscope).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from bench import queues, runs
from bench.server import VENV
from bench.watch import Watch, step_of

if TYPE_CHECKING:
    from pathlib import Path

    from bench.runs import Context

PROCESS = re.compile(r'^process (\d+):"(.*)"$')
FRAME = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")
IMPORT = "_find_and_load"
RATE = 100
TOP = 8


def _frame(text: str) -> str:
    """`func (path:line)` shortened to `func (package/module.py)`."""
    match = FRAME.match(text)
    if not match:
        return text
    func, path = match.groups()
    path = path.split("site-packages/")[-1].split("/lib/python3")[-1]
    return f"{func} ({path})"


def summarize(raw: Path) -> dict[str, dict[str, Any]]:
    """Per step: samples, share in imports, top inclusive and self frames (work only)."""
    steps: dict[str, dict[str, Any]] = {}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        parts = stack.split(";")
        # --subprocesses puts the chain of processes first: meltano;its child;frames...
        chain = [m.group(2) for m in map(PROCESS.match, parts) if m]
        if not chain or not count.isdigit():
            continue
        step = steps.setdefault(
            step_of(chain[-1].split()),
            {"samples": 0, "import": 0, "inclusive": Counter(), "self": Counter()},
        )
        frames = [_frame(frame) for frame in parts[len(chain) :]] or ["(no frame)"]
        n = int(count)
        step["samples"] += n
        if any(IMPORT in frame for frame in frames):
            step["import"] += n
            continue
        for frame in set(frames):
            step["inclusive"][frame] += n
        step["self"][frames[-1]] += n
    return {
        name: {
            "cpu_seconds": round(s["samples"] / RATE, 1),
            "import_share": round(s["import"] / s["samples"], 3) if s["samples"] else 0,
            "top_inclusive": _top(s["inclusive"], s["samples"], entry=True),
            "top_self": _top(s["self"], s["samples"]),
        }
        for name, s in steps.items()
    }


def _top(counter: Counter[str], total: int, entry: bool = False) -> list[tuple[str, float]]:
    """The most sampled frames, as shares of all samples.

    With `entry`, the entry points (click, main...), which are in nearly every sample of the
    work, are left out (frames within 3% of the most sampled one) to show where work happens.
    """
    most = max(counter.values(), default=0)
    frames = [(f, n) for f, n in counter.most_common(80) if not entry or n < 0.97 * most]
    return [(f, round(n / total, 3)) for f, n in frames[:TOP]]


def _timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, Watch]:
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=runs.REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    watch = Watch(process)
    process.wait()
    watch.join()
    return time.monotonic() - started, watch


def fixed_costs(ctx: Context, database: str) -> dict[str, float]:
    """Meltano around the transform block, and dbt's bare start-up."""
    env = runs.job_env(ctx, "http://127.0.0.1:1/0/none", "", database)
    env.pop("TAP_SQS_LOGINS_DEAD_LETTER_QUEUE_URL")
    env["TAP_SQS_LOGINS_QUEUE_URL"] = queues.new_queue(ctx.endpoint)
    seconds, watch = _timed([str(runs.BIN / "meltano"), "run", "dbt-postgres:run"], env)
    transform = watch.steps().get("dbt", {}).get("seconds", 0.0)
    dbt = runs.REPO / ".meltano/utilities/dbt-postgres/venv/bin/dbt"
    dbt_seconds, _ = _timed([str(dbt), "--help"])
    version_seconds, _ = _timed([str(runs.BIN / "meltano"), "--version"])
    return {
        "meltano_run_dbt_s": round(seconds, 2),
        "dbt_process_s": round(transform, 2),
        "meltano_overhead_s": round(seconds - transform, 2),
        "meltano_version_s": round(version_seconds, 2),
        "dbt_help_s": round(dbt_seconds, 2),
    }


def run(ctx: Context, n: int) -> dict[str, Any]:
    """Profile one job run of `n` messages; the summary and report lines."""
    raw = ctx.logs / f"profile-{n}.txt"
    spy = [str(VENV / "bin" / "py-spy"), "record", "--subprocesses"]
    spy += ["--format", "raw", "--rate", str(RATE), "--output", str(raw), "--"]
    with ctx.server.database("profile") as db:
        runs.warm(ctx, db)  # then a fresh database of the same name
    with ctx.server.database("profile") as db:
        result = runs.job(ctx, n, db, label="profile", wrap=spy)
        costs = fixed_costs(ctx, db)
    if not raw.exists():
        raise RuntimeError(f"py-spy wrote no profile; see {ctx.logs / f'profile-{n}.log'}")
    steps = summarize(raw)
    lines = [f"profile of one job run, {n:,} messages (py-spy, on-CPU samples; raw stacks {raw}):"]
    for name in ("discover", "tap", "target", "ack", "dbt", "meltano"):
        if name not in steps:
            continue
        s = steps[name]
        wall = result.steps.get(name, {}).get("seconds", 0.0)
        lines.append(
            f"  {name}: {wall:.1f} s wall, {s['cpu_seconds']:.1f} s sampled on CPU, "
            f"{s['import_share']:.0%} of it importing"
        )
        lines += [f"      {share:5.1%} {frame}" for frame, share in s["top_inclusive"][:5]]
    lines.append(
        "  fixed: `meltano run dbt-postgres:run` {meltano_run_dbt_s:.1f} s, of which the dbt "
        "process {dbt_process_s:.1f} s (Meltano {meltano_overhead_s:.1f} s); "
        "`meltano --version` {meltano_version_s:.1f} s; "
        "`dbt --help` {dbt_help_s:.1f} s".format(**costs)
    )
    return {
        "lines": lines,
        "steps": steps,
        "fixed": costs,
        "job": result.to_json(),
        "ok": result.ok,
    }


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    print(json.dumps(summarize(Path(sys.argv[1])), indent=1))
