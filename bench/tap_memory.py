"""Peak memory of the tap reading 10,000 vs 100,000 queued messages: it should stay flat.

Runs the installed tap (`.meltano/extractors/tap-sqs-logins`, with the masking stream map)
against a moto server in this process, and polls its peak RSS (VmHWM) every 20 ms. The queue is
seeded straight into moto's backend, and receives skip the messages already in flight, since
moto otherwise spends O(queue length) per call (see localenv/fastmoto.py). Usage, from the
repository root: `make bench` or `.venv/bin/python -m bench.tap_memory [COUNT ...]`.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer
from moto.sqs import models

from localenv import fastmoto
from localenv.process import free_port
from localenv.sample import sample_bodies

REPO = Path(__file__).resolve().parent.parent
TAP = REPO / ".meltano/extractors/tap-sqs-logins/venv/bin/tap-sqs-logins"
COUNTS = (10_000, 100_000)
FLAT = 1.2  # the largest run may use at most 20% more memory than the smallest
MASKING = {
    "masked_ip": "mask(ip)",
    "ip": None,
    "masked_device_id": "mask(device_id)",
    "device_id": None,
}


def _next_visible(self: models.Queue) -> list[models.Message]:
    """The next ten visible messages; those before the cursor are in flight (never deleted)."""
    start = getattr(self, "_bench_cursor", 0)
    while start < len(self._messages) and not self._messages[start].visible:
        start += 1
    self._bench_cursor = start  # type: ignore[attr-defined]
    return [m for m in self._messages[start : start + 10] if m.visible and not m.delayed]


def seed(queue_url: str, count: int) -> None:
    """Put `count` sample messages on the queue through moto's backend (O(1) each)."""
    account, name = queue_url.rsplit("/", 2)[1:]
    queue = models.sqs_backends[account]["us-east-1"].queues[name]
    for body in sample_bodies(count, seed=count):
        message = models.Message(str(uuid.uuid4()), body)
        message.mark_sent()
        queue.add_message(message)


def measure(endpoint: str, count: int, workdir: Path) -> tuple[int, float, float]:
    """Run the tap on a queue of `count` messages; return (records, max RSS MiB, seconds)."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - moto accepts any
    )
    queue_url = sqs.create_queue(QueueName=f"bench-{count}")["QueueUrl"]
    seed(queue_url, count)
    config = workdir / f"config-{count}.json"
    config.write_text(
        json.dumps(
            {
                "queue_url": queue_url,
                "wait_time_seconds": 0,
                "visibility_timeout": 43200,
                "mask_key": "bench-key-NOT-SECRET-0123456789",
                "stream_maps": {"logins": MASKING},
            }
        )
    )
    output = workdir / f"out-{count}.jsonl"
    started = time.monotonic()
    with output.open("wb") as out:
        tap = subprocess.Popen(
            [str(TAP), "--config", str(config)],
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        peak_kib = 0
        while tap.poll() is None:
            peak_kib = max(peak_kib, high_water_kib(tap.pid))
            time.sleep(0.02)
    seconds = time.monotonic() - started
    if tap.returncode:
        raise SystemExit(f"the tap failed on {count} messages")
    with output.open("rb") as lines:
        records = sum(b'"type":"RECORD"' in line for line in lines)
    return records, peak_kib / 1024, seconds


def high_water_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), 0 once it has exited.

    Not `wait4`'s ru_maxrss: Linux counts in it the forking parent's memory, here moto's
    queue, which grows with the message count.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), "0 0")
    return int(line.split()[1])


def main(counts: list[int]) -> int:
    """Print a table of peak RSS per queue size; return 1 if it grew by more than 20%."""
    fastmoto.apply()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    models.Queue.messages = property(_next_visible)  # type: ignore[assignment,method-assign]
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for count in counts:
                rows.append((count, *measure(f"http://127.0.0.1:{port}", count, Path(workdir))))
    finally:
        server.stop()
    print(f"{'queued':>9} {'records':>9} {'max RSS MiB':>12} {'seconds':>8}")
    for count, records, rss, seconds in rows:
        print(f"{count:>9,} {records:>9,} {rss:>12.1f} {seconds:>8.1f}")
    growth = rows[-1][2] / rows[0][2]
    flat = growth <= FLAT and all(records == count for count, records, *_ in rows)
    print(
        f"peak RSS grew {growth - 1:+.1%} from {rows[0][0]:,} to {rows[-1][0]:,} messages: "
        + ("flat (within 20%)" if flat else "NOT flat, or records were lost")
    )
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main([int(arg) for arg in sys.argv[1:]] or list(COUNTS)))
