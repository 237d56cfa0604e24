"""The privacy audit: after a real run at DEBUG, no raw ip or device_id is anywhere downstream.

Searched: a pg_dump of the whole database, Meltano's system database (state included),
its run directory, and every log line the job printed. The run also keeps a sealed copy,
which only the private key (never given to the pipeline) opens.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from localenv.sample import sample_bodies
from localenv.sqs import local_queue, seed
from tap_sqs_logins.privacy.sealing import unseal
from tap_sqs_logins.testing import rsa_key_pair
from tests.harness.jobs import JOB, MASKING, SEALED_MAPS, job_env, pg_dump, queue_counts
from tests.harness.project import RUN_TIMEOUT, SYSTEM_DIR, run_meltano

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

POISON = [
    '{"ip": "203.0.113.199", "device_id": "911-91-1911"}',  # no user_id
    '{"user_id": "x", "ip": "203.0.113.198", "device_id": "922-92-2922", "app_version": "v"',
    json.dumps(
        {
            "user_id": "u" * 129,
            "app_version": "1.0",
            "device_type": "ios",
            "ip": "203.0.113.197",
            "device_id": "933-93-3933",
        }
    ),
]


def raw_values(bodies: list[str]) -> set[str]:
    values = {
        "203.0.113.199",
        "911-91-1911",
        "203.0.113.198",
        "922-92-2922",
        "203.0.113.197",
        "933-93-3933",
    }
    for body in bodies:
        login = json.loads(body)
        values |= {login[k] for k in ("ip", "device_id") if login.get(k)}
    return values


def everything_downstream(database: Database, run_output: str) -> dict[str, bytes]:
    places = {"pg_dump": pg_dump(database), "job output": run_output.encode()}
    places["meltano.db"] = (SYSTEM_DIR / "meltano.db").read_bytes()
    for folder in ("run", "logs"):
        for path in (SYSTEM_DIR / folder).rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_bytes()
    return places


def test_no_raw_pii_downstream_and_sealed_copy_opens_off_pipeline(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    bodies = sample_bodies(40, seed=11)
    seed(local_queue(queue_url), [*bodies, *POISON])
    private_pem, public_key = rsa_key_pair()
    private_key = tmp_path / "private.pem"
    private_key.write_bytes(private_pem)
    env = job_env(
        queue_url,
        database,
        TAP_SQS_LOGINS_SEAL_PUBLIC_KEY=public_key,
        TAP_SQS_LOGINS_STREAM_MAPS=json.dumps(SEALED_MAPS),
        LOGLEVEL="DEBUG",
    )
    run = run_meltano(env, "--log-level=debug", "run", JOB, timeout=RUN_TIMEOUT)
    tap_lines = [line for line in run.stderr.splitlines() if "tap-sqs-logins" in line]
    assert run.returncode == 0, "\n".join(tap_lines[-40:])[-6000:]
    assert "[debug" in run.stderr

    raw = raw_values(bodies)
    for place, content in everything_downstream(database, run.stdout + run.stderr).items():
        leaked = sorted(value for value in raw if value.encode() in content)
        lines = [
            line
            for line in content.decode(errors="replace").splitlines()
            if any(value in line for value in leaked)
        ]
        assert not leaked, f"raw values in {place}: {leaked[:3]} in {lines[:2]}"

    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute(
            "select l.sealed_ip, l.sealed_device_id from sqs_staging.sealed_logins l"
            " join sqs_staging.logins s using (message_id) where s.rejection_reason is null"
        ).fetchall()
        quarantined = conn.execute(
            "select count(*) from sqs_logins.quarantined_messages"
        ).fetchone()
    opened = {unseal(private_key.read_bytes(), value) for row in rows for value in row if value}
    assert opened == {
        v for b in bodies for k, v in json.loads(b).items() if k in ("ip", "device_id") and v
    }
    assert quarantined == (len(POISON) + sum("user_id" not in json.loads(b) for b in bodies),)
    assert private_key.read_text() not in json.dumps(env)


DERIVED = {"__source__": "logins", "__else__": None, "message_id": "message_id"}


@pytest.mark.parametrize(
    ("maps", "problem"),
    [
        (  # a side door: which rows exist tells a bit of each ip
            {
                "logins": {**MASKING, "device_id": None},
                "bit": {**DERIVED, "__filter__": "ip[-1] in '13579'"},
            },
            "stream_maps.bit.__filter__ reads ip outside mask() or seal()",
        ),
        (  # a message without a row would be acknowledged undelivered
            {"logins": {**MASKING, "device_id": None, "__filter__": "locale"}},
            "stream_maps.logins.__filter__ drops rows",
        ),
    ],
)
def test_the_job_refuses_a_side_door_before_receiving(
    queue_url: str, database: Database, maps: dict[str, Any], problem: str
) -> None:
    seed(local_queue(queue_url), sample_bodies(5, seed=3))
    env = job_env(queue_url, database, TAP_SQS_LOGINS_STREAM_MAPS=json.dumps(maps))
    run = run_meltano(env, "run", JOB, timeout=RUN_TIMEOUT)
    assert run.returncode != 0
    assert problem in run.stderr, run.stderr[-6000:]
    assert queue_counts(queue_url) == (5, 0)  # nothing received: all left for the next run
