"""Queues for the bench: create one, fill it fast from several threads, and count what is left."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from localenv.sample import sample_bodies

if TYPE_CHECKING:
    from botocore.client import BaseClient

REGION = "us-east-1"
FILL_THREADS = 8


def client(endpoint: str, pool: int = 10) -> BaseClient:
    """A boto3 SQS client with LocalStack's dummy credentials."""
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - LocalStack accepts any
        config=Config(max_pool_connections=pool, retries={"max_attempts": 10, "mode": "standard"}),
    )


def new_queue(endpoint: str, prefix: str = "bench", name: str | None = None) -> str:
    """Create an empty queue, named `name` or uniquely after `prefix`; return its URL.

    A queue of that name is deleted first, so its URL stays the same from run to run.
    """
    sqs = client(endpoint)
    name = name or f"{prefix}-{uuid.uuid4().hex[:10]}"
    if url := _queue_url(sqs, name):
        sqs.delete_queue(QueueUrl=url)
    return str(sqs.create_queue(QueueName=name)["QueueUrl"])


def _queue_url(sqs: BaseClient, name: str) -> str | None:
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist:
        return None


def fill(endpoint: str, queue_url: str, count: int, foreign: bool = True) -> list[str]:
    """Send `count` sample-shaped bodies in batches of 10 from several threads; return them.

    With `foreign`, one body (the 13th) is not a login, as in the reference queue.
    """
    bodies = sample_bodies(count, seed=count, foreign_index=12 if foreign else None)
    sqs = client(endpoint, pool=FILL_THREADS)

    def send(start: int) -> None:
        entries = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
        ]
        failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")
        if failed:
            raise RuntimeError(f"send_message_batch failed: {failed[:3]}")

    with ThreadPoolExecutor(FILL_THREADS) as pool:
        list(pool.map(send, range(0, count, 10)))
    return bodies


def valid_count(bodies: list[str]) -> int:
    """How many bodies are logins (the foreign message is not)."""
    return sum('"user_id"' in body for body in bodies)


def depth(endpoint: str, queue_url: str) -> int:
    """Visible plus in-flight messages still on the queue."""
    attributes = client(endpoint).get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def delete_queue(endpoint: str, queue_url: str) -> None:
    """Delete the queue, so that LocalStack holds only the running case's messages."""
    client(endpoint).delete_queue(QueueUrl=queue_url)


class VisibleWatch:
    """Poll a queue's visible-message count in a thread, with timestamps (time.monotonic)."""

    def __init__(self, endpoint: str, queue_url: str, interval: float = 0.5) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._sqs = client(endpoint)
        self._queue_url = queue_url
        self._interval = interval
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            self.samples.append((time.monotonic(), int(attributes["ApproximateNumberOfMessages"])))

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join()

    def reoffered_after(self, moment: float) -> int:
        """How far the visible count rose above its level at `moment` (0: nothing came back).

        Once the tap has stopped receiving, messages still visible were never received; any
        rise means SQS offered received messages again while the run still worked on them.
        """
        after = [visible for at, visible in self.samples if at >= moment]
        return max(after, default=0) - after[0] if after else 0
