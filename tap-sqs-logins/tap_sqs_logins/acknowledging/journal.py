"""Journals: the receipt handles a run emitted, batch by batch, in a private file on disk.

One file per run, ``<journal_dir>/<run id>.jsonl``: a header line naming the queue, then one
line per batch, ``{"batch": n, "handles": [...], "left": [...]}``, each written before the
STATE that names the batch; ``left`` are poison messages for the queue's redrive policy, kept
hidden while the run lasts but never deleted. The next run deletes the batches its incoming
state confirms, then removes the file. Reading streams line by line, so memory stays flat
however long the run.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

SUFFIX = ".jsonl"
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


class JournalError(RuntimeError):
    """A journal cannot be written or read; the message names ``journal_dir``."""


def private_directory(path: Path) -> Path:
    """Create ``path`` and its missing parents owner-only (0700); tighten ``path`` if it exists.

    Raises:
        JournalError: If it cannot be created or changed.
    """
    try:
        for directory in [*reversed(path.parents), path]:
            if not directory.exists():
                directory.mkdir(mode=DIRECTORY_MODE)
        path.chmod(DIRECTORY_MODE)
    except OSError as error:
        raise JournalError(f"cannot use {path} ({error.strerror}): check journal_dir") from None
    return path


class Journal:
    """The journal this run writes, and reads back for the heartbeat."""

    def __init__(self, directory: Path, queue_url: str) -> None:
        """Create the run's file (0600) with its header.

        Raises:
            JournalError: If the file cannot be created.
        """
        self.run_id = uuid.uuid4().hex
        self.path = private_directory(directory) / f"{self.run_id}{SUFFIX}"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, FILE_MODE)
            self._writer = os.fdopen(fd, "w", encoding="utf-8")
            # A reader of its own: the heartbeat reads while this run appends.
            self._reader = self.path.open("rb")
        except OSError as error:
            msg = f"cannot write {self.path} ({error.strerror}): check journal_dir"
            raise JournalError(msg) from None
        self._size = 0  # bytes written and flushed: what a reader may read
        self.batches = 0
        self._write({"queue_url": queue_url})

    def append(self, handles: list[str], left: Sequence[str] = ()) -> int:
        """Add the next batch's receipt handles, and those never to delete; return its number.

        Batches count from 1. They are on disk (in the operating system's hands) when this
        returns.
        """
        self.batches += 1
        self._write({"batch": self.batches, "handles": handles, "left": list(left)})
        return self.batches

    def handles(self) -> Iterator[str]:
        """Yield every handle written so far, left ones too, reading the file line by line."""
        self._reader.seek(0)
        end = self._size
        self._reader.readline()  # the header
        while self._reader.tell() < end:
            batch = json.loads(self._reader.readline())
            yield from batch["handles"]
            yield from batch.get("left", [])

    def close(self, *, keep: bool) -> None:
        """Close the file; remove it unless ``keep`` (and it holds a batch)."""
        self._writer.close()
        self._reader.close()
        if not (keep and self.batches):
            self.path.unlink(missing_ok=True)

    def _write(self, line: dict[str, Any]) -> None:
        text = json.dumps(line, separators=(",", ":")) + "\n"
        try:
            self._writer.write(text)
            self._writer.flush()
        except OSError as error:
            msg = f"cannot write {self.path} ({error.strerror}): check journal_dir"
            raise JournalError(msg) from None
        self._size += len(text.encode())


def earlier_run(directory: Path, run_id: str) -> Path | None:
    """Return the journal of an earlier run named in the state, or None if there is none."""
    if not RUN_ID.match(run_id):  # a state is input: never let it name another path
        return None
    path = directory / f"{run_id}{SUFFIX}"
    return path if path.is_file() else None


def read_confirmed(path: Path, through: int) -> tuple[str, Iterator[str]]:
    """Return the queue URL of a journal and its handles of batches 1 to ``through``."""
    with path.open(encoding="utf-8") as file:
        queue_url = json.loads(file.readline())["queue_url"]

    def handles() -> Iterator[str]:
        with path.open(encoding="utf-8") as lines:
            lines.readline()
            for line in lines:
                try:
                    batch = json.loads(line)
                except ValueError:  # a line cut short by a crash: never confirmed
                    return
                if batch["batch"] > through:
                    return
                yield from batch["handles"]

    return str(queue_url), handles()


def journals(directory: Path) -> list[Path]:
    """Return the journals in ``directory`` (none if it does not exist)."""
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []


def remove_older_than(directory: Path, seconds: float) -> int:
    """Remove the journals not written for ``seconds``; return how many."""
    cutoff = time.time() - seconds
    removed = 0
    for path in journals(directory):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another worker removed it first
            continue
    return removed
