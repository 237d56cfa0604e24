"""Create the Dagster instance's PostgreSQL database (DAGSTER_PG_*) if it does not exist.

Run by `meltano invoke dagster:createdb` in the dagster utility's virtualenv (psycopg2 comes
with dagster-postgres); `make orchestrate` runs it before starting the daemon.
"""

from __future__ import annotations

import os
import sys

import psycopg2
from psycopg2 import sql


def main() -> int:
    """Create database $DAGSTER_PG_DB on $DAGSTER_PG_HOST unless it is there."""
    name = os.environ["DAGSTER_PG_DB"]
    conn = psycopg2.connect(
        host=os.environ["DAGSTER_PG_HOST"],
        port=os.environ["DAGSTER_PG_PORT"],
        user=os.environ["DAGSTER_PG_USER"],
        password=os.environ.get("DAGSTER_PG_PASSWORD", ""),
        dbname=os.environ.get("DAGSTER_PG_ADMIN_DB", "postgres"),
    )
    conn.autocommit = True  # CREATE DATABASE runs outside a transaction (so no `with conn`)
    try:
        with conn.cursor() as cursor:
            cursor.execute("select 1 from pg_database where datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
                print(f"dagster: created database {name}")
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
