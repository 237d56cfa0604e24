"""The dbt transform against a real PostgreSQL: exactly-once delivery into user_logins.

Each test gets a throwaway database (`db`, tests/harness/dbt.py) and runs the dbt that Meltano
installed from meltano.yml's pins on the project in transform/.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest

from tests.harness.dbt import (
    PRE_EXISTING,
    USER_LOGINS_DDL,
    Database,
    add_messages,
    login,
    poison,
    table_definition,
)

pytestmark = pytest.mark.meltano


def test_build_delivers_each_valid_login_once_and_leaves_user_logins_alone(db: Database) -> None:
    """Versions become majors, dates are sent_date; reruns and full refreshes add nothing."""
    definition = table_definition(db)
    add_messages(
        db,
        login("m1", "u1", "2.3.0", sent_date="2024-03-01"),
        login("m2", "u2", "0.96", sent_date="2024-03-02", locale=None),
        login("m3", "u3", "3", sent_date="2023-12-31", device_type="ios"),
        login("m4", "u4", "123456789.0.1"),
        poison("p1", "not JSON"),
    )
    db.dbt("build")
    expected = sorted(
        [
            PRE_EXISTING,
            ("u1", "android", "ip-u1", "dev-u1", "en_US", 2, date(2024, 3, 1)),
            ("u2", "android", "ip-u2", "dev-u2", None, 0, date(2024, 3, 2)),
            ("u3", "ios", "ip-u3", "dev-u3", "en_US", 3, date(2023, 12, 31)),
            ("u4", "android", "ip-u4", "dev-u4", "en_US", 123456789, date(2024, 3, 1)),
        ],
        key=lambda r: (r[0], r[6]),
    )
    assert db.user_logins() == expected
    assert db.query("SELECT count(*) FROM sqs_staging.logins WHERE _transformed_at IS NULL") == [
        (0,)
    ]

    db.dbt("run")
    db.dbt("build")
    db.dbt("run", "--full-refresh")  # login_deliveries is full_refresh=false: no redelivery
    db.dbt("test")
    assert db.user_logins() == expected
    assert db.query("SELECT count(*) FROM sqs_logins.login_deliveries") == [(4,)]
    assert table_definition(db) == definition


def test_new_messages_are_delivered_on_the_next_run(db: Database) -> None:
    """A run delivers only what earlier runs did not."""
    add_messages(db, login("m1", "u1"))
    db.dbt("run")
    add_messages(db, login("m2", "u2"), login("m3", "u3"))
    db.dbt("run")
    db.dbt("run")
    assert [r[0] for r in db.user_logins()] == ["pre", "u1", "u2", "u3"]
    invocations = db.query(
        "SELECT message_id, dbt_invocation_id FROM sqs_logins.login_deliveries ORDER BY 1"
    )
    assert invocations[1][1] == invocations[2][1] != invocations[0][1]


def test_rejected_messages_are_quarantined_not_delivered(db: Database) -> None:
    """The tap is the one judge: rows with a rejection_reason are quarantined, as they are."""
    add_messages(
        db,
        login("ok", "u1"),
        poison("p1", "not JSON", receive_count=3, dead_letter_message_id="dl-1"),
        poison("p2", "not a login: user_id is missing"),
    )
    db.dbt("build")
    assert [r[0] for r in db.user_logins()] == ["pre", "u1"]
    assert db.query(
        "SELECT message_id, rejection_reason, sent_at::text, receive_count, dead_letter_message_id,"
        " first_received_at::text FROM sqs_logins.quarantined_messages ORDER BY 1"
    ) == [
        ("p1", "not JSON", "2024-03-01 08:00:00", 3, "dl-1", "2024-03-02 00:05:00"),
        (
            "p2",
            "not a login: user_id is missing",
            "2024-03-01 08:00:00",
            1,
            None,
            "2024-03-02 00:05:00",
        ),
    ]


def test_redelivered_message_is_delivered_once(db: Database) -> None:
    """An upserted copy keeps its row transformed; a copy staged again after pruning is
    recognised by the ledger and only marked."""
    add_messages(db, login("m1", "u1", "1.0"), poison("p1", "not JSON"))
    db.dbt("run")
    db.query(
        "UPDATE sqs_staging.logins SET receive_count = 3, receipt_handle = 'again',"
        " _sdc_batched_at = '2024-03-02 01:00:00' WHERE message_id = 'm1'"
    )
    db.dbt("run")
    db.query("DELETE FROM sqs_staging.logins")  # pruned, then SQS offers both again
    add_messages(db, login("m1", "u1", "1.0"), poison("p1", "not JSON"))
    db.dbt("run")
    assert db.user_logins() == sorted(
        [PRE_EXISTING, ("u1", "android", "ip-u1", "dev-u1", "en_US", 1, date(2024, 3, 1))]
    )
    assert db.query("SELECT count(*) FROM sqs_logins.quarantined_messages") == [(1,)]
    assert db.query("SELECT count(*) FROM sqs_staging.logins WHERE _transformed_at IS NULL") == [
        (0,)
    ]


# A user_logins that does not match the contract, and what the failed run says.
MISMATCHES = [
    ("ALTER TABLE user_logins_other DROP COLUMN locale", "column locale is missing"),
    (
        "ALTER TABLE user_logins_other ALTER COLUMN device_type TYPE integer USING 0",
        "column device_type is integer, not character varying(32)",
    ),
    (
        "ALTER TABLE user_logins_other ALTER COLUMN create_date TYPE timestamp",
        "column create_date is timestamp without time zone, not date",
    ),
    # char(n) pads what it stores: another type, whatever its length (dbt's data_type calls
    # it character varying(n))
    (
        "ALTER TABLE user_logins_other ALTER COLUMN device_type TYPE char(32)",
        "column device_type is character(32), not character varying(32)",
    ),
    (
        "ALTER TABLE user_logins_other ALTER COLUMN device_type TYPE char(8)",
        "column device_type is character(8), not character varying(32)",
    ),
    ("ALTER TABLE user_logins_other ADD COLUMN id serial", "column id is not in the contract"),
    ("DROP TABLE user_logins_other", "is not an existing table"),
]


@pytest.mark.parametrize(("change", "says"), MISMATCHES)
def test_a_table_unlike_the_contract_fails_the_run_and_records_nothing(
    db: Database, change: str, says: str
) -> None:
    """A user_logins that is missing or whose columns differ from the contract (dropped, of
    another type, added) fails the run naming what to fix: dbt neither creates nor alters it,
    and the ledger marks nothing delivered, so the logins are delivered once the right table
    is used."""
    add_messages(db, login("m1", "u1"))
    db.dbt("run")
    db.query(USER_LOGINS_DDL.format(name="user_logins_other"))
    db.query(change)
    definition = table_definition(db, "user_logins_other") if "DROP TABLE" not in change else []
    add_messages(db, login("m2", "u2"))

    code, out = db.dbt("run", check=False, dbt_vars={"user_logins_table": "user_logins_other"})

    assert code != 0
    assert says in out
    if definition:
        assert "public.user_logins_other does not match the contract" in out
        assert "user_logins_schema and user_logins_table" in out
    if definition:
        assert table_definition(db, "user_logins_other") == definition
        assert db.query("SELECT count(*) FROM user_logins_other") == [(0,)]
    else:
        assert db.query("SELECT to_regclass('public.user_logins_other')") == [(None,)]
    delivered = "SELECT message_id FROM sqs_logins.login_deliveries WHERE delivered_at IS NOT NULL"
    assert db.query(delivered) == [("m1",)]
    assert db.query("SELECT message_id FROM sqs_staging.logins WHERE _transformed_at IS NULL") == [
        ("m2",)
    ]
    db.dbt("run")
    assert [r[0] for r in db.user_logins()] == ["pre", "u1", "u2"]


# Ways a table refuses a row, each with a login it refuses and what the reason names.
REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    (
        "ALTER TABLE user_logins ADD CONSTRAINT no_v13 CHECK (app_version <> 13)",
        {"app_version": "13.0"},
        "no_v13",
    ),
    ("ALTER TABLE user_logins ALTER COLUMN locale SET NOT NULL", {"locale": None}, "23502"),
    (
        "ALTER TABLE user_logins ALTER COLUMN device_type TYPE varchar(8)",
        {"device_type": "smart-television"},
        "value too long for type character varying(8) (SQLSTATE 22001)",
    ),
    (
        "ALTER TABLE user_logins ADD CONSTRAINT one_ip UNIQUE (masked_ip)"
        " DEFERRABLE INITIALLY DEFERRED",
        {"masked_ip": "shared-ip"},
        "one_ip",
    ),
    (
        """CREATE FUNCTION refuse_bots() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.user_id LIKE 'bot%' THEN RAISE EXCEPTION 'no bots: %', NEW.user_id; END IF;
            IF NEW.user_id LIKE 'quiet%' THEN RETURN NULL; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_bots BEFORE INSERT ON user_logins
        FOR EACH ROW EXECUTE FUNCTION refuse_bots()""",
        {"user_id": "bot-7"},
        "no bots: bot-7",
    ),
    ("SELECT 1", {"user_id": "quiet-1"}, "skipped the row"),
]


def test_rows_the_table_refuses_are_quarantined_the_rest_delivered(db: Database) -> None:
    """Each way a table can refuse one row (constraint, NOT NULL, narrower column, deferred
    unique, raising or skipping trigger): the rest is delivered in the same run, once; the
    refused row is quarantined with the database's reason, stays pending, is tried again
    every run, and is delivered once the table accepts it."""
    for ddl, _, _ in REFUSALS:
        db.query(ddl)
    refused = {
        f"r{n}": {**login(f"r{n}", f"user-r{n}", masked_ip=f"ip-r{n}"), **change}
        for n, (_, change, _) in enumerate(REFUSALS)
    }
    add_messages(db, login("a0", "shared0", masked_ip="shared-ip"), *refused.values())
    add_messages(db, *(login(f"m{n}", f"u{n}") for n in range(5)), poison("p1", "not JSON"))

    db.dbt("build")

    delivered = {"pre", "shared0", *(f"u{n}" for n in range(5))}
    assert {r[0] for r in db.user_logins()} == delivered
    assert len(db.user_logins()) == len(delivered)
    reasons = dict(
        db.query("SELECT message_id, rejection_reason FROM sqs_logins.quarantined_messages")
    )
    assert reasons.pop("p1") == "not JSON"
    assert set(reasons) == set(refused)
    for n, (_, _, named) in enumerate(REFUSALS):
        assert reasons[f"r{n}"].startswith("public.user_logins refused it: ")
        assert named in reasons[f"r{n}"], reasons[f"r{n}"]
    pending = "SELECT message_id FROM sqs_staging.logins WHERE _transformed_at IS NULL"
    assert {r[0] for r in db.query(pending)} == set(refused)

    add_messages(db, login("m9", "u9"), login("r9", "bot-9", masked_ip="ip-r9"))
    db.dbt("run")  # the refused are tried again, alone; the new login goes in the set insert
    assert {r[0] for r in db.user_logins()} == delivered | {"u9"}
    assert {r[0] for r in db.query(pending)} == {*refused, "r9"}

    db.query("DROP TABLE user_logins")  # the table is fixed: a new, lenient one
    db.query(USER_LOGINS_DDL.format(name="user_logins"))
    db.dbt("build")
    db.dbt("run")
    assert sorted(r[0] for r in db.user_logins()) == sorted(
        [*(login["user_id"] for login in refused.values()), "bot-9"]
    )
    assert db.query(pending) == []
    assert db.query("SELECT message_id FROM sqs_logins.quarantined_messages") == [("p1",)]
    ledger = [r[0] for r in db.query("SELECT message_id FROM sqs_logins.login_deliveries")]
    assert sorted(ledger) == sorted(["a0", *(f"m{n}" for n in range(5)), "m9", *refused, "r9"])
    assert db.query(
        "SELECT count(*) FROM sqs_staging.logins WHERE _refused_reason IS NOT NULL"
    ) == [(0,)]


def test_a_table_with_other_varchar_lengths_is_adopted_as_it_is(db: Database) -> None:
    """Issue 17: varchar columns narrower or wider than the contract's (or text) are no reason
    to fail the run. What fits is delivered; a value too long is refused by the database and
    quarantined with its reason, stays undelivered in the ledger and pending, and is delivered
    once the table is widened. dbt never alters the table."""
    db.query(
        "ALTER TABLE user_logins ALTER COLUMN device_type TYPE varchar(8),"
        " ALTER COLUMN locale TYPE varchar(5), ALTER COLUMN masked_ip TYPE text,"
        " ALTER COLUMN masked_device_id TYPE varchar"
    )
    definition = table_definition(db)
    add_messages(
        db,
        login("m1", "u1"),
        login("m2", "u2", locale=None, device_type="ios"),
        login("long-device", "u3", device_type="smart-television"),
        login("long-locale", "u4", locale="zh_Hant_TW"),
    )

    db.dbt("build")
    db.dbt("run")  # the refused are tried again, and refused again

    assert [r[0] for r in db.user_logins()] == ["pre", "u1", "u2"]
    assert dict(
        db.query("SELECT message_id, rejection_reason FROM sqs_logins.quarantined_messages")
    ) == {
        "long-device": "public.user_logins refused it: value too long for type"
        " character varying(8) (SQLSTATE 22001)",
        "long-locale": "public.user_logins refused it: value too long for type"
        " character varying(5) (SQLSTATE 22001)",
    }
    assert db.query(
        "SELECT message_id FROM sqs_logins.login_deliveries WHERE delivered_at IS NULL ORDER BY 1"
    ) == [("long-device",), ("long-locale",)]
    assert db.query(
        "SELECT message_id FROM sqs_staging.logins WHERE _transformed_at IS NULL ORDER BY 1"
    ) == [("long-device",), ("long-locale",)]
    assert table_definition(db) == definition

    db.query(
        "ALTER TABLE user_logins ALTER COLUMN device_type TYPE varchar(16),"
        " ALTER COLUMN locale TYPE varchar(10)"
    )
    db.dbt("build")
    assert [r[0] for r in db.user_logins()] == ["pre", "u1", "u2", "u3", "u4"]
    assert db.query("SELECT count(*) FROM sqs_logins.quarantined_messages") == [(0,)]
    assert db.query("SELECT count(*) FROM sqs_staging.logins WHERE _transformed_at IS NULL") == [
        (0,)
    ]


def test_concurrent_runs_deliver_once(db: Database) -> None:
    """Two runs held at the same point, then released together: the new logins land once."""
    add_messages(db, login("m0", "u0"))
    db.dbt("run")
    add_messages(db, *(login(f"m{i}", f"u{i:02d}") for i in range(1, 21)))

    with db.connect(autocommit=False) as gate:
        # Nobody reads the staging table until the gate commits.
        gate.execute("LOCK TABLE sqs_staging.logins IN ACCESS EXCLUSIVE MODE")
        runs = [db.dbt_popen("run"), db.dbt_popen("run")]
        deadline = time.monotonic() + 120
        while sessions_waiting(db) < 2:
            assert all(r.poll() is None for r in runs), "a dbt run ended at the gate"
            assert time.monotonic() < deadline, "the dbt runs never reached the gate"
            time.sleep(0.2)
        gate.commit()
        outputs = [r.communicate(timeout=300)[0] for r in runs]

    assert [r.returncode for r in runs] == [0, 0], outputs
    users = [r[0] for r in db.user_logins()]
    assert users == ["pre", "u0", *(f"u{i:02d}" for i in range(1, 21))]
    assert db.query(
        "SELECT count(DISTINCT dbt_invocation_id) FROM sqs_logins.login_deliveries"
        " WHERE message_id <> 'm0'"
    ) == [(1,)]


def sessions_waiting(db: Database) -> int:
    """How many sessions of `db` wait for a lock."""
    count: int = db.query(
        "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        " WHERE NOT l.granted AND d.datname = %s",
        [db.server.name],
    )[0][0]
    return count
