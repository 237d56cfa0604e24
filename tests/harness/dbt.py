"""dbt on the transform project against a throwaway database, and staging rows to feed it.

Tests get a `db` (tests/conftest.py): a database holding sqs_staging.logins as target-postgres
creates it and a public.user_logins with one row, run by the dbt Meltano installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql
from sqs_ack.bookkeeping import prepare

from tests.harness.project import REPO

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database as ServerDatabase

TRANSFORM_DIR = REPO / "transform"
PLUGIN_DBT = REPO / ".meltano" / "utilities" / "dbt-postgres" / "venv" / "bin" / "dbt"
USER_LOGINS_DDL = (
    "CREATE TABLE IF NOT EXISTS {name}(user_id varchar(128), device_type varchar(32), "
    "masked_ip varchar(256), masked_device_id varchar(256), locale varchar(32), "
    "app_version integer, create_date date)"
)
# As MeltanoLabs target-postgres 0.8.1 creates it from the masked stream (one row per
# message_id); the acknowledgement step's bookkeeping columns are added by prepare().
STAGING_DDL = """
CREATE SCHEMA sqs_staging;
CREATE TABLE sqs_staging.logins (
    message_id text NOT NULL PRIMARY KEY, sent_at timestamp, sent_date text,
    receive_count bigint, queue_url text, receipt_handle text, user_id text,
    app_version text, device_type text, locale text, masked_ip text, masked_device_id text,
    rejection_reason text, dead_letter_message_id text, _sdc_extracted_at timestamp,
    _sdc_received_at timestamp, _sdc_batched_at timestamp, _sdc_deleted_at timestamp,
    _sdc_sequence bigint, _sdc_table_version bigint, _sdc_sync_started_at bigint
)
"""
PRE_EXISTING = ("pre", "web", "ip0", "dev0", "fr_FR", 7, date(2020, 1, 1))
SELECT_USER_LOGINS = (
    "SELECT user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date"
    " FROM public.user_logins ORDER BY user_id, create_date"
)


def dbt_executable() -> str:
    """The dbt Meltano installed from meltano.yml's pins; fails (never skips) without one."""
    if not PLUGIN_DBT.exists():
        pytest.fail(f"no {PLUGIN_DBT}: run `meltano install` (make test does)")
    return str(PLUGIN_DBT)


@dataclass
class Database:
    """A throwaway database and the means to run dbt against it."""

    server: ServerDatabase
    workdir: Path

    def connect(self, autocommit: bool = True) -> psycopg.Connection:
        """Open a connection to the database."""
        return psycopg.connect(self.server.dsn, autocommit=autocommit)

    def query(self, statement: str | sql.Composed, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (empty if it returns none)."""
        with self.connect() as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def dbt_popen(
        self, *args: str, dbt_vars: dict[str, str] | None = None, run_dir: Path | None = None
    ) -> subprocess.Popen[str]:
        """Start `dbt ARGS` on the transform project with target and log dirs in `run_dir`
        (default: new ones, so that runs at once never share them)."""
        run_dir = run_dir or self.workdir / uuid.uuid4().hex
        env = {
            **os.environ,
            **self.server.env(),
            "DBT_TARGET_PATH": str(run_dir / "target"),
            "DBT_LOG_PATH": str(run_dir / "logs"),
        }
        env["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"] = "sqs_staging"  # as STAGING_DDL
        argv = [
            dbt_executable(),
            *args,
            "--project-dir",
            str(TRANSFORM_DIR),
            "--profiles-dir",
            str(TRANSFORM_DIR / "profiles"),
        ]
        if dbt_vars:
            argv += ["--vars", json.dumps(dbt_vars)]
        return subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def dbt(
        self, *args: str, check: bool = True, dbt_vars: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """Run dbt to completion; with `check`, fail the test on a non-zero exit.

        The test's runs with the same vars, one after another, share their target dir: dbt
        parses the project again only partially, as in a deployed project.
        """
        same_vars = hashlib.sha256(json.dumps(dbt_vars, sort_keys=True).encode()).hexdigest()
        run_dir = self.workdir / f"dbt-{same_vars[:12]}"
        proc = self.dbt_popen(*args, dbt_vars=dbt_vars, run_dir=run_dir)
        out, _ = proc.communicate(timeout=300)
        if check and proc.returncode != 0:
            pytest.fail(f"dbt {' '.join(args)} exited {proc.returncode}:\n{out}")
        return proc.returncode, out

    def user_logins(self) -> list[tuple[Any, ...]]:
        """All rows of public.user_logins."""
        return self.query(SELECT_USER_LOGINS)


def add_messages(db: Database, *rows: dict[str, Any]) -> None:
    """Insert staging rows as target-postgres would load them."""
    for row in rows:
        values = {
            "receive_count": 1,
            "_sdc_extracted_at": "2024-03-02 00:05:00",
            "_sdc_batched_at": "2024-03-02 00:06:00",
            "_sdc_sequence": 1,
            **row,
        }
        insert = sql.SQL("INSERT INTO sqs_staging.logins ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder() * len(values)),
        )
        db.query(insert, list(values.values()))


def login(message_id: str, user_id: str, app_version: str = "1.0", **extra: Any) -> dict[str, Any]:
    """A valid login message."""
    return {
        "message_id": message_id,
        "user_id": user_id,
        "app_version": app_version,
        "sent_at": "2024-03-01 12:00:00",
        "sent_date": "2024-03-01",
        "device_type": "android",
        "locale": "en_US",
        "masked_ip": f"ip-{user_id}",
        "masked_device_id": f"dev-{user_id}",
        **extra,
    }


def poison(message_id: str, reason: str, **extra: Any) -> dict[str, Any]:
    """A message the tap rejected: login fields are NULL."""
    return {
        "message_id": message_id,
        "rejection_reason": reason,
        "sent_at": "2024-03-01 08:00:00",
        "sent_date": "2024-03-01",
        **extra,
    }


def table_definition(db: Database, name: str = "user_logins") -> list[tuple[Any, ...]]:
    """What identifies public.<name>'s definition: oid, storage, columns, constraints, indexes."""
    return db.query(
        """
        SELECT c.oid::bigint, c.relfilenode::bigint, c.relkind::text,
               (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                 || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                 ORDER BY a.attnum)
                  FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                   AND NOT a.attisdropped),
               (SELECT count(*) FROM pg_constraint WHERE conrelid = c.oid),
               (SELECT count(*) FROM pg_index WHERE indrelid = c.oid),
               (SELECT count(*) FROM pg_trigger WHERE tgrelid = c.oid)
          FROM pg_class c WHERE c.oid = %s::regclass
        """,
        [f"public.{name}"],
    )


@pytest.fixture
def db(database: ServerDatabase, tmp_path: Path) -> Database:
    """A fresh database with sqs_staging.logins and a public.user_logins holding one row."""
    db = Database(database, tmp_path)
    with db.connect() as conn:
        conn.execute(STAGING_DDL)
        prepare(conn, "sqs_staging")
        conn.execute(USER_LOGINS_DDL.format(name="user_logins"))
        conn.execute("INSERT INTO user_logins VALUES (%s, %s, %s, %s, %s, %s, %s)", PRE_EXISTING)
    return db
