"""A note to the job's dbt step that no staged row awaits it, so it starts neither Meltano nor dbt.

The dbt step (``dbt-with-target --if-pending``, transform/dbt_with_target.py) would otherwise
ask Meltano for target-postgres's settings while it imports dbt, about 3 CPU-s, before it
could learn that there is nothing to do. The loader is connected already: once its load has
committed, it asks PostgreSQL whether a staged row awaits dbt (``bookkeeping.awaits_dbt``).
If none does, it leaves a note for the later steps of the same ``meltano run``; if one does,
it removes its Meltano's note, if any. A note is a file named after that Meltano process
(the parent of both steps: its pid and start time), in ``<MELTANO_SYS_DIR_ROOT>/run/dbt-pending/``,
holding the loader's name, schema and table. The dbt step takes the note of its own Meltano
and removes it; notes of Meltano processes that have ended are removed here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from sqs_ack import bookkeeping

if TYPE_CHECKING:
    from sqs_ack.target_settings import TargetSettings

logger = logging.getLogger("sqs-ack")
NOTES = Path("run", "dbt-pending")  # under Meltano's system directory (.meltano)
LOCK_TIMEOUT = "10s"  # a DDL lock on the staging table: no note (dbt runs and sees)


def leave(settings: TargetSettings) -> None:
    """Leave the note if no staged row awaits dbt, else remove this Meltano's note."""
    note = own_note()
    if note is None:
        return
    _remove_ended(note.parent)
    try:
        with psycopg.connect(
            settings.conninfo, connect_timeout=10, options=f"-c lock_timeout={LOCK_TIMEOUT}"
        ) as connection:
            waiting = bookkeeping.awaits_dbt(connection, settings.schema)
    except psycopg.Error as error:
        logger.info("Could not tell whether a staged row awaits dbt, so dbt will run: %s", error)
        waiting = True
    contents = {
        "loader": os.environ.get("MELTANO_LOADER_NAME"),
        "schema": settings.schema,
        "table": bookkeeping.TABLE,
    }
    try:
        if waiting:
            note.unlink(missing_ok=True)
            return
        note.parent.mkdir(parents=True, exist_ok=True)
        written = note.with_suffix(".tmp")
        written.write_text(json.dumps(contents))
        written.replace(note)
    except OSError as error:  # no note (dbt runs), or one that may stay: say so
        logger.warning(
            "The note to the dbt step (%s) could not be written or removed: %s", note, error
        )


def forget() -> None:
    """Remove this Meltano's note: a load it does not check (plain target-postgres) follows."""
    if (note := own_note()) is not None:
        try:
            note.unlink(missing_ok=True)
        except OSError as error:
            logger.warning("The note to the dbt step (%s) could not be removed: %s", note, error)


def own_note() -> Path | None:
    """The note of the Meltano that started this process; None if not started by Meltano."""
    root = os.environ.get("MELTANO_SYS_DIR_ROOT")
    meltano = process_id(os.getppid())
    return Path(root, NOTES, f"{meltano}.json") if root and meltano else None


def process_id(pid: int) -> str | None:
    """``<pid>-<start time>``: a process's name that a later one with its pid does not share."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return f"{pid}-{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, after the command


def _remove_ended(directory: Path) -> None:
    """Remove the notes of Meltano processes that have ended (and whatever else is there)."""
    try:
        notes = list(directory.iterdir())
    except OSError:  # none yet
        return
    for note in notes:
        pid = note.stem.split("-")[0]
        if not pid.isdigit() or process_id(int(pid)) != note.stem:
            with contextlib.suppress(OSError):
                note.unlink()
