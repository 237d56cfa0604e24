"""Any body gives a deliverable record that fits user_logins, or a quarantine record; never a crash.

Property-based (Hypothesis) over classes of hostile bodies (tap_sqs_logins.testing.hostile), then
the same classes end to end: through ``TapSqsLogins.sync_all()`` on moto, into a real
PostgreSQL with the SQL's casts, and through the real target-postgres.
"""

from __future__ import annotations

import json
import logging
import subprocess
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage

from localenv.sample import sample_bodies
from tap_sqs_logins import testing
from tap_sqs_logins.privacy.guard import build_mapper
from tap_sqs_logins.sqs.client import Message
from tap_sqs_logins.streams import login_record
from tap_sqs_logins.testing import MASKING_MAPS, records, run_tap
from tap_sqs_logins.testing.hostile import (
    FIELDS,
    REASON,
    UNSTORABLE,
    bodies,
    is_deliverable,
    login_bodies,
    quotes_the_body,
    strings_in,
)
from tests.harness.jobs import TARGET
from tests.harness.project import REPO

if TYPE_CHECKING:
    from pathlib import Path

    from tests.harness.services import Database

# The tap's in-process SQS here, not tests/conftest.py's moto server.
sqs, queue_url, config = testing.sqs, testing.queue_url, testing.config
TARGET_POSTGRES = REPO / ".meltano/loaders/target-postgres/venv/bin" / TARGET
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/login-queue"
SETTINGS = {
    "stream_maps": MASKING_MAPS,
    "mask_key": "unit-test-key-0123456789",
    "allow_raw_pii": False,
}
MASKING = build_mapper(SETTINGS, logging.getLogger("test-hostile")).stream_maps["logins"][0]
# Up to year 9999, as SQS SentTimestamp (milliseconds) can be.
sent_timestamps = st.integers(0, 253_402_300_799_999)
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Bodies SQS itself accepts (no raw NUL or surrogates: their JSON escapes instead).
SQS_HOSTILE_BODIES = [
    "[" * 100_000 + "]" * 100_000,
    '{"user_id": ' + "9" * 5000 + ', "app_version": "1", "device_type": "ios"}',
    '{"user_id": "u", "app_version": NaN, "device_type": "ios"}',
    '{"user_id": "u", "user_id": "v", "app_version": "1", "device_type": "ios"}',
    json.dumps({"user_id": "u\x00", "app_version": "1", "device_type": "ios"}),
    json.dumps({"user_id": "u", "app_version": "1", "device_type": "ios", "ip": "\ud800"}),
    json.dumps({"\ud800": 1, "\x00": 2, "user_id": "u"}),
    json.dumps({"user_id": "u", "app_version": "\u0662.3", "device_type": "ios"}),
    json.dumps({"user_id": "u", "app_version": "\uff13.0", "device_type": "ios"}),
    json.dumps({"user_id": "u", "app_version": "2.3.0\n", "device_type": "ios"}),
    json.dumps({"user_id": "u", "app_version": "1234567890", "device_type": "ios"}),
    json.dumps({"user_id": " ", "app_version": "1", "device_type": "ios"}),
    json.dumps({"user_id": ["u"], "app_version": "1", "device_type": "ios"}),
    json.dumps({"199.172.111.135": {"device_id": "593-47-5928"}}),
    json.dumps(
        {"user_id": "u", "app_version": "1", "device_type": "ios", "device_id": "d" * 200_000}
    ),
    json.dumps({"user_id": "😀" * 128, "app_version": "999999999.1", "device_type": "é" * 32}),
    "",
    "\n",
    "not json at all",
    "null",
]


def mapped(body: str, sent_ms: int = 1_700_000_000_000) -> dict[str, Any]:
    """The record the tap builds for a body, after the masking map."""
    record = login_record(Message("m-1", "h-1", body, sent_ms, 1), QUEUE_URL)
    output = MASKING.transform(record)
    assert output is not None
    return output


def singer_line(record: dict[str, Any]) -> str:
    return SingerWriter().serialize_message(RecordMessage(stream="logins", record=record))


@PROPERTY
@given(body=bodies, sent_ms=sent_timestamps)
@example(body="[" * 100_000, sent_ms=0)
@example(body='{"a": ' * 50_000 + "1" + "}" * 50_000, sent_ms=0)
@example(body="9" * 5000, sent_ms=0)
@example(body='{"user_id": "u", "app_version": "1\\n", "device_type": "x"}', sent_ms=0)
def test_every_body_gives_a_deliverable_or_a_quarantine_record(body: str, sent_ms: int) -> None:
    record = mapped(body, sent_ms)
    reason = record["rejection_reason"]
    if reason is None:
        assert is_deliverable(record)
    else:
        assert all(record.get(name) is None for name in (*FIELDS, "masked_ip", "masked_device_id"))
        assert REASON.fullmatch(reason), reason
        assert not quotes_the_body(reason, body)
    line = singer_line(record)
    parsed = json.loads(line.encode("utf-8"))
    assert parsed["record"]["message_id"] == "m-1"
    assert not any(UNSTORABLE.search(text) for text in strings_in(parsed))


