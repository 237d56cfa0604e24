"""Many messages ten per call: send, delete, or change their visibility, several calls in flight.

Items come from an iterator (a journal read from disk), and only a few batches are in
flight at once, so memory stays flat however many there are.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice
from typing import TYPE_CHECKING, TypeVar

from tap_sqs_logins.sqs.client import BATCH_SIZE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from tap_sqs_logins.sqs.client import SqsQueue

T = TypeVar("T")


def batches(items: Iterable[T]) -> Iterator[list[T]]:
    """Split ``items`` into lists of ``BATCH_SIZE`` (10, SQS's most per call), in order."""
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH_SIZE)):
        yield batch


def send_all(queue: SqsQueue, bodies: Iterable[str], threads: int) -> tuple[int, int]:
    """Send ``bodies``; return (bodies sent, bodies SQS refused).

    Raises:
        QueueError: If a call fails.
    """
    return _in_batches(queue.send_batch, bodies, threads)


def delete_all(queue: SqsQueue, handles: Iterable[str], threads: int) -> tuple[int, int]:
    """Delete the messages of ``handles``; return (handles sent, handles SQS refused).

    Raises:
        QueueError: If a call fails (the batches already sent stay deleted).
    """
    return _in_batches(queue.delete, handles, threads)


def hide_all(
    queue: SqsQueue, handles: Iterable[str], seconds: int, threads: int
) -> tuple[int, int]:
    """Hide the messages of ``handles`` for ``seconds`` from now (0: offer them again).

    Returns:
        (handles sent, handles SQS refused: deleted or expired).

    Raises:
        QueueError: If a call fails.
    """
    return _in_batches(lambda batch: queue.change_visibility(batch, seconds), handles, threads)


def _in_batches(
    call: Callable[[list[str]], list[str]], items: Iterable[str], threads: int
) -> tuple[int, int]:
    sent = refused = 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqs-bulk") as pool:
        pending: set[Future[list[str]]] = set()
        for batch in batches(items):
            if len(pending) >= 2 * threads:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                refused += sum(len(future.result()) for future in done)
            pending.add(pool.submit(call, batch))
            sent += len(batch)
        refused += sum(len(future.result()) for future in pending)
    return sent, refused
