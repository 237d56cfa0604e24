"""The alert settings, destinations and thresholds (orchestrate/alerts.py, orchestrate/ticks.py)."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrate import alerts
from orchestrate.ticks import field_values, longest_gap, longest_gap_seconds

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

START = date(2026, 12, 2)  # a Wednesday


@pytest.mark.parametrize(
    ("cron", "gap"),
    [
        ("*/15 * * * *", timedelta(minutes=15)),
        ("* * * * *", timedelta(minutes=1)),
        ("5,50 * * * *", timedelta(minutes=45)),
        ("0 */6 * * *", timedelta(hours=6)),
        ("0 0 * * *", timedelta(days=1)),
        ("0 9 * * 1-5", timedelta(days=3)),  # Friday 9:00 to Monday 9:00
        ("0 9 * * MON-FRI", timedelta(days=3)),
        ("0 0 * * 7", timedelta(days=7)),  # 7 is Sunday too
        ("0 0 1 * *", timedelta(days=31)),
        ("0 0 1 JAN *", timedelta(days=366)),  # 2028 is a leap year
        ("0 0 1,15 * 0", timedelta(days=7)),  # day of month OR day of week
        ("0 0 29 2 *", timedelta(days=4 * 365 + 1)),  # leap days only
    ],
)
def test_longest_gap(cron: str, gap: timedelta) -> None:
    assert longest_gap(cron, START) == gap


@pytest.mark.parametrize("cron", ["* * * *", "61 * * * *", "0 0 31 2 *", "0 0 * * 8", "x * * * *"])
def test_a_bad_cron_expression_is_refused(cron: str) -> None:
    with pytest.raises(ValueError, match="cron"):
        longest_gap(cron, START)
    assert longest_gap_seconds(cron) is None  # no stall check rather than no orchestrator


def brute_force_gap(cron: str, days: int) -> timedelta:
    """The longest gap between ticks within `days` days, found minute by minute."""
    minute, hour, _, _, _ = (field_values(f, i) for i, f in enumerate(cron.split()))
    start = datetime(START.year, START.month, START.day)
    ticks = [
        start + timedelta(minutes=m)
        for m in range(days * 1440)
        if (m % 60) in minute and (m // 60) % 24 in hour
    ]
    return max(b - a for a, b in pairwise(ticks))


def step_field(values: st.SearchStrategy[int], high: int) -> st.SearchStrategy[str]:
    """A cron field: a list of numbers, a range with a step, or `*/n`."""
    return st.one_of(
        st.lists(values, min_size=1, max_size=4).map(lambda v: ",".join(map(str, v))),
        st.tuples(values, values, st.integers(1, 7)).map(
            lambda t: f"{min(t[:2])}-{max(t[:2])}/{t[2]}"
        ),
        st.integers(1, high).map(lambda n: f"*/{n}"),
    )


@settings(max_examples=60, deadline=None)
@given(
    minute=step_field(st.integers(0, 59), 59),
    hour=st.one_of(st.just("*"), step_field(st.integers(0, 23), 23)),
)
def test_the_gap_of_daily_patterns_matches_a_minute_by_minute_count(minute: str, hour: str) -> None:
    cron = f"{minute} {hour} * * *"
    assert longest_gap(cron, START) == brute_force_gap(cron, 3)


def test_the_environment_wins_over_the_project_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\n"
        "export ALERT_COMMAND='cat > /tmp/x'\n"
        'ALERT_WEBHOOK_URL="http://file.example/hook"\n'
        "ALERT_STALE_AFTER_SECONDS=600\n"
        "TAP_SQS_LOGINS_MASK_KEY=not-an-alert-setting\n"
    )
    found = alerts.settings({"ALERT_WEBHOOK_URL": "http://env.example/hook"}, tmp_path)
    assert found == {
        "ALERT_COMMAND": "cat > /tmp/x",
        "ALERT_WEBHOOK_URL": "http://env.example/hook",
        "ALERT_STALE_AFTER_SECONDS": "600",
    }
    assert alerts.settings({}, tmp_path / "none") == {}


@pytest.mark.parametrize(
    ("gap", "configured", "seconds"),
    [
        (900, {}, 1800.0),
        (900, {"ALERT_STALE_AFTER_SECONDS": "45"}, 45.0),
        (None, {"ALERT_STALE_AFTER_SECONDS": "45"}, 45.0),
        (None, {}, None),  # a cron expression orchestrate.ticks does not understand
    ],
)
def test_stale_after(gap: float | None, configured: dict[str, str], seconds: float | None) -> None:
    assert alerts.stale_after_seconds(gap, configured) == seconds


@pytest.mark.parametrize("text", ["0", "-5", "soon", "nan"])
def test_a_bad_stale_after_names_the_setting(text: str) -> None:
    with pytest.raises(ValueError, match="ALERT_STALE_AFTER_SECONDS"):
        alerts.stale_after_seconds(900, {"ALERT_STALE_AFTER_SECONDS": text})


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[object]]]:
    """A loopback HTTP server keeping the JSON bodies POSTed to it."""
    bodies: list[object] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200 if self.path == "/ok" else 500)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", bodies
    server.shutdown()
    server.server_close()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=st.text(min_size=1, max_size=300))
def test_every_destination_gets_the_message(
    message: str, webhook: tuple[str, list[object]], tmp_path: Path
) -> None:
    url, bodies = webhook
    bodies.clear()
    written = tmp_path / "alert.txt"
    configured = {"ALERT_WEBHOOK_URL": f"{url}/ok", "ALERT_COMMAND": f"cat > {written}"}
    assert alerts.notify(message, configured) == []
    [body] = bodies
    assert isinstance(body, dict)
    assert set(body) == {"text"}
    assert body["text"].endswith(message)
    assert written.read_bytes() == body["text"].encode(errors="replace")


def test_undelivered_alerts_name_the_setting(webhook: tuple[str, list[object]]) -> None:
    url, _ = webhook
    errors = alerts.notify("x", {"ALERT_WEBHOOK_URL": f"{url}/broken", "ALERT_COMMAND": "exit 3"})
    assert [error.split(":")[0] for error in errors] == ["ALERT_WEBHOOK_URL", "ALERT_COMMAND"]
    assert "exited 3" in errors[1]
    [error] = alerts.notify("x", {"ALERT_WEBHOOK_URL": "ftp://example/hook"})
    assert error.startswith("ALERT_WEBHOOK_URL: must start with http:// or https://")


def test_the_reason_of_a_failure_is_the_last_run_s_error_lines() -> None:
    log = [
        "2026-12-02T17:00:00.1Z [info     ] meltano      Meltano 4.4.1, Python 3.11.7, Linux",
        "2026-12-02T17:00:01.1Z [error    ] meltano      an old run's error",
        "2026-12-02T17:15:00.1Z [info     ] meltano      Meltano 4.4.1, Python 3.11.7, Linux",
        "2026-12-02T17:15:01.1Z [info     ] dbt-postgres \x1b[31mFailure in test not_null_x\x1b[0m",
        "2026-12-02T17:15:01.2Z [info     ] dbt-postgres Done. PASS=3 WARN=0 ERROR=1 SKIP=0",
        "2026-12-02T17:15:02.1Z [info     ] meltano      Run completed",
    ]
    assert alerts.failure_reason(log) == (
        "dbt-postgres Failure in test not_null_x\ndbt-postgres Done. PASS=3 WARN=0 ERROR=1 SKIP=0"
    )


def test_the_reason_of_a_failure_in_json_log_format() -> None:
    def line(**entry: object) -> str:
        return json.dumps({"level": "info", "timestamp": "2026-12-02T17:51:16Z", **entry})

    log = [
        line(event="Meltano 4.4.1, Python 3.11.7, Linux (x86_64)"),
        line(event="Parsing 'queue_url' config", string_id="tap-sqs-logins"),
        line(
            event="cannot reach http://127.0.0.1:1: check endpoint_url",
            string_id="tap-sqs-logins",
            level="error",
        ),
        line(event="Extractor and loader failed", level="error"),
        "[not json",
    ]
    assert alerts.failure_reason(log) == (
        "tap-sqs-logins: cannot reach http://127.0.0.1:1: check endpoint_url\n"
        "meltano: Extractor and loader failed"
    )
