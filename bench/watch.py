"""Watch a process tree: when each step's processes ran, their peak RSS and CPU seconds.

Every `INTERVAL` seconds the tree under the root is listed; each process's VmHWM (peak resident
memory, kernel-tracked, so nothing between polls is missed) and CPU time are read from /proc.
Processes are grouped into steps by the program they run (see `step_of`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    import subprocess

INTERVAL = 0.05
TICKS = os.sysconf("SC_CLK_TCK")
PROGRAMS = (
    "target-postgres-sqs-ack",
    "target-postgres-msgspec",
    "tap-sqs-logins",
    "target-postgres",
    "dbt-with-target",
    "meltano",
)
STEPS = {"ack", "discover", "tap", "target", "dbt", "meltano"}


def step_of(cmdline: list[str]) -> str:
    """Name the job step a command line belongs to: tap, target, ack (with the check), dbt..."""
    names = [Path(arg).name for arg in cmdline[:3]]
    program = next((name for name in names if name in PROGRAMS), names[0] if names else "?")
    if program == "tap-sqs-logins":
        return "discover" if "--discover" in cmdline or "--about" in cmdline else "tap"
    steps = {
        "target-postgres": "target",
        "target-postgres-msgspec": "target",
        "target-postgres-sqs-ack": "ack",
        "dbt-with-target": "dbt",
    }
    return steps.get(program, program)


@dataclass
class Seen:
    """One process as polled."""

    step: str
    first: float
    last: float
    hwm_kib: int = 0
    cpu: float = 0.0
    cmdline: list[str] = field(default_factory=list)
    forked: bool = False  # seen between fork and exec: its step is known once it has exec'd


def _read(pid: int) -> tuple[int, float] | None:
    """(VmHWM KiB, CPU seconds) of a live process, None once gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    hwm = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0
    )
    return hwm, (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Watch:
    """Poll the tree of `root` in a thread until it exits (below it only, if `wrapper`)."""

    root: subprocess.Popen[bytes]
    wrapper: bool = False  # root is bench.rusage: not a step of what it runs
    started: float = field(default_factory=time.monotonic)
    seen: dict[int, Seen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            root = psutil.Process(self.root.pid)
        except psutil.Error:
            return
        while self.root.poll() is None:
            try:
                tree = [*([] if self.wrapper else [root]), *root.children(recursive=True)]
            except psutil.Error:
                break
            now = time.monotonic() - self.started
            for process in tree:
                self._poll(process, now)
            time.sleep(INTERVAL)

    def _poll(self, process: psutil.Process, now: float) -> None:
        seen = self.seen.get(process.pid)
        if seen is None or seen.forked:
            try:
                cmdline, parent = process.cmdline(), self.seen.get(process.ppid())
            except psutil.Error:
                return
            step = step_of(cmdline)
            if step not in STEPS and parent is not None:
                step = parent.step  # a helper process (e.g. dbt's resource tracker)
            # A child seen before it exec's still shows its parent's command line (sqs-ack
            # starting target-postgres with a preexec_fn): named again once it has exec'd.
            forked = parent is not None and cmdline == parent.cmdline
            if seen is None:
                seen = self.seen[process.pid] = Seen(step, now, now, cmdline=cmdline)
            seen.step, seen.cmdline, seen.forked = step, cmdline, forked
        reading = _read(process.pid)
        if reading is not None:
            seen.last = now
            seen.hwm_kib = max(seen.hwm_kib, reading[0])
            seen.cpu = max(seen.cpu, reading[1])

    def join(self) -> None:
        """Wait for the polling thread (the root has exited)."""
        self._thread.join()

    def steps(self) -> dict[str, dict[str, float]]:
        """Per step: start, end, seconds (span), peak RSS MiB (largest process), CPU seconds."""
        steps: dict[str, dict[str, float]] = {}
        for seen in self.seen.values():
            step = steps.setdefault(
                seen.step, {"start": seen.first, "end": seen.last, "rss_mib": 0.0, "cpu_s": 0.0}
            )
            step["start"] = min(step["start"], seen.first)
            step["end"] = max(step["end"], seen.last)
            step["rss_mib"] = max(step["rss_mib"], seen.hwm_kib / 1024)
            step["cpu_s"] += seen.cpu
        for step in steps.values():
            step["seconds"] = step["end"] - step["start"]
        return steps

    def children_busy(self) -> float:
        """Seconds during which at least one child of Meltano ran (the union of their spans)."""
        spans = sorted(
            (s.first, s.last) for s in self.seen.values() if s.step not in ("meltano", "py-spy")
        )
        busy, end = 0.0, float("-inf")
        for first, last in spans:
            if last > end:
                busy += last - max(first, end)
                end = last
        return busy
