"""FIFO queues: one `meltano run` drains every message group; poison keeps its group.

SQS returns nothing more from a message group while a batch of it is in flight, and the
job deletes a batch only once Postgres committed it. moto implements that rule (a receive
skips every group with a message in flight), so these runs meet it as they would on AWS.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from localenv.sqs import sqs_client
from tests.harness.jobs import (
    delivered,
    expected_rows,
    fetch,
    job_env,
    poison_bodies,
    queue_counts,
    run_job,
    tail,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.harness.services import Database

pytestmark = pytest.mark.meltano


def fifo_queues(endpoint: str) -> tuple[str, str]:
    """A FIFO source queue and a FIFO dead-letter queue."""
    client = sqs_client(endpoint)
    suffix = uuid.uuid4().hex[:8]
    fifo = {"FifoQueue": "true"}
    source = client.create_queue(QueueName=f"logins-{suffix}.fifo", Attributes=fifo)
    dead = client.create_queue(QueueName=f"dead-{suffix}.fifo", Attributes=fifo)
    return source["QueueUrl"], dead["QueueUrl"]


def login(group: str, n: int) -> str:
    return json.dumps(
        {
            "user_id": f"{group}-{n}",
            "app_version": f"{n % 4}.1.0",
            "device_type": "ios",
            "ip": f"10.1.{n % 250}.{len(group)}",
            "locale": "FR",
            "device_id": f"{n:03d}-12-3456",
        }
    )


def seed_groups(queue_url: str, groups: dict[str, list[str]]) -> dict[str, tuple[str, str]]:
    """Send each group's bodies in order; return {message id: (group, body)}."""
    client = sqs_client(queue_url.rsplit("/", 2)[0])
    sent = {}
    for group, bodies in groups.items():
        for body in bodies:
            response = client.send_message(
                QueueUrl=queue_url,
                MessageBody=body,
                MessageGroupId=group,
                MessageDeduplicationId=uuid.uuid4().hex,
            )
            sent[response["MessageId"]] = (group, body)
    return sent


LAYOUTS: dict[str, Callable[[random.Random], dict[str, int]]] = {
    # The case: 21 messages in 2 groups took 3 runs.
    "two groups of 21": lambda rng: {"a": 21, "b": 21},
    # Groups of every size, one of poison only, one longer than two commit rounds.
    "uneven groups": lambda rng: {f"g{n}": rng.randint(1, 35) for n in range(rng.randint(3, 7))},
}


def dead_letters(queue_url: str) -> dict[str, dict[str, Any]]:
    """Every copy on the dead-letter queue, with its group: {source message id: message}."""
    client = sqs_client(queue_url.rsplit("/", 2)[0])
    copies = {}
    while batch := client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"],
    ).get("Messages", []):
        for message in batch:
            copies[message["MessageAttributes"]["source_message_id"]["StringValue"]] = message
            client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return copies


@pytest.mark.parametrize("layout", LAYOUTS)
def test_one_run_drains_every_group_and_poison_keeps_its_group(
    sqs_endpoint: str, database: Database, tmp_path: Path, layout: str
) -> None:
    rng = random.Random(layout)  # noqa: S311 - a layout, not a secret
    source, dead = fifo_queues(sqs_endpoint)
    poison = iter(poison_bodies(60))
    groups = {
        group: [next(poison) if rng.random() < 0.2 else login(group, n) for n in range(size)]
        for group, size in LAYOUTS[layout](rng).items()
    }
    groups["only-poison"] = [next(poison) for _ in range(12)]
    valid = {login(group, n) for group, bodies in groups.items() for n in range(len(bodies))}
    sent = seed_groups(source, groups)
    env = job_env(source, database, TAP_SQS_LOGINS_DEAD_LETTER_QUEUE_URL=dead)
    log = tmp_path / "fifo.log"

    assert run_job(env, log) == 0, tail(log)

    assert queue_counts(source) == (0, 0), tail(log)  # every group drained and deleted
    day = datetime.now(timezone.utc).date().isoformat()
    bodies = [body for _, body in sent.values()]
    assert delivered(database) == expected_rows([b for b in bodies if b in valid], day)
    poison_ids = {m for m, (_, body) in sent.items() if body not in valid}
    quarantined = fetch(database, "select message_id from sqs_logins.quarantined_messages")
    assert Counter(row[0] for row in quarantined) == Counter(poison_ids)
    copies = dead_letters(dead)
    assert set(copies) == poison_ids
    for message_id, copy in copies.items():
        group, body = sent[message_id]
        assert copy["Body"] == body
        assert copy["Attributes"]["MessageGroupId"] == group
        assert copy["Attributes"]["MessageDeduplicationId"] == message_id
    rounds = tail(log, 10**7).count("Stopped receiving after")
    assert rounds == 1, tail(log)  # one tap run did it all
