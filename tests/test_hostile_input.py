"""Issue 7 end to end: hostile bodies never stop the job, lose a login or leak an address.

The queue has a redrive policy (maxReceiveCount 2) into a dead-letter queue that the tap also
copies poison to, and holds valid logins mixed with every class of hostile body
(tap_sqs_logins.testing.hostile). The database's time zone is far from UTC, so that a date taken
from a local timestamp would be another day. The job runs twice (and, in the second test, as
two workers at once) with the sealed copy on; both runs must exit 0.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from localenv.sample import sample_bodies
from localenv.sqs import sqs_client
from tap_sqs_logins.testing import rsa_key_pair
from tap_sqs_logins.testing.hostile import DLQ_MAX_SIZE, hostile_corpus
from tests.harness.jobs import (
    SEALED_MAPS,
    drain,
    fetch,
    job_env,
    pg_dump,
    queue_counts,
    run_job,
    seed_ids,
    tail,
)
from tests.harness.orchestration import start_worker
from tests.harness.project import REPO, SYSTEM_DIR

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = [pytest.mark.meltano, pytest.mark.slow]


def far_time_zone(now: datetime) -> str:
    """A zone whose local date differs from the UTC date at `now`."""
    return "Pacific/Kiritimati" if now.hour >= 10 else "Etc/GMT+12"  # UTC+14 / UTC-12


def redrive_queues(endpoint: str, name: str) -> tuple[str, str]:
    """A source queue redriving to a small dead-letter queue after 2 receives."""
    client = sqs_client(endpoint)
    dead = client.create_queue(
        QueueName=f"{name}-dead", Attributes={"MaximumMessageSize": str(DLQ_MAX_SIZE)}
    )["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]
    policy = {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": "2"}
    queue = client.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(policy)})[
        "QueueUrl"
    ]
    return queue, dead


def set_up(
    endpoint: str, database: Database, name: str
) -> tuple[dict[str, str], dict[str, Any], str, str]:
    """Seed the mixed queue; return (env, {message id: body}, queue, dead-letter queue)."""
    corpus = hostile_corpus()
    valid = corpus.valid + sample_bodies(150, seed=17, foreign_index=None)
    bodies = valid + corpus.poison + corpus.too_large_for_dlq
    random.Random(17).shuffle(bodies)  # noqa: S311 - test data
    queue, dead = redrive_queues(endpoint, name)
    sent = seed_ids(queue, bodies)
    assert len(sent) == len(bodies)
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        zone = far_time_zone(datetime.now(timezone.utc))
        conn.execute(f"alter database {database.name} set timezone = '{zone}'")
    _, public_key = rsa_key_pair()
    env = job_env(
        queue,
        database,
        TAP_SQS_LOGINS_DEAD_LETTER_QUEUE_URL=dead,
        TAP_SQS_LOGINS_SEAL_PUBLIC_KEY=public_key,
        TAP_SQS_LOGINS_STREAM_MAPS=json.dumps(SEALED_MAPS),
    )
    verdicts = {
        message_id: (
            "valid"
            if body in valid
            else "too large"
            if body in corpus.too_large_for_dlq
            else "poison"
        )
        for message_id, body in sent.items()
    }
    return env, {"sent": sent, "verdicts": verdicts, "secrets": corpus.secrets}, queue, dead


def check_outcome(
    database: Database, case: dict[str, Any], queue: str, dead: str, day: str
) -> None:
    """Every valid login delivered once with its UTC day; everything else kept exactly once."""
    verdicts: dict[str, str] = case["verdicts"]
    delivered = Counter(
        row[0] for row in fetch(database, "select message_id from sqs_logins.login_deliveries")
    )
    valid = {m for m, verdict in verdicts.items() if verdict == "valid"}
    assert delivered == Counter(valid)
    rows = fetch(database, "select create_date::text, count(*) from public.user_logins group by 1")
    assert rows == [(day, len(valid))]
    quarantined = Counter(
        row[0] for row in fetch(database, "select message_id from sqs_logins.quarantined_messages")
    )
    assert quarantined == Counter(set(verdicts) - valid)

    copies = drain(dead)
    sources = Counter(m["MessageAttributes"]["source_message_id"]["StringValue"] for m in copies)
    assert sources == Counter(m for m, verdict in verdicts.items() if verdict == "poison")
    assert all(
        m["Body"] == case["sent"][m["MessageAttributes"]["source_message_id"]["StringValue"]]
        for m in copies
    )
    too_large = [m for m, verdict in verdicts.items() if verdict == "too large"]
    assert queue_counts(queue) == (0, len(too_large))  # left for the redrive policy
    attributes = json.dumps([m["MessageAttributes"] for m in copies])
    assert not [s for s in case["secrets"] if s in attributes]


def check_no_leak(database: Database, secrets: set[str], places: dict[str, bytes]) -> None:
    """No raw ip, device_id or personal key name in the database, Meltano's files or logs."""
    places["pg_dump"] = pg_dump(database)
    for name, content in places.items():
        leaked = sorted(s for s in secrets if s.encode() in content)
        assert not leaked, f"raw values in {name}: {leaked[:3]}"


def meltano_files(system_dir: Path) -> dict[str, bytes]:
    """Meltano's system database (state included), run directory and logs."""
    files = {"meltano.db": (system_dir / "meltano.db").read_bytes()}
    for folder in ("run", "logs"):
        for path in (system_dir / folder).rglob("*"):
            if path.is_file():
                files[str(path)] = path.read_bytes()
    return files


def utc_day() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def test_hostile_bodies_twice_on_a_redrive_queue_in_a_far_time_zone(
    sqs_endpoint: str, database: Database, tmp_path: Path
) -> None:
    day = utc_day()
    env, case, queue, dead = set_up(sqs_endpoint, database, "hostile")
    log = tmp_path / "meltano.log"
    for _ in range(2):
        debug = {**env, "MELTANO_CLI_LOG_LEVEL": "debug", "LOGLEVEL": "DEBUG"}
        assert run_job(debug, log) == 0, tail(log)
    assert utc_day() == day, "the test crossed midnight UTC; run it again"
    check_outcome(database, case, queue, dead, day)
    places = {"job output": log.read_bytes(), **meltano_files(SYSTEM_DIR)}
    check_no_leak(database, case["secrets"], places)


def test_hostile_bodies_with_workers_at_once(
    sqs_endpoint: str,
    database: Database,
    tmp_path: Path,
    worker_ids: list[str],
) -> None:
    day = utc_day()
    env, case, queue, dead = set_up(sqs_endpoint, database, "hostile-workers")
    warm_up = tmp_path / "warm-up.log"  # a first run creates the tables (not concurrent-safe)
    assert run_job({**env, "TAP_SQS_LOGINS_MAX_MESSAGES": "10"}, warm_up) == 0, tail(warm_up)
    workers = worker_ids[:2]
    logs = [tmp_path / f"{worker}.log" for worker in workers]
    jobs = [start_worker(env, worker, log) for worker, log in zip(workers, logs, strict=True)]
    assert [job.wait(timeout=900) for job in jobs] == [0, 0], "".join(map(tail, logs))
    assert run_job(env, tmp_path / "last.log") == 0  # picks up nothing new; must still pass
    assert utc_day() == day, "the test crossed midnight UTC; run it again"
    check_outcome(database, case, queue, dead, day)
    places = {log.name: log.read_bytes() for log in logs}
    for worker in workers:
        places.update(meltano_files(REPO / ".meltano" / "workers" / worker))
    check_no_leak(database, case["secrets"], places)