def test_deliverable_records_cast_into_user_logins(database: Database) -> None:
    samples = sample_bodies(80, foreign_index=None)  # every one deliverable
    found: list[dict[str, Any]] = [mapped(body) for body in SQS_HOSTILE_BODIES + samples]

    @PROPERTY
    @given(body=login_bodies(hostile_rate=0.0) | bodies, sent_ms=sent_timestamps)
    def collect(body: str, sent_ms: int) -> None:
        found.append(mapped(body, sent_ms))

    collect()
    deliverable = [r for r in found if r["rejection_reason"] is None]
    assert len(deliverable) > len(samples)  # and Hypothesis's, however many it generated
    columns = ("user_id", "device_type", "masked_ip", "masked_device_id", "locale")
    rows = [(*(r[c] for c in columns), r["app_version"], r["sent_date"]) for r in deliverable]
    with psycopg.connect(database.dsn) as conn:
        conn.execute(
            "create temp table staged (user_id text, device_type text, masked_ip text,"
            " masked_device_id text, locale text, app_version text, sent_date text)"
        )
        with conn.cursor() as cursor:
            cursor.executemany("insert into staged values (%s, %s, %s, %s, %s, %s, %s)", rows)
        conn.execute(
            "insert into public.user_logins (user_id, device_type, masked_ip, masked_device_id,"
            " locale, app_version, create_date) select user_id, device_type, masked_ip,"
            " masked_device_id, locale, cast(split_part(app_version, '.', 1) as integer),"
            " cast(sent_date as date) from staged"
        )
        count = conn.execute("select count(*) from public.user_logins").fetchone()
    assert count == (len(deliverable),)


def test_hostile_bodies_end_to_end_through_the_tap(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    for body in SQS_HOSTILE_BODIES:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    out = records(run_tap(config))
    assert len(out) == len(SQS_HOSTILE_BODIES)
    for record in out:
        reason = record["rejection_reason"]
        assert (reason is None and is_deliverable(record)) or REASON.fullmatch(reason or "")
    assert sum(r["rejection_reason"] is None for r in out) == 2  # the long device_id, the emoji


def sqs_text(body: str) -> str:
    """The body without the characters SQS refuses (it allows XML 1.0 characters only)."""
    return "".join(c for c in body if c in "\t\n\r" or " " <= c <= "\ud7ff" or c >= "\ue000")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    batch=st.lists(bodies.map(sqs_text).filter(lambda b: len(b.encode()) < 200_000), max_size=12)
)
def test_generated_bodies_end_to_end_with_a_dead_letter_queue(
    sqs: Any, config: dict[str, Any], batch: list[str]
) -> None:
    suffix = uuid.uuid4().hex[:8]
    source = sqs.create_queue(QueueName=f"hostile-{suffix}")["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"hostile-dlq-{suffix}")["QueueUrl"]
    for body in batch:
        sqs.send_message(QueueUrl=source, MessageBody=body)
    out = records(run_tap({**config, "queue_url": source, "dead_letter_queue_url": dlq}))
    assert len(out) == len(batch)
    poison = [r for r in out if r["rejection_reason"]]
    assert all(r["dead_letter_message_id"] for r in poison)
    assert all(is_deliverable(r) for r in out if not r["rejection_reason"])
    copies = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert copies["Attributes"]["ApproximateNumberOfMessages"] == str(len(poison))


@pytest.mark.meltano
def test_target_postgres_loads_one_row_per_hostile_message(
    sqs: Any, queue_url: str, config: dict[str, Any], database: Database, tmp_path: Path
) -> None:
    bodies_sent = SQS_HOSTILE_BODIES + sample_bodies(20)
    for body in bodies_sent:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    singer = tmp_path / "logins.singer"
    singer.write_text("".join(json.dumps(m) + "\n" for m in run_tap(config)))
    target_config = tmp_path / "target.json"
    target_config.write_text(
        json.dumps(
            {
                "host": database.host,
                "port": database.port,
                "user": database.user,
                "password": database.password,
                "database": database.name,
                "default_target_schema": "sqs_staging",
                "add_record_metadata": True,
            }
        )
    )
    with singer.open() as stdin:
        result = subprocess.run(
            [str(TARGET_POSTGRES), "--config", str(target_config)],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute("select count(*) from sqs_staging.logins").fetchone()
    assert rows == (len(bodies_sent),)
