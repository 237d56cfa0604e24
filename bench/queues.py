"""Queues for the bench: create one, fill it fast from several threads, and count what is left."""

from __future__ import annotations

import threading
import time
import uuid

from localenv.sample import sample_bodies
from tap_sqs_logins import QueueMissing, SqsEndpoint, SqsQueue, send_all

REGION = "us-east-1"
FILL_THREADS = 8


def queue(endpoint: str, queue_url: str, connections: int = 10) -> SqsQueue:
    """The bench's queue at a LocalStack `endpoint` (dummy credentials)."""
    return SqsQueue({"region": REGION, "endpoint_url": endpoint}, queue_url, connections)


def new_queue(endpoint: str, prefix: str = "bench", name: str | None = None) -> str:
    """Create an empty queue, named `name` or uniquely after `prefix`; return its URL.

    A queue of that name is deleted first, so its URL stays the same from run to run.
    """
    sqs = SqsEndpoint({"region": REGION}, endpoint)
    name = name or f"{prefix}-{uuid.uuid4().hex[:10]}"
    try:
        queue(endpoint, sqs.queue_url(name)).delete_queue()
    except QueueMissing:
        pass
    return sqs.create_queue(name)


def fill(endpoint: str, queue_url: str, count: int, foreign: bool = True) -> list[str]:
    """Send `count` sample-shaped bodies in batches of 10 from several threads; return them.

    With `foreign`, one body (the 13th) is not a login, as in the reference queue.
    """
    bodies = sample_bodies(count, seed=count, foreign_index=12 if foreign else None)
    _, refused = send_all(queue(endpoint, queue_url, FILL_THREADS), bodies, FILL_THREADS)
    if refused:
        raise RuntimeError(f"SQS refused {refused} of {count} messages")
    return bodies


def valid_count(bodies: list[str]) -> int:
    """How many bodies are logins (the foreign message is not)."""
    return sum('"user_id"' in body for body in bodies)


def depth(endpoint: str, queue_url: str) -> int:
    """Visible plus in-flight messages still on the queue."""
    return queue(endpoint, queue_url).depth().total


def delete_queue(endpoint: str, queue_url: str) -> None:
    """Delete the queue, so that LocalStack holds only the running case's messages."""
    queue(endpoint, queue_url).delete_queue()


class VisibleWatch:
    """Poll a queue's visible-message count in a thread, with timestamps (time.monotonic)."""

    def __init__(self, endpoint: str, queue_url: str, interval: float = 0.5) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._queue = queue(endpoint, queue_url)
        self._interval = interval
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.samples.append((time.monotonic(), self._queue.depth().visible))

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
