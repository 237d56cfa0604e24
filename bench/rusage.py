"""Run a command and count the CPU of its whole process tree, orphans included.

Usage: `python -m bench.rusage OUT.json ARGV...`. This process makes itself a child subreaper
(prctl PR_SET_CHILD_SUBREAPER), so a descendant whose parent exits before it is re-parented
here rather than to init; after the command exits it reaps every child left until none
remains. getrusage(RUSAGE_CHILDREN) then holds the user and system CPU of every process of
the tree (the kernel adds a reaped child's own reaped children to it), however short-lived.
OUT.json gets {"seconds": wall from start to the last reap, "cpu_s", "user_s", "system_s",
"code": the command's exit status}; the exit status is passed on too.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def subreaper() -> None:
    """Make this process the reaper of its orphaned descendants.

    Raises:
        OSError: if the kernel refuses (not Linux, or older than 3.4).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(error)}")


def run(argv: list[str]) -> dict[str, float | int]:
    """Run argv, reap its whole tree, and return its wall seconds, CPU seconds and exit code."""
    subreaper()
    started = time.monotonic()
    code = subprocess.call(argv)
    while True:  # orphans re-parented here: wait for each, so its CPU is counted
        try:
            os.wait()
        except ChildProcessError:
            break
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "system_s": usage.ru_stime,
        "code": code,
    }


def main(argv: list[str]) -> int:
    """`python -m bench.rusage OUT.json ARGV...`: run, write the counts, pass the status on."""
    out, command = Path(argv[0]), argv[1:]
    counts = run(command)
    out.write_text(json.dumps(counts) + "\n")
    return int(counts["code"]) if int(counts["code"]) >= 0 else 128 - int(counts["code"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
