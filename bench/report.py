"""The printed table, the goals of issue 8, and the machine the numbers came from."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.runs import STARTUPS

if TYPE_CHECKING:
    from bench.database import Server
    from bench.runs import Result

REPO = Path(__file__).resolve().parent.parent
NAIVE_GOAL = 1.0  # job / naive script
DRAIN_GOAL = 0.7  # job / 1-thread drain
CPU_GOAL = 1.0  # job CPU per message / naive script's
FLAT_GOAL = 1.10  # peak RSS at the largest N / at the smallest
PLUGIN_PYTHONS = {
    "tap": ".meltano/extractors/tap-sqs-logins/venv/bin/python",
    "target-postgres": ".meltano/loaders/target-postgres/venv/bin/python",
    "dbt": ".meltano/utilities/dbt-postgres/venv/bin/python",
}
PACKAGES = {
    "tap": ["singer-sdk", "boto3"],
    "target-postgres": ["meltanolabs-target-postgres", "singer-sdk"],
    "dbt": ["dbt-core", "dbt-postgres"],
}


def machine(pg: Server) -> dict[str, Any]:
    """Cores, CPU model, memory, Pythons and the versions of every part."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    versions = {"meltano": metadata.version("meltano"), "postgresql": pg.version()}
    for part, python in PLUGIN_PYTHONS.items():
        for package in PACKAGES[part]:
            versions[package] = _version(REPO / python, package)
    versions["localstack"] = _version(REPO / ".bench/venv/bin/python", "localstack-core")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "plugin_python": _run(REPO / PLUGIN_PYTHONS["tap"], "-V").removeprefix("Python "),
        "versions": versions,
        "commit": commit,
    }


def _run(python: Path, *args: str) -> str:
    run = subprocess.run([str(python), *args], capture_output=True, text=True, check=False)
    return run.stdout.strip() or "?"


def _version(python: Path, package: str) -> str:
    code = f"from importlib.metadata import version; print(version({package!r}))"
    return _run(python, "-c", code) if python.exists() else "?"


def machine_line(facts: dict[str, Any]) -> str:
    """One line naming the machine."""
    v = facts["versions"]
    return (
        f"machine: {facts['cores']} cores, {facts['cpu']}, {facts['memory_gib']} GiB; "
        f"Python {facts['python']} (plugins {facts['plugin_python']}); meltano {v['meltano']}, "
        f"PostgreSQL {v['postgresql']}, LocalStack {v['localstack']}; commit {facts['commit']}"
    )


def progress(result: Result, wall: float) -> str:
    """A line per finished run, while the bench goes on."""
    state = "ok" if result.ok else "FAILED: " + "; ".join(result.problems)
    return (
        f"  {result.n:>9,} {result.what:<22} {result.seconds:8.1f} s {result.rate:9.0f} msg/s "
        f"{_cpu(result.what, result.cpu_s, result.cpu_per_1k)} ({wall:.0f} s with filling) {state}"
    )


def _by(results: list[Result], n: int, what: str) -> Result | None:
    return next((r for r in results if r.n == n and r.what.startswith(what)), None)


def goals(results: list[Result]) -> dict[str, Any]:
    """Ratios job/naive and job/drain per N, and whether memory stayed flat."""
    out: dict[str, Any] = {"ratios": {}, "memory": {}, "after_startup": {}, "cpu": {}}
    counts = sorted({r.n for r in results if r.what not in STARTUPS.values()})
    startup = _by(results, 1, STARTUPS[1])  # what a run with messages pays before them
    for n in counts:
        job, naive, drain = (_by(results, n, w) for w in ("meltano", "naive", "bare drain, 1"))
        if job:
            out["ratios"][n] = {
                "job/naive": round(job.rate / naive.rate, 3) if naive else None,
                "job/drain1": round(job.rate / drain.rate, 3) if drain else None,
            }
        if job:
            out["cpu"][n] = {
                "job": round(job.cpu_per_1k, 3),
                "job_after_startup": (
                    round(1000 * (job.cpu_s - startup.cpu_s) / n, 3) if startup else None
                ),
                "naive": round(naive.cpu_per_1k, 3) if naive else None,
                "drain1": round(drain.cpu_per_1k, 3) if drain else None,
            }
        if job and startup and naive and drain and job.seconds > startup.seconds:
            rate = n / (job.seconds - startup.seconds)
            out["after_startup"][n] = {
                "startup_s": round(startup.seconds, 2),
                "msg_per_s": round(rate, 1),
                "job/naive": round(rate / naive.rate, 3),
                "job/drain1": round(rate / drain.rate, 3),
            }
    small, large = (
        (_by(results, counts[0], "meltano"), _by(results, counts[-1], "meltano"))
        if counts
        else (None, None)
    )
    if small and large and small is not large:
        for step, values in large.steps.items():
            if values.get("rss_mib") and small.steps.get(step, {}).get("rss_mib"):
                growth = values["rss_mib"] / small.steps[step]["rss_mib"]
                out["memory"][step] = round(growth, 3)
    return out


