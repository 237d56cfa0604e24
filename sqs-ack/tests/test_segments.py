"""target-postgres in segments: a new process after each commit request, nothing lost between."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqs_ack.segments import SegmentedTarget

from tap_sqs_logins.settings import COMMIT_REQUEST

if TYPE_CHECKING:
    from pathlib import Path

# A stand-in for target-postgres: saves its whole input in a new numbered file, then exits.
SAVE = (
    "import os, sys; d = sys.argv[1]; data = sys.stdin.buffer.read();"
    "n = len(os.listdir(d)); open(os.path.join(d, f'{n:04d}'), 'wb').write(data);"
    "sys.exit(int(sys.argv[2]) if n == int(sys.argv[3]) else 0)"
)


def record(value: str) -> bytes:
    line = {"type": "RECORD", "stream": "logins", "record": {value: value, "v": COMMIT_REQUEST}}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def schema(name: str) -> bytes:
    line = {"type": "SCHEMA", "stream": name, "schema": {"properties": {}}, "key_properties": []}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def request(n: int) -> bytes:
    return (
        json.dumps({"type": "STATE", "value": {COMMIT_REQUEST: n}}, separators=(",", ":")).encode()
        + b"\n"
    )


def run(
    tmp: Path, data: bytes, cuts: list[int], fail_status: int = 0, failing: int = -1
) -> tuple[int, list[bytes]]:
    out = tmp / f"out-{os.urandom(4).hex()}"
    out.mkdir()
    command = [sys.executable, "-c", SAVE, str(out), str(fail_status), str(failing)]
    target = SegmentedTarget(command, lambda: None)
    read, write = os.pipe()
    watched: list[bytes] = []
    feed = threading.Thread(target=target.feed, args=(read, watched.append))
    feed.start()
    with os.fdopen(write, "wb") as pipe:
        start = 0
        for cut in [*sorted(cuts), len(data)]:  # the tap's output arrives in any pieces
            try:
                pipe.write(data[start:cut])
                pipe.flush()
            except BrokenPipeError:
                break
            start = cut
    feed.join()
    os.close(read)
    status = target.wait()
    assert not target.running()
    assert b"".join(watched) == data  # every chunk is seen, to be offered back on a failure
    return status, [path.read_bytes() for path in sorted(out.iterdir())]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # each example writes to a directory of its own
@given(
    parts=st.lists(
        st.one_of(
            st.text(min_size=0, max_size=30).map(record),
            st.integers(1, 9).map(request),
            st.sampled_from(["logins", "sealed_logins"]).map(schema),
        ),
        max_size=12,
    ),
    cut_points=st.lists(st.floats(0, 1), max_size=6),
)
def test_each_commit_request_ends_a_segment_and_nothing_else_is_lost(
    tmp_path: Path, parts: list[bytes], cut_points: list[float]
) -> None:
    data = b"".join(parts)
    status, segments = run(tmp_path, data, [int(point * len(data)) for point in cut_points])
    expected: list[bytes] = [b""]
    schemas: list[bytes] = []  # each new target first gets the schemas seen so far
    for part in parts:
        if part.startswith(b'{"type":"STATE"'):
            expected.append(b"".join(schemas))
        else:
            expected[-1] += part
            if part.startswith(b'{"type":"SCHEMA"') and part not in schemas:
                schemas.append(part)
    assert status == 0
    assert segments == expected


def test_a_failed_segment_stops_the_feed_with_its_status(tmp_path: Path) -> None:
    data = schema("logins") + record("a") + request(1) + record("b") + request(2) + record("c")
    status, segments = run(tmp_path, data, [], fail_status=3, failing=1)
    assert status == 3
    # No third target after the failure.
    assert segments == [schema("logins") + record("a"), schema("logins") + record("b")]
