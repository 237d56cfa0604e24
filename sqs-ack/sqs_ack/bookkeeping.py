"""Bookkeeping columns on the staging table, so every step reads only its pending rows.

target-postgres upserts ``<schema>.logins`` on message_id and only ever writes the columns of
the stream's schema, so these columns survive every upsert:

- ``_ack_handle``, ``_ack_outcome``, ``_acked_at``: the receipt handle last acknowledged and
  what became of it. Pending for the acknowledgement: ``_ack_handle is distinct from
  receipt_handle`` (a redelivered message comes back with a new handle).
- ``_transformed_at``: set by dbt in the transaction that delivers or quarantines the row.
  Pending for dbt: ``_transformed_at is null``.
- ``_refused_reason``: set by dbt when ``user_logins`` refused the valid login (the database's
  message); the row stays pending for dbt, which tries it again every run.

Only settled rows are pruned: acknowledged, and delivered or quarantined by the tap's verdict
(``_transformed_at``). A valid login not delivered yet, refused by ``user_logins`` or not, is
the only copy of its message once SQS deleted it, so it is never pruned, however old.

Each pending set, and the prunable rows, have a partial index: a run's cost follows its new
rows, not the history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg

COLUMNS = {
    "_ack_handle": "text",
    "_ack_outcome": "text",
    "_acked_at": "timestamptz",
    "_transformed_at": "timestamptz",
    "_refused_reason": "text",
}
ACK_PENDING = "_ack_handle is distinct from receipt_handle"
TRANSFORM_PENDING = "_transformed_at is null"
# Delivered or quarantined (never a refused login: belt and braces) and acknowledged.
PRUNABLE = "_transformed_at is not null and _ack_outcome is not null and _refused_reason is null"
INDEXES = {  # suffix: (column, predicate)
    "ack_pending": ("message_id", ACK_PENDING),
    "transform_pending": ("message_id", TRANSFORM_PENDING),
    "prunable": ("_acked_at", PRUNABLE),
}
# Before the bookkeeping columns, each attempted delete was logged in this table, and dbt
# (schema sqs_logins) kept the delivered and quarantined message ids.
LEGACY_LOG = "sqs_acknowledgements"
LEGACY_DONE = ("sqs_logins.login_deliveries", "sqs_logins.quarantined_messages")
MIGRATE = """
update {logins} l set
    _ack_handle = a.receipt_handle,
    _ack_outcome = case when a.deleted then 'deleted' else 'refused' end,
    _acked_at = a.acknowledged_at
from {log} a where a.receipt_handle = l.receipt_handle"""
CLAIM = """
select message_id, queue_url, receipt_handle, rejection_reason, dead_letter_message_id
from {logins} where {pending} and message_id <> all(%s) limit %s for update skip locked"""
RECORD = """
update {logins} as l set _ack_handle = v.handle, _ack_outcome = v.outcome, _acked_at = now()
from (select unnest(%s::text[]) as message_id, unnest(%s::text[]) as handle,
             unnest(%s::text[]) as outcome) as v
