"""The tap alone behind a latency proxy: one receiver vs the default `receive_concurrency`.

SQS calls cost 10-30 ms on AWS, ~0.5 ms on LocalStack. With `delay_ms` added to every request
(bench.latency_proxy), the tap reads a fresh queue twice: with `receive_concurrency` 1 and with
its default. Throughput is counted from the first record to the last, so start-up is left out
(total seconds are reported too). Goal: the default is at least 4x the single receiver.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import queues
from bench.runs import BIN, MASK_KEY, REPO
from localenv.process import free_port, wait_for_port

if TYPE_CHECKING:
    from bench.runs import Context

TAP = REPO / ".meltano/extractors/tap-sqs-logins/venv/bin/tap-sqs-logins"
SETTING = "receive_concurrency"
GOAL = 4.0
MASKING = {
    "masked_ip": "mask(ip)",
    "ip": None,
    "masked_device_id": "mask(device_id)",
    "device_id": None,
}


def supports_setting() -> bool:
    """Whether the installed tap declares `receive_concurrency`."""
    about = subprocess.run(
        [str(TAP), "--about", "--format", "json"], capture_output=True, text=True, check=False
    )
    try:
        return SETTING in json.loads(about.stdout)["settings"]["properties"]
    except (ValueError, KeyError):
        return False


def tap_run(ctx: Context, endpoint: str, count: int, concurrency: int | None) -> dict[str, Any]:
    """Run the tap on a fresh queue of `count` through `endpoint`; output discarded, counted."""
    queue_url = queues.new_queue(ctx.endpoint, "bench-latency")
    queues.fill(ctx.endpoint, queue_url, count)
    config: dict[str, Any] = {
        "queue_url": queue_url,
        "endpoint_url": endpoint,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
        "wait_time_seconds": ctx.wait_time,
        "mask_key": MASK_KEY,
        "stream_maps": {"logins": MASKING},
    }
    if concurrency is not None:
        config[SETTING] = concurrency
    label = "default" if concurrency is None else str(concurrency)
    path = ctx.logs / f"latency-tap-{label}.json"
    path.write_text(json.dumps(config))
    log = ctx.logs / f"latency-tap-{label}.log"
    records, first, last = 0, 0.0, 0.0
    started = time.monotonic()
    with log.open("wb") as err:
        tap = subprocess.Popen(
            [str(TAP), "--config", str(path)], stdout=subprocess.PIPE, stderr=err, cwd=REPO
        )
        assert tap.stdout is not None
        for line in tap.stdout:
            if b'"RECORD"' in line[:30]:
                records += 1
                last = time.monotonic()
                first = first or last
        code = tap.wait()
    total = time.monotonic() - started
    queues.delete_queue(ctx.endpoint, queue_url)
    streaming = last - first
    return {
        "receive_concurrency": label,
        "exit_code": code,
        "records": records,
        "seconds": round(total, 2),
        "streaming_seconds": round(streaming, 2),
        "msg_per_s": round(records / streaming, 1) if streaming else 0.0,
        "log": str(log),
    }


def run(ctx: Context, sqs_port: int, count: int, delay_ms: int) -> dict[str, Any]:
    """Both runs behind the proxy; the report lines and the ratio."""
    port = free_port()
    argv = [
        str(BIN / "python"),
        "-m",
        "bench.latency_proxy",
        str(port),
        str(sqs_port),
        str(delay_ms),
    ]
    proxy = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, proxy.pid, Path("/dev/null"))
        endpoint = f"http://127.0.0.1:{port}"
        if not supports_setting():
            single = tap_run(ctx, endpoint, count, None)
            return _result(count, delay_ms, single, None, f"the tap has no {SETTING} setting")
        single = tap_run(ctx, endpoint, count, 1)
        default = tap_run(ctx, endpoint, count, None)
    finally:
        proxy.terminate()
        proxy.wait()
    problem = next(
        (f"tap exited {r['exit_code']}" for r in (single, default) if r["exit_code"]), None
    )
    return _result(count, delay_ms, single, default, problem)


def _result(
    count: int,
    delay_ms: int,
    single: dict[str, Any],
    default: dict[str, Any] | None,
    note: str | None,
) -> dict[str, Any]:
    head = f"latency (+{delay_ms} ms per SQS request, tap alone, {count:,} messages):"
    line = (
        "  receive_concurrency {receive_concurrency}: {msg_per_s:,.0f} msg/s streaming, "
        "{seconds:.1f} s in all, {records:,} records"
    )
    lines = [head, line.format(**single)]
    ratio = None
    if default is not None:
        lines.append(line.format(**default))
        ratio = default["msg_per_s"] / single["msg_per_s"] if single["msg_per_s"] else None
    verdict = (
        "n/a"
        if ratio is None
        else f"{ratio:.2f}x ({'met' if ratio >= GOAL else 'NOT met'}, goal >= {GOAL:.0f}x)"
    )
    lines.append(f"  default / single receiver: {verdict}" + (f" ({note})" if note else ""))
    ok = all(r["records"] == count and not r["exit_code"] for r in (single, default) if r)
    return {"lines": lines, "single": single, "default": default, "ratio": ratio, "ok": ok}


if __name__ == "__main__":
    sys.exit("run through `python -m bench`")
