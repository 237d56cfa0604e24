"""A readable end-of-run summary from the database and the queue."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psycopg

from localenv.postgres import conninfo
from localenv.sqs import local_queue
from tap_sqs_logins import QueueError

if TYPE_CHECKING:
    from localenv.settings import Settings

DELIVERIES = "sqs_logins.login_deliveries"
QUARANTINE = "sqs_logins.quarantined_messages"
FINAL = "public.user_logins"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
REJECTED = "_sdc_batched_at >= %s AND rejection_reason IS NOT NULL"


def summarize(settings: Settings, since: datetime | None = None) -> str:
    """Return the summary of the run that started at `since` (None: of all runs)."""
    lines = [f"Summary {'since ' + since.isoformat() if since else 'over all runs'}:"]
    staging = f"{settings.schema}.logins"
    dsn = conninfo(
        settings.host, settings.port, settings.user, settings.password, settings.database
    )
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET TIME ZONE 'UTC'")  # target-postgres stores UTC without zone
            lines += _database_lines(conn, staging, since or EPOCH)
    except psycopg.OperationalError as error:
        lines.append(
            f"  database:                        cannot connect ({error}); "
            "check target-postgres settings"
        )
    lines.append(_queue_line(settings))
    lines.append(
        f"Connect: psql -h {settings.host} -p {settings.port} -U {settings.user} "
        f"-d {settings.database}   (password: $TARGET_POSTGRES_PASSWORD)"
    )
    return "\n".join(lines)


def _database_lines(conn: psycopg.Connection, staging: str, since: datetime) -> list[str]:
    """Return the lines about staging, deliveries and user_logins."""
    read = _count(conn, staging, "_sdc_batched_at >= %s", since)
    loaded = _count(conn, DELIVERIES, "delivered_at >= %s", since)
    lines = [
        f"  messages read this run:          {read}",
        f"  rows loaded into user_logins:    {loaded}",
        f"  rows in user_logins in total:    {_count(conn, FINAL)}",
        f"  messages rejected this run:      {_count(conn, staging, REJECTED, since)}",
    ]
    if _exists(conn, staging):
        rows = conn.execute(
            f"SELECT rejection_reason, count(*) FROM {staging} WHERE {REJECTED} "  # noqa: S608
            "GROUP BY 1 ORDER BY 2 DESC, 1",
            [since],
        )
        lines += [f"    {reason}: {count}" for reason, count in rows]
    lines.append(f"  messages quarantined in total:   {_count(conn, QUARANTINE)} ({QUARANTINE})")
    if _exists(conn, FINAL):
        lines += _sample_rows(conn)
    return lines


def _exists(conn: psycopg.Connection, table: str) -> bool:
    """Return whether `table` (schema-qualified) exists."""
    return conn.execute("SELECT to_regclass(%s)", [table]).fetchone() != (None,)


def _count(
    conn: psycopg.Connection, table: str, where: str = "TRUE", since: datetime | None = None
) -> str:
    """Return the number of rows of `table` matching `where`, or why there is none."""
    if not _exists(conn, table):
        return f"? ({table} does not exist yet)"
    row = conn.execute(
        f"SELECT count(*) FROM {table} WHERE {where}",  # noqa: S608
        [since] if since else [],
    ).fetchone()
    return str(row[0] if row else 0)


def _sample_rows(conn: psycopg.Connection) -> list[str]:
    """Return up to 5 rows of user_logins as an aligned text table."""
    cursor = conn.execute(f"SELECT * FROM {FINAL} LIMIT 5")  # noqa: S608
    header = [column.name for column in cursor.description or []]
    rows = [["null" if value is None else str(value) for value in row] for row in cursor]
    if not rows:
        return [f"  {FINAL} is empty"]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [f"  {FINAL}, first {len(rows)} rows:"] + [
        (
            "    " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]


def _queue_line(settings: Settings) -> str:
    """Return the line about messages still on the queue (visible plus in flight)."""
    try:
        queue = local_queue(settings.queue_url, settings.endpoint_url, settings.region)
        depth = queue.depth().total
    except QueueError as error:
        return (
            f"  messages still on the queue:     unknown ({error}); check "
            "tap-sqs-logins endpoint_url and queue_url"
        )
    return f"  messages still on the queue:     {depth}"
