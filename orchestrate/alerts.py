"""Tell operators that a scheduled run failed or stalled (standard library only).

Both the Dagster sensors (in the orchestrator's virtualenv) and the cron lines (in the
project's) send their alerts here. Configured by environment variables, read also from the
project's `.env` (the environment wins):

- ALERT_WEBHOOK_URL: POST `{"text": message}` as JSON (a Slack or Mattermost incoming
  webhook, or any HTTP endpoint);
- ALERT_COMMAND: a shell command (`/bin/sh -c`) that gets the message on its standard input,
  e.g. `mail -s "tap-sqs-logins" ops@example.com`;
- ALERT_STALE_AFTER_SECONDS: a schedule with no successful run for this long is stalled
  (default: twice the longest wait between two of its ticks).

With neither destination set, the alert only goes to the standard error (the run's log).

    python -m orchestrate.alerts "a test alert"    # send one, to check the configuration
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from typing import TYPE_CHECKING
from urllib.error import URLError

from orchestrate.schedules import PROJECT_ROOT

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

SETTINGS = ("ALERT_WEBHOOK_URL", "ALERT_COMMAND", "ALERT_STALE_AFTER_SECONDS")
TIMEOUT_SECONDS = 20
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MELTANO_PREFIX = re.compile(r"^\S+Z \[\w+\s*\] ")  # `2026-…Z [info     ] `
RUN_START = re.compile(r"Meltano \d+\.\d+\.\d+, Python")  # the first line of every command
REASON = re.compile(r"error|fail|cannot|refused|denied|invalid|check |exception", re.IGNORECASE)
REASON_LINES = 15  # lines of a failed run's output quoted in its alert


def dotenv(path: Path) -> dict[str, str]:
    """The `NAME=value` lines of a .env file (`export`, quotes and comments allowed)."""
    values = {}
    if path.is_file():
        for raw in path.read_text(errors="replace").splitlines():
            line = raw.strip().removeprefix("export ").strip()
            name, equals, value = line.partition("=")
            if line.startswith("#") or not equals:
                continue
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[name.strip()] = value
    return values


def settings(
    environ: Mapping[str, str] | None = None, project_root: Path = PROJECT_ROOT
) -> dict[str, str]:
    """The ALERT_* settings: the environment's, else the project's .env."""
    environ = os.environ if environ is None else environ
    from_file = dotenv(project_root / ".env")
    values = {name: environ.get(name, from_file.get(name, "")) for name in SETTINGS}
    return {name: value for name, value in values.items() if value.strip()}


def stale_after_seconds(
    longest_gap_seconds: float | None, configured: Mapping[str, str]
) -> float | None:
    """Seconds without a successful run after which a schedule counts as stalled.

    None (no stall check) when neither the setting nor the schedule's gap is known.
    """
    text = configured.get("ALERT_STALE_AFTER_SECONDS")
    if text is None:
        return None if longest_gap_seconds is None else 2 * longest_gap_seconds
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        msg = f"ALERT_STALE_AFTER_SECONDS must be a positive number of seconds, not {text!r}"
        raise ValueError(msg)
    return seconds


def readable(line: str) -> str:
    """One line of Meltano's output without its log prefix.

    `<plugin or meltano>: <event>` for `--log-format=json`; otherwise the line after its time
    stamp and level.
    """
    plain = ANSI.sub("", line)
    try:
        entry = json.loads(plain)
    except (ValueError, RecursionError):
        return MELTANO_PREFIX.sub("", plain)
    if not isinstance(entry, dict) or "event" not in entry:
        return plain
    return f"{entry.get('string_id') or 'meltano'}: {entry['event']}"


def failure_reason(lines: list[str]) -> str:
    """The lines of a failed Meltano command's output that say why, without its log prefixes.

    Only the lines after the command's last start banner count (a cron log holds many runs).
    """
    starts = [i for i, line in enumerate(lines) if RUN_START.search(line)]
    plain = [readable(line) for line in lines[starts[-1] if starts else 0 :]]
    return "\n".join([line for line in plain if REASON.search(line)][-REASON_LINES:])


def duration(seconds: float) -> str:
    """`seconds` for people: 45 s, 30 min, 2.5 h, 3.0 days."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def post(url: str, message: str) -> None:
    """POST `{"text": message}` to `url`."""
    if not url.startswith(("http://", "https://")):
        msg = "must start with http:// or https://"
        raise ValueError(msg)
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked above)
        url,
        data=json.dumps({"text": message}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):  # noqa: S310
        pass


def run_command(command: str, message: str) -> None:
    """Run ALERT_COMMAND with `message` on its standard input."""
    result = subprocess.run(  # noqa: S602  (the operator's own command)
        command,
        shell=True,
        input=message.encode(errors="replace"),
        capture_output=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode:
        stderr = result.stderr.decode(errors="replace").strip()[-500:]
        msg = f"exited {result.returncode}: {stderr}"
        raise RuntimeError(msg)


def notify(message: str, configured: Mapping[str, str] | None = None) -> list[str]:
    """Send `message` to every configured destination; return what could not be delivered."""
    configured = settings() if configured is None else configured
    text = f"[tap-sqs-logins on {socket.gethostname()}] {message}"
    print(f"ALERT: {text}", file=sys.stderr, flush=True)
    errors = []
    if url := configured.get("ALERT_WEBHOOK_URL"):
        try:
            post(url, text)
        except (URLError, OSError, ValueError) as error:
            errors.append(f"ALERT_WEBHOOK_URL: {error}")
    if command := configured.get("ALERT_COMMAND"):
        try:
            run_command(command, text)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
            errors.append(f"ALERT_COMMAND: {error}")
    for undelivered in errors:
        print(f"alert not delivered: {undelivered}", file=sys.stderr, flush=True)
    return errors


def main(argv: list[str] | None = None) -> int:
    """Send a test alert; exit 1 if a configured destination did not take it."""
    words = sys.argv[1:] if argv is None else argv
    configured = settings()
    if not {"ALERT_WEBHOOK_URL", "ALERT_COMMAND"} & set(configured):
        print("no ALERT_WEBHOOK_URL or ALERT_COMMAND set: alerts go to the logs only")
    return 1 if notify(" ".join(words) or "test alert", configured) else 0


if __name__ == "__main__":
    sys.exit(main())
