"""The journal: private files, every handle read back in order, only confirmed batches deleted."""

from __future__ import annotations

import json
import os
import stat
import time
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_sqs_logins.acknowledging.journal import (
    RUN_ID,
    Journal,
    JournalError,
    earlier_run,
    read_confirmed,
    remove_older_than,
)

if TYPE_CHECKING:
    from pathlib import Path

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/login-queue"
# Receipt handles are opaque: any text, even what JSON must escape.
HANDLES = st.text(min_size=1, max_size=60)
BATCHES = st.lists(st.lists(HANDLES, min_size=1, max_size=12), max_size=8)
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_directory_and_the_file_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "journal"
    journal = Journal(directory, QUEUE)
    assert mode(directory.parent) == mode(directory) == 0o700
    assert mode(journal.path) == 0o600
    assert journal.path.parent == directory and journal.path.name == f"{journal.run_id}.jsonl"
    journal.close(keep=False)


def test_an_existing_open_directory_is_made_private(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    directory.mkdir(mode=0o755)
    Journal(directory, QUEUE).close(keep=False)
    assert mode(directory) == 0o700


def test_an_unusable_directory_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(JournalError, match="check journal_dir"):
        Journal(tmp_path / "file" / "journal", QUEUE)


@PROPERTY
@given(batches=BATCHES)
def test_every_handle_reads_back_in_order_after_each_batch(
    tmp_path: Path, batches: list[list[str]]
) -> None:
    journal = Journal(tmp_path, QUEUE)
    written: list[str] = []
    for number, batch in enumerate(batches, start=1):
        assert journal.append(batch) == number
        written += batch
        assert list(journal.handles()) == written
    journal.close(keep=False)


@PROPERTY
@given(batches=BATCHES, data=st.data())
def test_a_confirmation_reads_exactly_the_batches_it_names(
    tmp_path: Path, batches: list[list[str]], data: st.DataObject
) -> None:
    journal = Journal(tmp_path, QUEUE)
    for batch in batches:
        journal.append(batch)
    journal.close(keep=True)
    through = data.draw(st.integers(min_value=1, max_value=len(batches) + 2))
    path = earlier_run(tmp_path, journal.run_id)
    if not batches:  # a journal without a batch is not kept
        assert path is None
        return
    assert path is not None
    queue_url, handles = read_confirmed(path, through)
    assert queue_url == QUEUE
    assert list(handles) == [handle for batch in batches[:through] for handle in batch]
    path.unlink()


@PROPERTY
@given(batches=BATCHES, left=BATCHES, data=st.data())
def test_left_handles_stay_hidden_but_are_never_confirmed(
    tmp_path: Path, batches: list[list[str]], left: list[list[str]], data: st.DataObject
) -> None:
    """Poison for the redrive policy: the heartbeat reads it back, a confirmation never."""
    journal = Journal(tmp_path, QUEUE)
    pairs = list(zip(batches, left, strict=False))
    for batch, poison in pairs:
        journal.append(batch, poison)
    assert list(journal.handles()) == [h for batch, poison in pairs for h in (*batch, *poison)]
    journal.close(keep=True)
    path = earlier_run(tmp_path, journal.run_id)
    if not pairs:
        assert path is None
        return
    assert path is not None
    through = data.draw(st.integers(min_value=1, max_value=len(pairs)))
    _, handles = read_confirmed(path, through)
    assert list(handles) == [h for batch, _ in pairs[:through] for h in batch]
    path.unlink()


def test_a_line_cut_short_by_a_crash_is_never_confirmed(tmp_path: Path) -> None:
    journal = Journal(tmp_path, QUEUE)
    journal.append(["a", "b"])
    journal.close(keep=True)
    with journal.path.open("a") as file:
        file.write(json.dumps({"batch": 2, "handles": ["c", "d"]})[:-7])
    _, handles = read_confirmed(journal.path, 2)
    assert list(handles) == ["a", "b"]


def test_the_run_keeps_reading_its_journal_after_another_worker_removed_it(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path, QUEUE)
    journal.append(["a"])
    journal.path.unlink()
    journal.append(["b"])
    assert list(journal.handles()) == ["a", "b"]
    journal.close(keep=True)


@pytest.mark.parametrize(("keep", "batches", "kept"), [(True, 1, True), (True, 0, False)])
def test_close_keeps_only_a_journal_with_batches(
    tmp_path: Path, keep: bool, batches: int, kept: bool
) -> None:
    journal = Journal(tmp_path, QUEUE)
    for _ in range(batches):
        journal.append(["h"])
    journal.close(keep=keep)
    assert journal.path.exists() is kept


def test_close_without_keep_removes_the_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path, QUEUE)
    journal.append(["h"])
    journal.close(keep=False)
    assert not journal.path.exists()


@PROPERTY
@given(run_id=st.text(max_size=40) | st.sampled_from(["../outside", "A" * 32, "0" * 31 + "/"]))
def test_a_state_names_a_journal_only_by_its_run_id(tmp_path: Path, run_id: str) -> None:
    """The run id comes from the state (input): it never reaches a file outside the journal."""
    directory = tmp_path / "journal"
    directory.mkdir(exist_ok=True)
    (tmp_path / "outside.jsonl").write_text("{}")
    found = earlier_run(directory, run_id)
    assert found is None or (found.parent == directory and RUN_ID.match(found.stem))


def test_an_earlier_run_is_found_by_its_run_id(tmp_path: Path) -> None:
    journal = Journal(tmp_path, QUEUE)
    journal.append(["h"])
    journal.close(keep=True)
    assert earlier_run(tmp_path, journal.run_id) == journal.path
    assert earlier_run(tmp_path, "0" * 32) is None


def test_only_journals_older_than_the_age_are_removed(tmp_path: Path) -> None:
    old, fresh = (Journal(tmp_path, QUEUE) for _ in range(2))
    for journal in (old, fresh):
        journal.append(["h"])
        journal.close(keep=True)
    other = tmp_path / "notes.txt"
    other.write_text("")
    an_hour_ago = time.time() - 3600
    for path in (old.path, other):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert remove_older_than(tmp_path, 3599) == 1
    assert not old.path.exists() and fresh.path.exists() and other.exists()
    assert remove_older_than(tmp_path / "missing", 0) == 0
