"""`meltano --log-format json run` prints one stream: a JSON object per line, each at its level.

Every step is in it: Meltano itself, the tap, the loader (sqs-ack and target-postgres) and dbt.
Meltano parses the JSON log lines of the Singer plugins that declare `structured-logging` (the
tap, and target-postgres, whose wrapper sqs-ack logs by the same SINGER_SDK_LOG_CONFIG) and
keeps their level and fields; it wraps each line dbt prints (a utility) at INFO. No line carries
colour codes, raw personal data or a secret. The Dagster op forwards the same lines at their
levels.
"""

from __future__ import annotations

import json
import random
import subprocess
import uuid
from typing import TYPE_CHECKING

import pytest

from localenv.process import free_port
from localenv.sample import sample_bodies
from tap_sqs_logins.testing.hostile import hostile_corpus
from tests.harness.jobs import JOB, fetch, job_env, seed_ids
from tests.harness.project import REPO, RUN_TIMEOUT, in_checkout, run_meltano

if TYPE_CHECKING:
    from tests.harness.services import Database

pytestmark = pytest.mark.meltano

LEVELS = {"debug", "info", "warning", "error", "critical"}
TAP, LOADER, DBT = "tap-sqs-logins--postgres", "target-postgres", "dbt-postgres"  # the job's
DAGSTER_PYTHON = REPO / ".meltano" / "utilities" / "dagster" / "venv" / "bin" / "python"
DAGSTER_JOB = "sqs_logins_every_15_minutes"  # of schedule sqs-logins-every-15-minutes
DAGSTER_RUN = """
import json, sys
from dagster import DagsterInstance
from orchestrate.definitions import defs

with DagsterInstance.ephemeral() as instance:
    result = defs.get_job_def(sys.argv[1]).execute_in_process(
        instance=instance, raise_on_error=False
    )
    for entry in instance.all_logs(result.run_id):
        if not entry.is_dagster_event:
            print(json.dumps([entry.level, entry.user_message]))
"""


def secrets() -> dict[str, str]:
    """Fresh credentials and a fresh masking key (moto takes any credentials)."""
    return {
        "TAP_SQS_LOGINS_AWS_ACCESS_KEY_ID": f"AKIA{uuid.uuid4().hex[:16].upper()}",
        "TAP_SQS_LOGINS_AWS_SECRET_ACCESS_KEY": f"secret-{uuid.uuid4().hex}",
        "TAP_SQS_LOGINS_MASK_KEY": f"mask-{uuid.uuid4().hex}-{uuid.uuid4().hex}",
    }


def seed_mixed_queue(queue_url: str) -> tuple[int, set[str]]:
    """Seed valid logins and hostile poison; return (valid count, raw ip/device_id values)."""
    seed = random.randrange(1_000_000)  # noqa: S311 - test data
    corpus = hostile_corpus(seed)
    logins = sample_bodies(30, seed=seed, foreign_index=None)
    bodies = [*corpus.valid, *logins, *corpus.poison]
    random.Random(seed).shuffle(bodies)  # noqa: S311 - test data
    assert len(seed_ids(queue_url, bodies)) == len(bodies)
    raw = set(corpus.secrets)
    for body in logins:
        raw |= {value for key, value in json.loads(body).items() if key in ("ip", "device_id")}
    return len(corpus.valid) + len(logins), {value for value in raw if value}


def run_json(env: dict[str, str]) -> tuple[int, list[dict[str, object]], str]:
    """Run the job with --log-format json; return (exit code, parsed lines, raw output)."""
    run = run_meltano(env, "--log-format", "json", "run", JOB, timeout=RUN_TIMEOUT)
    output = run.stdout + run.stderr
    return run.returncode, [parse(line) for line in output.splitlines()], output


def parse(line: str) -> dict[str, object]:
    """One line of the stream: a JSON object with an event, a known level and a timestamp."""
    try:
        record = json.loads(line)
    except ValueError:
        pytest.fail(f"not JSON: {line[:300]!r}")
    assert isinstance(record, dict), line[:300]
    assert record.get("level") in LEVELS, line[:300]
    assert isinstance(record.get("event"), str), line[:300]
    assert "timestamp" in record, line[:300]
    assert "\x1b" not in json.dumps(record, ensure_ascii=False), line[:300]  # no colour codes
    return record


def of(
    records: list[dict[str, object]], step: str, logger: str | None = None
) -> list[dict[str, object]]:
    """The lines of one step (plugin name), optionally of one of its loggers."""
    return [
        r
        for r in records
        if r.get("name") == step and (logger is None or r.get("plugin_logger") == logger)
    ]


def assert_no_leak(output: str, values: set[str]) -> None:
    leaked = sorted(value for value in values if value in output)
    lines = [line[:300] for line in output.splitlines() if any(v in line for v in leaked)]
    assert not leaked, f"{leaked[:3]} in {lines[:2]}"


