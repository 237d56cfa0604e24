"""A user_logins that refuses some rows holds back none of the others, and loses none.

The table has a CHECK constraint, a trigger that raises, a trigger that skips rows and a
device_type narrower than the contract's (issue 17: an odd table never holds back the rest). Over
several runs of the real job, each with a generated mix of accepted and refused logins: every
accepted login is delivered in its own run, exactly once; every refused one is quarantined with
the database's reason and its staging row (the only copy once SQS deleted the message) stays,
even with a retention of 0 days; once the table accepts them, they are delivered, once.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psycopg
import pytest

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    delivered,
    expected_rows,
    fetch,
    job_env,
    queue_counts,
    run_job,
    seed_ids,
    tail,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

REFUSING = """
alter table public.user_logins add constraint no_v13 check (app_version <> 13);
alter table public.user_logins alter column device_type type varchar(8);
create function public.refuse_some() returns trigger language plpgsql as $$
begin
    if new.user_id like 'bot%' then raise exception 'no bots please'; end if;
    if new.user_id like 'quiet%' then return null; end if;
    return new;
end $$;
create trigger refuse_some before insert on public.user_logins
for each row execute function public.refuse_some();
"""
ACCEPTING = """
alter table public.user_logins drop constraint no_v13;
alter table public.user_logins alter column device_type type varchar(32);
drop trigger refuse_some on public.user_logins;
"""
# What the database says about each kind of refused login.
REASONS = {
    "13": "no_v13",
    "bot": "no bots please",
    "quiet": "skipped the row",
    "long": "value too long for type character varying(8)",
}
RUNS = 3


def generated_mix(rng: random.Random, count: int) -> tuple[list[str], dict[str, str]]:
    """`count` login bodies; and, for those the table refuses, the reason each must name."""
    bodies, refusals = [], {}
    for body in sample_bodies(count, seed=rng.randrange(2**32), foreign_index=None):
        login = json.loads(body)
        kind = rng.choice(["ok", "ok", "ok", "13", "bot", "quiet", "long"])
        if kind == "13":
            login["app_version"] = f"13.{rng.randrange(10)}"
        elif kind == "long":
            login["device_type"] = "smart-television"
        elif kind != "ok":
            login["user_id"] = f"{kind}-{uuid.uuid4()}"
        bodies.append(json.dumps(login))
        if kind != "ok":
            refusals[bodies[-1]] = REASONS[kind]
    return bodies, refusals


def test_refused_rows_are_quarantined_with_the_reason_and_never_pruned(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute(REFUSING)
    env = job_env(queue_url, database, TARGET_POSTGRES_ACK_STAGING_RETENTION_DAYS="0")
    log = tmp_path / "meltano.log"
    rng = random.Random(17)  # noqa: S311 - test data
    today = datetime.now(timezone.utc).date().isoformat()
    accepted: list[str] = []
    refused: dict[str, str] = {}  # message id: what its reason names
    refused_bodies: list[str] = []

    for _ in range(RUNS):
        bodies, refusals = generated_mix(rng, rng.randrange(20, 60))
        sent = seed_ids(queue_url, bodies)
        assert run_job(env, log) == 0, tail(log)

        accepted += [body for body in bodies if body not in refusals]
        refused_bodies += list(refusals)
        refused.update({mid: refusals[body] for mid, body in sent.items() if body in refusals})
        assert queue_counts(queue_url) == (0, 0)  # every message acknowledged
        assert delivered(database) == expected_rows(accepted, today)  # at once, exactly once
        quarantined = dict(
            fetch(
                database, "select message_id, rejection_reason from sqs_logins.quarantined_messages"
            )
        )
        assert set(quarantined) == set(refused)
        for message_id, named in refused.items():
            assert quarantined[message_id].startswith("public.user_logins refused it: ")
            assert named in quarantined[message_id]
        staged = fetch(
            database, "select message_id, _transformed_at is null from sqs_staging.logins"
        )
        assert {mid for mid, pending in staged if pending} == set(refused)  # all kept
        assert {mid for mid, _ in staged} - set(refused) <= set(sent)  # earlier ones pruned

    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute(ACCEPTING)
    assert run_job(env, log) == 0, tail(log)  # no new message: the refused are tried again

    everything = accepted + refused_bodies
    assert delivered(database) == expected_rows(everything, today)
    assert fetch(database, "select count(*) from sqs_logins.quarantined_messages") == [(0,)]
    ledger = Counter(
        row[0] for row in fetch(database, "select message_id from sqs_logins.login_deliveries")
    )
    assert set(ledger.values()) == {1}
    assert len(ledger) == len(everything)
