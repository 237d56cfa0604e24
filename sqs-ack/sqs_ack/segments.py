"""target-postgres in segments: it commits what it has whenever the tap asks for it.

A Singer target commits a batch when it is full (``batch_size_rows``) or when its input ends,
so a few messages in flight are never committed, deleted or replaced while the tap runs. On a
FIFO queue that holds back each message group until the run ends (SQS returns nothing more
from a group while a batch of it is in flight). When the tap asks for a commit (a STATE line
whose value is ``{"sqs_ack_commit_request": n}``, ``tap_sqs_logins.COMMIT_REQUEST``), its
input to the running target-postgres ends there: it commits and exits, and a new one loads
what follows, after the SCHEMA lines seen so far. The request line itself goes to no target.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from sqs_ack.unloaded import READ_SECONDS
from tap_sqs_logins import COMMIT_REQUEST

if TYPE_CHECKING:
    from collections.abc import Callable

FEED_CHUNK = 1 << 16
FEED_POLL_SECONDS = 0.25  # how soon the feed notices target-postgres has stopped
STATE_LINE = b'{"type":"STATE"'
SCHEMA_LINE = b'{"type":"SCHEMA"'
REQUEST_KEY = f'"{COMMIT_REQUEST}"'.encode()


class SegmentedTarget:
    """target-postgres, started again after each commit request of the tap."""

    def __init__(self, command: list[str], preexec_fn: Callable[[], None]) -> None:
        """Start the first target-postgres; it reads nothing until ``feed()``."""
        self._command = command
        self._preexec_fn = preexec_fn
        self._lock = threading.Lock()
        self._stopping = False  # a signal or kill: start no new segment
        self._feeding = True
        self._schemas: list[bytes] = []  # each distinct SCHEMA line, for the next segment
        self.segments = 1
        self.process = self._start()

    def running(self) -> bool:
        """True while input remains to feed or a target-postgres is loading."""
        return self._feeding or self.process.poll() is None

    def kill(self) -> None:
        """Kill the running target-postgres; start no other."""
        with self._lock:
            self._stopping = True
            self.process.kill()

    def wait(self) -> int:
        """Wait for the last target-postgres; return its exit status."""
        return self.process.wait()

    def feed(self, source: int, watch: Callable[[bytes], None]) -> None:
        """Copy the tap's Singer messages from ``source``, a new target after each request.

        ``watch`` sees every chunk read. Ends at the end of input; once a target-postgres
        has ended on its own (a failure), what the tap still sends within ``READ_SECONDS`` is
        only watched, to be offered back.
        """
        try:
            pending = b""
            deadline = math.inf
            while time.monotonic() < deadline:
                if not select.select([source], [], [], FEED_POLL_SECONDS)[0]:
                    if deadline == math.inf and self.process.poll() is not None:
                        deadline = time.monotonic() + READ_SECONDS
                    continue
                chunk = os.read(source, FEED_CHUNK)
                if not chunk:
                    if deadline == math.inf:
                        self._write(pending)
                    break
                watch(chunk)
                if deadline < math.inf:
                    continue
                data = pending + chunk
                cut = data.rfind(b"\n") + 1  # whole lines only: a request is one line
                lines, pending = data[:cut], data[cut:]
                if not self._write_lines(lines):
                    deadline = time.monotonic() + READ_SECONDS
        finally:
            with contextlib.suppress(BrokenPipeError, OSError), self._lock:
                self._close_input()
            # Linux stops a target started here when this thread ends (PR_SET_PDEATHSIG).
            self.process.wait()
            self._feeding = False

    def _write_lines(self, lines: bytes) -> bool:
        """Write whole lines, starting a new segment at each commit request."""
        start = 0
        while (found := lines.find(REQUEST_KEY, start)) >= 0:
            line_start = lines.rfind(b"\n", 0, found) + 1
            line_end = lines.index(b"\n", found) + 1
            if not lines.startswith(STATE_LINE, line_start):  # the key inside a record
                start = line_end
                continue
            head = lines[:line_start]
            self._remember_schemas(head)
            if not (self._write(head) and self._next_segment()):
                return False
            lines, start = lines[line_end:], 0
        self._remember_schemas(lines)
        return self._write(lines)

    def _remember_schemas(self, lines: bytes) -> None:
        start = 0
        while (found := lines.find(SCHEMA_LINE, start)) >= 0:
            end = lines.index(b"\n", found) + 1
            if (found == 0 or lines[found - 1] == ord("\n")) and lines[
                found:end
            ] not in self._schemas:
                self._schemas.append(lines[found:end])
            start = end

    def _write(self, data: bytes) -> bool:
        sink = self.process.stdin
        assert sink is not None  # noqa: S101 - opened with stdin=PIPE
        view = memoryview(data)
        try:
            while view:
                view = view[sink.write(view) or 0 :]
        except (BrokenPipeError, ValueError):  # it ended (failed) or was killed
            return False
        return True

    def _next_segment(self) -> bool:
        """Let the running target commit and end; start the next unless it failed."""
        with self._lock:
            self._close_input()
        if self.process.wait() != 0:
            return False
        with self._lock:
            if self._stopping:
                return False
            self.process = self._start()
            self.segments += 1
        return self._write(b"".join(self._schemas))

    def _close_input(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - the same venv's target
            self._command, stdin=subprocess.PIPE, bufsize=0, preexec_fn=self._preexec_fn
        )
