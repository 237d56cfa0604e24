"""The notes to the dbt step: named after the Meltano that runs both steps, never piling up."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from sqs_ack import dbt_handoff

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def ended_process_id() -> str:
    """The name of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    name = dbt_handoff.process_id(child.pid)
    child.wait()
    assert name is not None
    return name


def test_a_note_is_named_after_the_parent_meltano(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MELTANO_SYS_DIR_ROOT", str(tmp_path))
    note = dbt_handoff.own_note()
    assert note is not None
    assert note.parent == tmp_path / "run" / "dbt-pending"
    assert note.stem == dbt_handoff.process_id(os.getppid())
    monkeypatch.delenv("MELTANO_SYS_DIR_ROOT")
    assert dbt_handoff.own_note() is None  # not started by Meltano


def test_the_notes_of_ended_runs_are_removed_whatever_else_is_there(tmp_path: Path) -> None:
    notes = tmp_path / "dbt-pending"
    notes.mkdir()
    ended = [notes / f"{ended_process_id()}.json" for _ in range(3)]
    live = notes / f"{dbt_handoff.process_id(1)}.json"
    for note in [*ended, live, notes / "garbage.json"]:
        note.write_text("{}")
    (notes / "0-sub.json").mkdir()  # cannot be unlinked: the others still go

    dbt_handoff._remove_ended(notes)

    assert sorted(path.name for path in notes.iterdir()) == ["0-sub.json", live.name]


def test_forget_and_cleanup_survive_a_note_location_that_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "dbt-pending").write_text("not a directory")
    monkeypatch.setenv("MELTANO_SYS_DIR_ROOT", str(tmp_path))
    note = dbt_handoff.own_note()
    assert note is not None

    dbt_handoff._remove_ended(note.parent)
    dbt_handoff.forget()

    assert "could not be removed" in caplog.text
