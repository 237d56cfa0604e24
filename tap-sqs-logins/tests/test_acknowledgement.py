"""The acknowledgement modes against moto's in-process SQS.

after_state: a STATE bookmark after each batch's records; the next run deletes exactly the
batches its state confirms. loader: the loader's fields, nothing deleted. on_emit: every
message deleted, never before its record was written.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_sqs_logins.acknowledging import modes as acknowledgement
from tap_sqs_logins.acknowledging.modes import BOOKMARK
from tap_sqs_logins.sqs.client import SqsQueue
from tap_sqs_logins.testing import REGION, records, run_tap, sample_logins

BATCH = 20  # records per bookmark here: moto in process slows down with thousands queued


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acknowledgement, "STATE_BATCH", BATCH)


def send(sqs: Any, url: str, count: int) -> None:
    bodies = sample_logins(count)
    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start:][:10])]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def on_queue(url: str) -> set[str]:
    """Ids of the messages still on the queue, visible or not."""
    queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].get_queue(url.rsplit("/", 1)[1])
    return {message.id for message in queue._messages}


def bookmarks(messages: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    return [
        m["value"]["bookmarks"]["logins"].get(BOOKMARK) for m in messages if m["type"] == "STATE"
    ]


def state_of(bookmark: dict[str, Any]) -> dict[str, Any]:
    return {"bookmarks": {"logins": {BOOKMARK: bookmark}}}


def journals(config: dict[str, Any]) -> list[Path]:
    return sorted(Path(config["journal_dir"]).glob("*.jsonl"))


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [record["message_id"] for record in records(messages)]


class StopsReading(io.StringIO):
    """A target's input that breaks after ``limit`` records, as when the target is killed."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, text: str) -> int:
        if self.getvalue().count('"type":"RECORD"') >= self.limit and '"RECORD"' in text:
            raise BrokenPipeError
        return super().write(text)


