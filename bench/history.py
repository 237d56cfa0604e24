"""Does a run cost what its new messages cost, or what all of history costs?

Two databases get the real tables from one small run of the job (so every table, column, index
and bookkeeping mark is what the current code makes). Database B is then bulk-loaded with
`rows` more logins already staged, acknowledged and delivered: every row of every table is
cloned server-side with new message ids and receipt handles (the same mapping in every table,
so the clones are as done as their originals) and timestamps spread over the last two days,
inside the staging retention. Then, on A and on B: a run with no new messages, and a run of
`count` new ones. Goals: B/A <= 1.25 for `count`; B's empty run about A's (the fixed start-up).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from bench import runs

if TYPE_CHECKING:
    from bench.runs import Context, Result

TEMPLATE = 100  # messages of the small run whose rows are cloned
GOAL = 1.25
SPREAD = 2 * 86400  # seconds of history, kept inside the default retention of 3 days
KEYS = {"message_id", "receipt_handle", "_ack_handle", "dead_letter_message_id"}
TABLES = """
select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg_toast%'"""
COLUMNS = """
select attname, format_type(atttypid, atttypmod) from pg_attribute
where attrelid = %s::regclass and attnum > 0 and not attisdropped
  and attidentity = '' and attgenerated = ''
order by attnum"""


def _clone_expression(name: str, kind: str, step: float) -> sql.Composable:
    column = sql.Identifier(name)
    if name in KEYS:
        return sql.SQL("'h' || g || '-' || {}").format(column)
    if kind.startswith("timestamp"):
        return sql.SQL("{} - make_interval(secs => g * {})").format(column, sql.Literal(step))
    if kind == "date":
        return sql.SQL("{} - (g * {} / 86400)::int").format(column, sql.Literal(step))
    return column


def preload(dsn: str, rows: int) -> dict[str, int]:
    """Clone every row of every table `rows / TEMPLATE` times; return rows per table after."""
    factor = max(1, rows // TEMPLATE)
    step = SPREAD / factor
    sizes = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for (table,) in conn.execute(TABLES).fetchall():
            columns = conn.execute(COLUMNS, [table]).fetchall()
            names = sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
            values = sql.SQL(", ").join(_clone_expression(n, k, step) for n, k in columns)
            conn.execute(
                sql.SQL(
                    "insert into {table} ({names}) select {values} from {table} "
                    "cross join generate_series(1, {factor}) as g"
                ).format(
                    table=sql.SQL(table), names=names, values=values, factor=sql.Literal(factor)
                )
            )
            (sizes[table],) = conn.execute(
                sql.SQL("select count(*) from {}").format(sql.SQL(table))
            ).fetchone() or (0,)
        conn.execute("vacuum analyze")
    return sizes


def run(ctx: Context, rows: int, count: int) -> dict[str, Any]:
    """Empty vs history database: no new messages, then `count` new ones."""
    out: dict[str, Any] = {}
    with ctx.server.database("hist_a") as empty, ctx.server.database("hist_b") as loaded:
        for db in (empty, loaded):
            runs.job(ctx, TEMPLATE, db, label=f"history-template-{db}")
        started = time.monotonic()
        out["tables"] = preload(ctx.server.dsn(loaded), rows)
        out["preload_seconds"] = round(time.monotonic() - started, 1)
        results: dict[str, Result] = {}
        for key, db, n in (
            ("idle_a", empty, 0),
            ("idle_b", loaded, 0),
            ("new_a", empty, count),
            ("new_b", loaded, count),
        ):
            results[key] = runs.job(ctx, n, db, label=f"history-{key}")
            print(f"  history {key}: {results[key].seconds:.1f} s", flush=True)
    out["runs"] = {key: result.to_json() for key, result in results.items()}
    out["ratio_new"] = round(results["new_b"].seconds / results["new_a"].seconds, 3)
    out["ratio_idle"] = round(results["idle_b"].seconds / results["idle_a"].seconds, 3)
    out["ok"] = all(result.ok for result in results.values())
    staged = max(out["tables"].values())
    verdict = "met" if out["ratio_new"] <= GOAL else "NOT met"
    new_a, new_b = results["new_a"].seconds, results["new_b"].seconds
    idle_a, idle_b = results["idle_a"].seconds, results["idle_b"].seconds
    out["lines"] = [
        f"history ({staged:,} rows already staged and delivered, "
        f"bulk-loaded in {out['preload_seconds']} s):",
        f"  {count:,} new messages: {new_b:.1f} s vs {new_a:.1f} s on an empty database: "
        f"{out['ratio_new']:.2f}x ({verdict}, goal <= {GOAL}x)",
        f"  no new messages: {idle_b:.1f} s vs {idle_a:.1f} s (the fixed start-up, empty "
        f"database): {out['ratio_idle']:.2f}x",
        *_step_line("  steps with history, new:  ", results["new_b"]),
        *_step_line("  steps without history, new:", results["new_a"]),
    ]
    if not out["ok"]:
        out["lines"].append(
            "  FAILED: " + "; ".join(p for r in results.values() for p in r.problems)
        )
    return out


def _step_line(label: str, result: Result) -> list[str]:
    parts = [
        f"{step} {values['seconds']:.1f}"
        for step, values in result.steps.items()
        if step != "meltano"
    ]
    return [f"{label} " + ", ".join(parts) + " s"]