def test_every_step_logs_json_lines_at_their_level(queue_url: str, database: Database) -> None:
    valid, raw = seed_mixed_queue(queue_url)
    credentials = secrets()
    env = job_env(queue_url, database, **credentials)
    code, records, output = run_json(env)
    assert code == 0, output[-4000:]

    # Meltano's own lines.
    assert any(r["event"] == "Run completed" and "name" not in r for r in records)
    # The Singer plugins' lines are all parsed (a logger name, a pid), none wrapped plain text.
    for step in (TAP, LOADER):
        assert of(records, step), step
        unparsed = [r["event"] for r in of(records, step) if "plugin_logger" not in r]
        assert not unparsed, (step, unparsed[:3])
        assert all("pid" in r for r in of(records, step))
    assert any(r["level"] == "warning" for r in of(records, TAP, "tap-sqs-logins.logins"))
    acknowledged = of(records, LOADER, "sqs-ack")
    assert [r["level"] for r in acknowledged] == ["info"]
    assert str(acknowledged[0]["event"]).startswith("Acknowledged staged messages")
    assert of(records, LOADER, "target-postgres")
    # dbt's lines, one event each, no colour codes (parse() checked every line).
    dbt = [str(r["event"]) for r in of(records, DBT)]
    assert any("Completed successfully" in event for event in dbt), dbt[-5:]

    assert fetch(database, "select count(*) from public.user_logins") == [(valid,)]
    assert_no_leak(output, raw | set(credentials.values()))


@pytest.mark.parametrize(
    ("case", "setting", "loggers"),
    [
        ("wrong database name", "TARGET_POSTGRES_DATABASE", {"sqs-ack"}),
        ("closed Postgres port", "TARGET_POSTGRES_PORT", {"sqs-ack"}),
        ("missing dead-letter queue", "dead_letter_queue_url", {"sqs-ack"}),
        ("missing queue", "queue_url", {"sqs-ack", "tap-sqs-logins"}),
    ],
)
def test_a_plugin_error_is_logged_at_level_error(
    case: str, setting: str, loggers: set[str], queue_url: str, database: Database
) -> None:
    seed_mixed_queue(queue_url)
    endpoint = queue_url.rsplit("/", 2)[0]
    override = {
        "wrong database name": {"TARGET_POSTGRES_DATABASE": f"no_such_db_{uuid.uuid4().hex[:8]}"},
        "closed Postgres port": {"TARGET_POSTGRES_PORT": str(free_port())},
        "missing dead-letter queue": {
            "TAP_SQS_LOGINS_DEAD_LETTER_QUEUE_URL": f"{endpoint}/000000000000/no-such-dlq"
        },
        "missing queue": {"TAP_SQS_LOGINS_QUEUE_URL": f"{endpoint}/000000000000/no-such-queue"},
    }[case]
    env = job_env(queue_url, database, **secrets(), **override)
    code, records, output = run_json(env)
    assert code != 0

    naming = [
        r
        for r in [*of(records, TAP), *of(records, LOADER)]
        if "check " in str(r["event"]) and setting in str(r["event"])
    ]
    assert {r["plugin_logger"] for r in naming} >= loggers, output[-4000:]
    assert {r["level"] for r in naming} == {"error"}
    assert any(r["level"] == "error" and "name" not in r for r in records)  # Meltano's verdict


def test_the_console_format_shows_the_same_levels_as_text(
    queue_url: str, database: Database
) -> None:
    seed_mixed_queue(queue_url)
    env = job_env(queue_url, database, TARGET_POSTGRES_DATABASE=f"no_such_{uuid.uuid4().hex[:8]}")
    run = run_meltano(env, "run", JOB, timeout=RUN_TIMEOUT)
    assert run.returncode != 0
    lines = run.stderr.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("{")]  # no JSON blobs
    assert not [line for line in lines if "\x1b" in line]
    failed = [line for line in lines if "TARGET_POSTGRES_DATABASE" in line]
    assert failed, run.stderr[-4000:]
    assert all("[error    ] target-postgres cannot connect to Postgres" in line for line in failed)
    assert any(f"[warning  ] {TAP} Quarantining message" in line for line in lines)


def test_dagster_forwards_each_line_at_its_level(
    queue_url: str,
    database: Database,
    system_database: str,
) -> None:
    seed_mixed_queue(queue_url)
    env = {**job_env(queue_url, database, **secrets()), "MELTANO_DATABASE_URI": system_database}
    run = subprocess.run(
        [str(DAGSTER_PYTHON), "-c", DAGSTER_RUN, DAGSTER_JOB],
        cwd=REPO,
        env={**in_checkout(env), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    entries = [json.loads(line) for line in run.stdout.splitlines()]
    assert entries, run.stderr[-4000:]
    started, *forwarded = entries
    assert "--log-format=json" in started[1]
    levels = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
    # `schedule run` starts `meltano run`, whose version line precedes its reading the format.
    banner = [message for _, message in forwarded if not message.startswith("{")]
    assert len(banner) == 1, banner
    assert "[info     ] meltano      Meltano " in banner[0]
    records = []
    for level, message in forwarded:
        if message not in banner:
            records.append(parse(message))
            assert level == levels[str(records[-1]["level"])], message[:300]
        else:
            assert level == levels["info"]
    assert any(r["level"] == "warning" for r in of(records, TAP))  # the tap's quarantine
    assert of(records, LOADER, "sqs-ack")
    assert of(records, DBT)
    assert any(r["event"] == "Run completed" for r in records)