def test_each_bookmark_follows_the_records_of_its_batch(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    count = 2 * BATCH + 1
    send(sqs, queue_url, count)
    written = 0
    seen: list[int] = []
    for message in run_tap(config):
        written += message["type"] == "RECORD"
        if message["type"] == "STATE":
            batch = message["value"]["bookmarks"]["logins"][BOOKMARK]["batch"]
            if batch not in seen:
                seen.append(batch)
                assert written == min(batch * BATCH, count)  # the batch, and no more
    assert seen == [1, 2, 3]
    assert len(on_queue(queue_url)) == count  # nothing deleted yet
    assert len(journals(config)) == 1


@pytest.mark.parametrize(
    ("count", "through"),
    [(1, 1), (BATCH - 1, 0), (BATCH, 1), (2 * BATCH + 1, 2), (2 * BATCH + 1, 3)],
)
def test_the_next_run_deletes_exactly_the_batches_its_state_confirms(
    sqs: Any, queue_url: str, config: dict[str, Any], count: int, through: int
) -> None:
    send(sqs, queue_url, count)
    first = run_tap(config)
    run = bookmarks(first)[-1]["run"]  # type: ignore[index]

    second = run_tap(config, state_of({"run": run, "batch": through}))

    emitted = ids(first)
    assert on_queue(queue_url) == set(emitted[through * BATCH :])
    assert records(second) == []  # the rest is still hidden, for the next run to confirm
    assert journals(config) == []  # the confirmed run's, and the empty second run's
    assert bookmarks(second)[-1]["batch"] == 0  # type: ignore[index]


def test_a_target_that_stops_reading_loses_nothing(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    count = 5 * BATCH + 7
    send(sqs, queue_url, count)
    out = StopsReading(limit=2 * BATCH + 5)
    with pytest.raises(BrokenPipeError):
        run_tap(config, out=out)
    first = [json.loads(line) for line in out.getvalue().splitlines()]
    confirmed = set(ids(first)[: 2 * BATCH])
    assert bookmarks(first)[-1]["batch"] == 2  # type: ignore[index]

    second = run_tap(config, state_of(bookmarks(first)[-1]))  # type: ignore[arg-type]

    # Batches 1-2 deleted and not emitted again; the rest offered again at once, and emitted.
    assert not confirmed & set(ids(second))
    assert confirmed | set(ids(second)) == on_queue(queue_url) | confirmed
    assert len(confirmed | set(ids(second))) == count
    run_tap(config, state_of(bookmarks(second)[-1]))  # type: ignore[arg-type]
    assert on_queue(queue_url) == set()


def test_workers_delete_only_their_own_runs(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    send(sqs, queue_url, 20)
    worker_a = run_tap({**config, "max_messages": 10})
    worker_b = run_tap({**config, "max_messages": 10})
    assert len(journals(config)) == 2

    run_tap(config, state_of(bookmarks(worker_b)[-1]))  # type: ignore[arg-type]

    assert on_queue(queue_url) == set(ids(worker_a))
    [left] = journals(config)
    assert left.stem == bookmarks(worker_a)[-1]["run"]  # type: ignore[index]
    run_tap(config, state_of(bookmarks(worker_a)[-1]))  # type: ignore[arg-type]
    assert on_queue(queue_url) == set()


def test_journals_older_than_the_queue_retention_are_removed(
    sqs: Any, config: dict[str, Any]
) -> None:
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})[
        "QueueUrl"
    ]
    directory = Path(config["journal_dir"])
    directory.mkdir(mode=0o700)
    old, fresh = directory / f"{'a' * 32}.jsonl", directory / f"{'b' * 32}.jsonl"
    for path in (old, fresh):
        path.write_text(json.dumps({"queue_url": url}) + "\n")
    os.utime(old, (time.time() - 61, time.time() - 61))
    run_tap({**config, "queue_url": url})
    assert not old.exists() and fresh.exists()


def test_a_lost_or_forged_journal_deletes_nothing(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    send(sqs, queue_url, 3)
    run = bookmarks(run_tap(config))[-1]["run"]  # type: ignore[index]
    for bookmark in (
        {"run": "0" * 32, "batch": 1},
        {"run": "../" + run, "batch": 1},
        {"run": run, "batch": "1"},
        {"run": run},
        "1",
    ):
        assert records(run_tap(config, state_of(bookmark))) == []  # type: ignore[arg-type]
    assert len(on_queue(queue_url)) == 3


def test_a_complete_run_keeps_its_messages_hidden_for_the_next_run(
    sqs: Any, queue_url: str, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    hidden: dict[str, int] = {}
    change = SqsQueue.change_visibility

    def spy(self: SqsQueue, handles: list[str], seconds: int) -> list[str]:
        hidden.update(dict.fromkeys(handles, seconds))
        return change(self, handles, seconds)

    monkeypatch.setattr(SqsQueue, "change_visibility", spy)
    send(sqs, queue_url, 25)
    run_tap({**config, "visibility_timeout": 900})
    [journal] = journals(config)
    handles = [
        h for line in journal.read_text().splitlines()[1:] for h in json.loads(line)["handles"]
    ]
    assert len(handles) == 25
    assert hidden == dict.fromkeys(handles, 900)


def test_loader_mode_emits_the_loader_fields_and_deletes_nothing(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    send(sqs, queue_url, 12)
    out = run_tap({**config, "acknowledgement": "loader"})
    schema = next(m for m in out if m["type"] == "SCHEMA")["schema"]["properties"]
    assert {"queue_url", "receipt_handle"} <= schema.keys()
    assert all(r["queue_url"] == queue_url and r["receipt_handle"] for r in records(out))
    assert set(bookmarks(out)) == {None}
    assert len(on_queue(queue_url)) == 12
    assert journals(config) == []


def test_any_mode_first_honours_an_after_state_bookmark(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    send(sqs, queue_url, 7)
    first = run_tap(config)
    out = run_tap({**config, "acknowledgement": "loader"}, state_of(bookmarks(first)[-1]))  # type: ignore[arg-type]
    assert on_queue(queue_url) == set()
    assert bookmarks(out)[-1] is None


def test_on_emit_deletes_each_message_once_its_record_is_written(
    sqs: Any,
    queue_url: str,
    config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = io.StringIO()
    deleted = 0
    delete = SqsQueue.delete

    def checked(self: SqsQueue, handles: list[str]) -> list[str]:
        nonlocal deleted
        deleted += len(handles)
        assert deleted <= out.getvalue().count('"type":"RECORD"')
        return delete(self, handles)

    monkeypatch.setattr(SqsQueue, "delete", checked)
    send(sqs, queue_url, 47)
    caplog.set_level(logging.WARNING)
    assert len(records(run_tap({**config, "acknowledgement": "on_emit"}, out=out))) == 47
    assert deleted == 47
    assert on_queue(queue_url) == set()
    assert "acknowledgement is on_emit" in caplog.text
    assert journals(config) == []


def test_an_unknown_mode_is_refused_naming_the_setting(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError) as error:
        run_tap({**config, "acknowledgement": "sometimes"})
    assert any("acknowledgement" in line for line in error.value.errors), error.value.errors


def test_an_unusable_journal_dir_names_the_setting(
    sqs: Any, queue_url: str, config: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(FatalAPIError, match="check journal_dir"):
        run_tap({**config, "journal_dir": str(tmp_path / "file" / "journal")})