def render(data: dict[str, Any]) -> str:
    """The whole report: table, per-step lines, goals, history, latency."""
    lines = [machine_line(data["machine"]), ""]
    rows = data.get("table", [])
    if rows:
        lines.append(
            f"{'N':>9}  {'what':<26} {'seconds':>8} {'msg/s':>8} {'CPU s/1k':>12} "
            f"{'peak RSS':>9}  {'ratio':<24} check"
        )
    ratios = data.get("goals", {}).get("ratios", {})
    for row in rows:
        ratio = ""
        if row["what"].startswith("meltano") and row["n"] in ratios:
            r = ratios[row["n"]]
            ratio = f"{_x(r['job/naive'])} naive, {_x(r['job/drain1'])} drain1"
        rss = f"{row['rss_mib']:.0f} MiB" if row["rss_mib"] else ""
        check = "ok" if row["ok"] else "FAILED: " + "; ".join(row["problems"])
        cpu = _cpu(row["what"], row.get("cpu_s", 0.0), row.get("cpu_s_per_1k", 0.0))
        lines.append(
            f"{row['n']:>9,}  {row['what']:<26} {row['seconds']:8.1f} {row['msg_per_s']:8.0f} "
            f"{cpu:>12} {rss:>9}  {ratio:<24} {check}"
        )
        lines += _step_lines(row)
    if any(v is not None for r in ratios.values() for v in r.values()):
        lines.append(
            f"goals: job/naive >= {NAIVE_GOAL}x and job/drain1 >= {DRAIN_GOAL}x at every N; "
            + ("met" if _ratios_met(ratios) else "NOT met")
        )
    for n, after in data.get("goals", {}).get("after_startup", {}).items():
        lines.append(
            f"  after the fixed start-up ({after['startup_s']:.1f} s, the run of one login): "
            f"{int(n):,} messages at {after['msg_per_s']:.0f} msg/s = "
            f"{_x(after['job/naive'])} naive, {_x(after['job/drain1'])} drain1"
        )
    for n, cpu in data.get("goals", {}).get("cpu", {}).items():
        lines.append(_cpu_line(int(n), cpu))
    memory = data.get("goals", {}).get("memory")
    if memory:
        growth = ", ".join(f"{step} {g - 1:+.0%}" for step, g in memory.items())
        flat = all(g <= FLAT_GOAL for g in memory.values())
        lines.append(
            f"memory, peak RSS at largest N vs smallest: {growth}: "
            + ("flat" if flat else "NOT flat (goal +10%)")
        )
    for key in ("history", "latency", "profile"):
        lines += data.get(key, {}).get("lines", [])
    return "\n".join(lines)


def _step_lines(row: dict[str, Any]) -> list[str]:
    steps = row.get("steps") or {}
    if not row["what"].startswith("meltano"):
        return []
    runs = row.get("extra", {}).get("runs", 1)
    lines = [f"{'':>11}  ({runs} runs of the job to empty the queue)"] if runs > 1 else []
    pairs = [
        ("tap + target + ack", ["tap", "target", "ack"]),
        ("dbt", ["dbt"]),
        ("meltano between steps", ["meltano", "discover"]),
    ]
    for label, names in pairs:
        key = "meltano (between steps)" if label.startswith("meltano") else label
        if key not in steps:
            continue
        seconds = steps[key]["seconds"]
        rate = row["n"] / seconds if seconds and label in ("tap + target + ack", "dbt") else 0
        rss = ", ".join(f"{name} {steps[name]['rss_mib']:.0f}" for name in names if name in steps)
        cpu = sum(steps[name].get("cpu_s", 0.0) for name in names if name in steps)
        lines.append(
            f"{'':>11}  - {label:<24} {seconds:8.1f} {f'{rate:.0f}' if rate else '':>8} {'':>9}  "
            f"RSS MiB {rss}; CPU {cpu:.1f} s"
        )
    return lines


def _cpu_line(n: int, cpu: dict[str, float | None]) -> str:
    """CPU-s per 1,000 messages of the job, the naive script and the drain, with the goal."""
    after = cpu["job_after_startup"]
    line = f"  CPU-s per 1,000 messages at {n:,}: job {cpu['job']:.3f}" + (
        f" ({after:.3f} after the fixed start-up's)" if after is not None else ""
    )
    if cpu["naive"]:
        met = "met" if (cpu["job"] or 0) <= cpu["naive"] * CPU_GOAL else "NOT met"
        line += f", naive {cpu['naive']:.3f}: {_x((cpu['job'] or 0) / cpu['naive'])} naive ({met},"
        line += f" goal <= {CPU_GOAL}x)"
    if cpu["drain1"]:
        line += f"; bare drain, 1 thread {cpu['drain1']:.3f}"
    return line


def _cpu(what: str, cpu_s: float, per_1k: float) -> str:
    """CPU seconds of the whole process tree: per 1,000 messages, or in all for a start-up."""
    return f"{cpu_s:.1f} CPU-s" if what in STARTUPS.values() else f"{per_1k:.3f}"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _ratios_met(ratios: dict[Any, dict[str, float | None]]) -> bool:
    return all(
        (r["job/naive"] or 0) >= NAIVE_GOAL and (r["job/drain1"] or 0) >= DRAIN_GOAL
        for r in ratios.values()
    )


def all_ok(data: dict[str, Any]) -> bool:
    """Every run passed its correctness checks (goals are reported, not enforced)."""
    rows_ok = all(row["ok"] for row in data.get("table", []))
    return rows_ok and all(
        data.get(k, {}).get("ok", True) for k in ("history", "latency", "profile")
    )
