"""`make bench`: the job against the naive script and the bare drain, history, latency.

Usage (from the repository root): `.venv/bin/python -m bench [--counts 10000 100000]
[--skip-history] [--skip-latency] [--profile N]`. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

from bench import history, latency, profile, report, runs
from bench.database import server
from bench.server import STATE, BenchError, LocalStack, ensure_venv

RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--skip-baselines", action="store_true", help="no naive script / drain")
    parser.add_argument("--skip-job", action="store_true", help="no end-to-end job runs")
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--history-count", type=int, default=10_000)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--latency-count", type=int, default=5_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--profile", type=int, metavar="N", help="py-spy the job on N messages")
    parser.add_argument("--wait-time", type=int, default=0, help="WaitTimeSeconds of receives")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; return 1 if a run failed its checks or its goal."""
    args = parse(argv)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    logs = STATE / "logs" / stamp
    logs.mkdir(parents=True, exist_ok=True)
    try:
        python = ensure_venv()
        with LocalStack(python, logs / "localstack.log") as sqs, server(STATE) as pg:
            ctx = runs.Context(sqs.endpoint, pg, logs, args.wait_time)
            data: dict[str, Any] = {
                "started": stamp,
                "args": vars(args),
                "logs": str(logs),
                "env": _settings(),
            }
            data["machine"] = report.machine(pg)
            print(report.machine_line(data["machine"]), flush=True)
            results = [] if args.skip_job and args.skip_baselines else table(ctx, args)
            data["table"] = [r.to_json() for r in results]
            data["goals"] = report.goals(results)
            if not args.skip_history:
                data["history"] = _phase(
                    "history", history.run, ctx, args.history_rows, args.history_count
                )
            if not args.skip_latency:
                data["latency"] = _phase(
                    "latency", latency.run, ctx, sqs.port, args.latency_count, args.latency_ms
                )
            if args.profile:
                data["profile"] = _phase("profile", profile.run, ctx, args.profile)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    print(report.render(data))
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{stamp}.json"
        path.write_text(json.dumps(data, indent=1, default=str) + "\n")
        print(f"saved {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0 if report.all_ok(data) else 1


def table(ctx: runs.Context, args: argparse.Namespace) -> list[runs.Result]:
    """For each N, side by side: naive script, drains, job. Prints each line as it comes."""
    results: list[runs.Result] = []
    for n in [] if args.skip_job else runs.STARTUPS:
        results.append(_job_after_a_warm_run(ctx, n, startup=True))
        print(report.progress(results[-1], results[-1].seconds), flush=True)
    for n in args.counts:
        cases: list[Callable[[], runs.Result]] = []
        if not args.skip_baselines:
            cases += [partial(runs.naive, ctx, n)]
            cases += [partial(runs.drain, ctx, n, t) for t in (1, 4)]
        if not args.skip_job:
            cases.append(partial(_job_after_a_warm_run, ctx, n))
        for case in cases:
            started = time.monotonic()
            result = case()
            results.append(result)
            print(report.progress(result, time.monotonic() - started), flush=True)
    return results


def _phase(name: str, run: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one part of the bench; a failure is reported and the rest goes on."""
    try:
        return run(*args)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        print(f"bench: {name} failed: {error}", file=sys.stderr, flush=True)
        return {"lines": [f"{name}: FAILED: {first}"], "ok": False, "error": str(error)}


def _settings() -> dict[str, str]:
    """Job settings inherited from the environment (they apply to every job run)."""
    prefixes = ("TAP_SQS_LOGINS_", "TARGET_POSTGRES_", "MELTANO_")
    return {
        name: "***" if any(word in name for word in ("PASSWORD", "KEY", "TOKEN")) else value
        for name, value in sorted(os.environ.items())
        if name.startswith(prefixes)
    }


def _job_after_a_warm_run(ctx: runs.Context, n: int, startup: bool = False) -> runs.Result:
    """The job on `n` messages after an untimed run: a start-up on that run's database (as the
    next scheduled run finds it), the counts on a fresh database of the same name."""
    with ctx.server.database("job") as db:
        runs.warm(ctx, db)
        if startup:
            return runs.job(ctx, n, db, startup=True)
    with ctx.server.database("job") as db:
        return runs.job(ctx, n, db)


if __name__ == "__main__":
    sys.exit(main())
