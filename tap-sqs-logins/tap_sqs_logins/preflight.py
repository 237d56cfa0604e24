"""Check Postgres and SQS before the job touches a message; name the setting to fix.

Run first in the job as ``tap-sqs-logins-ack --check``: a wrong setting then fails the run
with one line instead of a loader traceback after the tap has already received messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from tap_sqs_logins.client import QueueError, SqsQueue

if TYPE_CHECKING:
    from collections.abc import Mapping

# Fragments of libpq's messages, most specific first: the settings that fix each.
POSTGRES_HINTS = (
    ("password authentication failed", "TARGET_POSTGRES_USER and TARGET_POSTGRES_PASSWORD"),
    ("no password supplied", "TARGET_POSTGRES_PASSWORD"),
    ('role "', "TARGET_POSTGRES_USER"),
    ('database "', "TARGET_POSTGRES_DATABASE"),
    ("translate host name", "TARGET_POSTGRES_HOST"),
)
ADDRESS_HINT = "TARGET_POSTGRES_HOST and TARGET_POSTGRES_PORT"


class PreflightError(RuntimeError):
    """A service cannot be used as configured; the message names the setting to fix."""


def check_postgres(conninfo: str) -> None:
    """Connect once to the target database.

    Raises:
        PreflightError: If the connection fails.
    """
    try:
        psycopg.connect(conninfo, connect_timeout=10).close()
    except psycopg.OperationalError as error:
        text = str(error).strip() or type(error).__name__
        detail = text.splitlines()[0].rpartition(" failed: ")[2]
        hint = next((hint for key, hint in POSTGRES_HINTS if key in text), ADDRESS_HINT)
        info = psycopg.conninfo.conninfo_to_dict(conninfo)
        where = f"{info.get('host')}:{info.get('port')}/{info.get('dbname')}"
        msg = f"cannot connect to Postgres at {where} ({detail}): check {hint}"
        raise PreflightError(msg) from None


def check_queues(config: Mapping[str, Any]) -> None:
    """Read the attributes of the source queue and, if set, the dead-letter queue.

    Raises:
        PreflightError: If SQS cannot be reached or a queue does not exist.
    """
    urls = {"queue_url": config["queue_url"]}
    if config.get("dead_letter_queue_url"):
        urls["dead_letter_queue_url"] = config["dead_letter_queue_url"]
    for setting, url in urls.items():
        try:
            SqsQueue(config, url).check()
        except QueueError as error:
            msg = str(error).replace("check queue_url", f"check {setting}")
            raise PreflightError(msg) from None