where l.message_id = v.message_id"""
PRUNE = """
delete from {logins} where {prunable} and _acked_at < now() - make_interval(days => %s)"""


def prepare(connection: psycopg.Connection[Any], schema: str) -> bool:
    """Add the missing columns and indexes; return False if there is no staging table yet.

    The first time (no ``_ack_handle`` yet), rows in the legacy acknowledgement log count as
    acknowledged. The catalog is read first, so a prepared table takes no lock.
    """
    logins = sql.Identifier(schema, "logins")
    with connection.transaction():
        if not _exists(connection, f'"{schema}".logins'):
            return False
        present = {
            row[0]
            for row in connection.execute(
                "select attname from pg_attribute where attrelid = %s::regclass"
                " and attnum > 0 and not attisdropped"
                " union all select relname from pg_class c join pg_index i"
                " on i.indexrelid = c.oid where i.indrelid = %s::regclass",
                [f'"{schema}".logins', f'"{schema}".logins'],
            )
        }
        missing = [name for name in COLUMNS if name not in present]
        if missing:
            migrate = "_ack_handle" in missing
            connection.execute(
                sql.SQL("alter table {} {}").format(
                    logins,
                    sql.SQL(", ").join(
                        sql.SQL("add column if not exists {} {}").format(
                            sql.Identifier(name), sql.SQL(COLUMNS[name])
                        )
                        for name in missing
                    ),
                )
            )
            if migrate:
                _migrate(connection, schema)
        for suffix, (column, predicate) in INDEXES.items():
            if f"logins_{suffix}" not in present:
                connection.execute(
                    sql.SQL("create index if not exists {} on {} ({}) where {}").format(
                        sql.Identifier(f"logins_{suffix}"),
                        logins,
                        sql.Identifier(column),
                        sql.SQL(predicate),
                    )
                )
    return True


def _migrate(connection: psycopg.Connection[Any], schema: str) -> None:
    """Carry the legacy acknowledgement log and dbt's results over to the new columns."""
    logins = sql.Identifier(schema, "logins")
    if _exists(connection, f'"{schema}".{LEGACY_LOG}'):
        log = sql.Identifier(schema, LEGACY_LOG)
        connection.execute(sql.SQL(MIGRATE).format(logins=logins, log=log))
    for table in LEGACY_DONE:
        if _exists(connection, table):
            connection.execute(
                sql.SQL(
                    "update {} l set _transformed_at = now() where exists"
                    " (select from {} d where d.message_id = l.message_id)"
                ).format(logins, sql.Identifier(*table.split(".")))
            )


def _exists(connection: psycopg.Connection[Any], table: str) -> bool:
    row = connection.execute("select to_regclass(%s)", [table]).fetchone()
    return bool(row and row[0])


def claim(
    connection: psycopg.Connection[Any], schema: str, limit: int, skip: list[str]
) -> list[tuple[Any, ...]]:
    """Lock up to ``limit`` rows pending acknowledgement, not in ``skip``, no one else holds.

    Call inside a transaction: the rows stay locked until it ends. The planner cannot
    estimate ``a is distinct from b`` and would scan the whole table for a LIMIT, so this
    transaction is told to use the partial index.
    """
    connection.execute("set local enable_seqscan = off")
    query = sql.SQL(CLAIM).format(
        logins=sql.Identifier(schema, "logins"), pending=sql.SQL(ACK_PENDING)
    )
    return connection.execute(query, [skip, limit]).fetchall()


def record(
    connection: psycopg.Connection[Any],
    schema: str,
    outcomes: Sequence[tuple[str, str, str]],
) -> None:
    """Store (message id, receipt handle, outcome) for acknowledged rows."""
    if outcomes:
        query = sql.SQL(RECORD).format(logins=sql.Identifier(schema, "logins"))
        connection.execute(query, [list(column) for column in zip(*outcomes, strict=True)])


def prune(connection: psycopg.Connection[Any], schema: str, retention_days: int) -> int:
    """Delete rows delivered or quarantined and acknowledged over ``retention_days`` ago.

    A row dbt has not delivered (or quarantined as the tap judged it) is never pruned.
    """
    query = sql.SQL(PRUNE).format(
        logins=sql.Identifier(schema, "logins"), prunable=sql.SQL(PRUNABLE)
    )
    return connection.execute(query, [retention_days]).rowcount


def committed(
    connection: psycopg.Connection[Any], schema: str, table: str, message_ids: list[str]
) -> set[str]:
    """Return which of ``message_ids`` have a committed row in ``<schema>.<table>``."""
    if not _exists(connection, f'"{schema}"."{table}"'):
        return set()
    query = sql.SQL("select message_id from {} where message_id = any(%s)").format(
        sql.Identifier(schema, table)
    )
    return {row[0] for row in connection.execute(query, [message_ids])}
