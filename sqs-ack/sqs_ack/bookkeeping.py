"""Bookkeeping columns on the staging table, so every step reads only its pending rows.

target-postgres upserts ``<schema>.logins`` on message_id and only ever writes the columns of
the stream's schema, so these columns survive every upsert:

- ``_ack_handle``, ``_ack_outcome``, ``_acked_at``: the receipt handle last acknowledged and
  what became of it. Pending for the acknowledgement: ``_ack_handle is distinct from
  receipt_handle`` (a redelivered message comes back with a new handle).
dbt owns two more, which it adds and writes (transform/macros/bookkeeping.sql), read here:
``_transformed_at``, set in the transaction that delivers or quarantines the row (NULL:
pending for dbt), and ``_refused_reason``, why ``user_logins`` refused the valid login.

Only settled rows are pruned: acknowledged, and delivered or quarantined by the tap's verdict
(``_transformed_at``). A valid login not delivered yet, refused by ``user_logins`` or not, is
the only copy of its message once SQS deleted it, so it is never pruned, however old; before
dbt's first run (no ``_transformed_at`` yet), nothing is.

The pending set and the prunable rows have a partial index: a run's cost follows its new
rows, not the history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from tap_sqs_logins import STREAM

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg

TABLE = STREAM  # target-postgres names the table after the tap's stream
COLUMNS = {
    "_ack_handle": "text",
    "_ack_outcome": "text",
    "_acked_at": "timestamptz",
}
TRANSFORMED = "_transformed_at"  # dbt's column, which PRUNABLE and its index need
ACK_PENDING = "_ack_handle is distinct from receipt_handle"
# Delivered or quarantined (never a refused login: belt and braces) and acknowledged.
PRUNABLE = "_transformed_at is not null and _ack_outcome is not null and _refused_reason is null"
INDEXES = {  # suffix: (column, predicate)
    "ack_pending": ("message_id", ACK_PENDING),
    "prunable": ("_acked_at", PRUNABLE),
}
CLAIM = """
select message_id, queue_url, receipt_handle, rejection_reason, dead_letter_message_id
from {logins} where {pending} and message_id <> all(%s) limit %s for update skip locked"""
RECORD = """
update {logins} as l set _ack_handle = v.handle, _ack_outcome = v.outcome, _acked_at = now()
from (select unnest(%s::text[]) as message_id, unnest(%s::text[]) as handle,
             unnest(%s::text[]) as outcome) as v
where l.message_id = v.message_id"""
AWAITS_DBT = "select exists (select from {logins} where _transformed_at is null)"
PRUNE = """
delete from {logins} where {prunable} and _acked_at < now() - make_interval(days => %s)"""


def prepare(connection: psycopg.Connection[Any], schema: str) -> bool:
    """Add the missing columns and indexes; return False if there is no staging table yet.

    The prunable rows' index waits for dbt's ``_transformed_at``. The catalog is read first,
    so a prepared table takes no lock.
    """
    logins = sql.Identifier(schema, TABLE)
    with connection.transaction():
        if not _exists(connection, f'"{schema}"."{TABLE}"'):
            return False
        present = _present(connection, schema)
        missing = [name for name in COLUMNS if name not in present]
        if missing:
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
        for suffix, (column, predicate) in INDEXES.items():
            if f"{TABLE}_{suffix}" in present or (
                TRANSFORMED in predicate and TRANSFORMED not in present
            ):
                continue
            connection.execute(
                sql.SQL("create index if not exists {} on {} ({}) where {}").format(
                    sql.Identifier(f"{TABLE}_{suffix}"),
                    logins,
                    sql.Identifier(column),
                    sql.SQL(predicate),
                )
            )
    return True


def _present(connection: psycopg.Connection[Any], schema: str) -> set[str]:
    """The names of the staging table's columns and indexes."""
    return {
        row[0]
        for row in connection.execute(
            "select attname from pg_attribute where attrelid = %s::regclass"
            " and attnum > 0 and not attisdropped"
            " union all select relname from pg_class c join pg_index i"
            " on i.indexrelid = c.oid where i.indrelid = %s::regclass",
            [f'"{schema}"."{TABLE}"', f'"{schema}"."{TABLE}"'],
        )
    }


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
        logins=sql.Identifier(schema, TABLE), pending=sql.SQL(ACK_PENDING)
    )
    return connection.execute(query, [skip, limit]).fetchall()


def record(
    connection: psycopg.Connection[Any],
    schema: str,
    outcomes: Sequence[tuple[str, str, str]],
) -> None:
    """Store (message id, receipt handle, outcome) for acknowledged rows."""
    if outcomes:
        query = sql.SQL(RECORD).format(logins=sql.Identifier(schema, TABLE))
        connection.execute(query, [list(column) for column in zip(*outcomes, strict=True)])


def prune(connection: psycopg.Connection[Any], schema: str, retention_days: int) -> int:
    """Delete rows delivered or quarantined and acknowledged over ``retention_days`` ago.

    A row dbt has not delivered (or quarantined as the tap judged it) is never pruned, nor any
    row before dbt's first run.
    """
    if TRANSFORMED not in _present(connection, schema):
        return 0
    query = sql.SQL(PRUNE).format(logins=sql.Identifier(schema, TABLE), prunable=sql.SQL(PRUNABLE))
    return connection.execute(query, [retention_days]).rowcount


def awaits_dbt(connection: psycopg.Connection[Any], schema: str) -> bool:
    """Whether a staged row awaits dbt: one it has not settled, or a table it has not met.

    dbt leaves ``_transformed_at`` NULL on the rows it has not delivered or quarantined yet, a
    login ``user_logins`` refused included (tried again every run).
    """
    staging = f'"{schema}"."{TABLE}"'
    if not _exists(connection, staging) or TRANSFORMED not in _present(connection, schema):
        return True
    query = sql.SQL(AWAITS_DBT).format(logins=sql.Identifier(schema, TABLE))
    row = connection.execute(query).fetchone()
    return bool(row and row[0])


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
