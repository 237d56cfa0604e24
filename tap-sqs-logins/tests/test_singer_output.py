"""The tap's msgspec writer: the same messages as the SDK's default writer, to any stdout."""

from __future__ import annotations

import datetime
import decimal
import io
import json
import sys
import threading
from contextlib import redirect_stdout
from typing import Any

from singer_sdk.singerlib.encoding.simple import RecordMessage, SimpleSingerWriter, StateMessage

from tap_sqs_logins.singer_output import SingerWriter

RECORD = RecordMessage(
    stream="logins",
    record={
        "user_id": "ü-用户-😀",
        "sent_at": datetime.datetime(2026, 5, 2, 0, 54, 6, 655000, tzinfo=datetime.timezone.utc),
        "amount": decimal.Decimal("12.50"),
        "ratio": float("nan"),
        "nested": {"a": [1, None, True]},
    },
)


def parsed(line: str | bytes) -> dict[str, Any]:
    """The message, its timestamp as a datetime: msgspec writes UTC as `Z`, simplejson `+00:00`."""
    message: dict[str, Any] = json.loads(line, parse_float=decimal.Decimal)
    record = message.get("record", {})
    if "sent_at" in record:
        record["sent_at"] = datetime.datetime.fromisoformat(record["sent_at"])
    return message


def test_the_same_json_as_the_sdk_default_writer() -> None:
    ours = SingerWriter().format_message(RECORD)
    theirs = SimpleSingerWriter().format_message(RECORD)
    assert ours.endswith(b"\n")
    assert ours.count(b"\n") == 1
    assert parsed(ours) == parsed(theirs)
    assert parsed(ours)["record"]["ratio"] is None  # NaN is null in both


def test_writes_bytes_to_a_binary_stdout_and_text_to_a_text_one() -> None:
    binary = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    saved = sys.stdout
    sys.stdout = binary
    try:
        SingerWriter().write_message(RECORD)
    finally:
        sys.stdout = saved
    text = io.StringIO()
    with redirect_stdout(text):
        SingerWriter().write_message(RECORD)
    written = binary.buffer.getvalue()
    assert written.decode() == text.getvalue()
    assert parsed(written) == parsed(SimpleSingerWriter().format_message(RECORD))


def test_threads_writing_at_once_each_get_whole_lines() -> None:
    writer = SingerWriter()
    lines: list[bytes] = []

    def write(n: int) -> None:
        for i in range(500):
            lines.append(writer.format_message(StateMessage(value={"thread": n, "i": i})))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((m["value"]["thread"], m["value"]["i"]) for m in map(parsed, lines)) == sorted(
        (n, i) for n in range(4) for i in range(500)
    )
