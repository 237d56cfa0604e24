"""Check Postgres and SQS before target-postgres starts; name the setting to fix.

A wrong setting fails the run with one line instead of a loader traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from sqs_ack.target_settings import env_name
from tap_sqs_logins import LOADER, QueueError, SqsQueue

if TYPE_CHECKING:
    from collections.abc import Mapping

# Fragments of libpq's messages, most specific first: the settings that fix each.
POSTGRES_HINTS = (
    ("password authentication failed", ("user", "password")),
    ("no password supplied", ("password",)),
    ('role "', ("user",)),
    ('database "', ("database",)),
    ("translate host name", ("host",)),
)
ADDRESS_HINT = ("host", "port")
# Logins are Unicode (emoji, any script): only UTF8 stores each one the tap passes.
ENCODING = "UTF8"


class PreflightError(RuntimeError):
    """A service cannot be used as configured; the message names the setting to fix."""


def check_postgres(conninfo: str) -> None:
    """Connect once to the target database and check that it stores any Unicode text.

    Raises:
        PreflightError: If the connection fails, or the database or the connection's
            encoding is not UTF8.
    """
    try:
        with psycopg.connect(conninfo, connect_timeout=10) as connection:
            _check_encoding(connection)
    except psycopg.OperationalError as error:
        text = str(error).strip() or type(error).__name__
        detail = text.splitlines()[0].rpartition(" failed: ")[2]
        names = next((names for key, names in POSTGRES_HINTS if key in text), ADDRESS_HINT)
        hint = " and ".join(f"{name} ({env_name(name)})" for name in names)
        info = psycopg.conninfo.conninfo_to_dict(conninfo)
        where = f"{info.get('host')}:{info.get('port')}/{info.get('dbname')}"
        msg = f"cannot connect to Postgres at {where} ({detail}): check target-postgres {hint}"
        raise PreflightError(msg) from None


def _check_encoding(connection: psycopg.Connection[Any]) -> None:
    """Refuse a database or a session that would fail to store a login of any script."""
    info = connection.info
    server = info.parameter_status("server_encoding")
    client = info.parameter_status("client_encoding")
    if server != ENCODING:
        msg = (
            f"Postgres database {info.dbname} has server_encoding {server}, which "
            f"cannot store every login (emoji, any script): check target-postgres database "
            f"({env_name('database')}), use a {ENCODING} database "
            f"(createdb --encoding={ENCODING} --template=template0)"
        )
        raise PreflightError(msg)
    if client != ENCODING:
        msg = (
            f"Postgres connections to {info.dbname} use client_encoding {client}, "
            f"which cannot carry every login: check PGCLIENTENCODING, unset it or set it to "
            f"{ENCODING}"
        )
        raise PreflightError(msg)


def check_acknowledgement(config: Mapping[str, Any]) -> None:
    """The tap leaves deleting to this loader, and emits the receipt handles it needs.

    Raises:
        PreflightError: If the tap's ``acknowledgement`` is not ``loader``.
    """
    if config.get("acknowledgement") != LOADER:
        msg = (
            f"tap-sqs-logins acknowledgement is {config.get('acknowledgement')!r}, but sqs-ack "
            "deletes, once Postgres has committed: check tap-sqs-logins acknowledgement "
            f"(TAP_SQS_LOGINS_ACKNOWLEDGEMENT), it must be {LOADER!r}, as the job's extractor "
            "tap-sqs-logins--postgres sets it in meltano.yml"
        )
        raise PreflightError(msg)


def check_queues(config: Mapping[str, Any]) -> None:
    """Read the attributes of the tap's source queue and, if set, its dead-letter queue.

    Raises:
        PreflightError: If SQS cannot be reached or a queue does not exist.
    """
    urls = {"queue_url": config["queue_url"]}
    if config.get("dead_letter_queue_url"):
        urls["dead_letter_queue_url"] = config["dead_letter_queue_url"]
    for setting, url in urls.items():
        try:
            SqsQueue(config, url, setting=setting).check()
        except QueueError as error:
            raise PreflightError(f"tap-sqs-logins: {error}") from None
