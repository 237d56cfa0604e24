"""Copies of poison messages on the dead-letter queue, each made once per run.

A poison body that cannot be copied (too large for the queue, or refused) stays on the
source queue for its redrive policy, and the record's reason says so. As SQS's own redrive,
a FIFO source needs a FIFO dead-letter queue and a standard source a standard one; a copy to
a FIFO queue keeps the message's group and is deduplicated on its message id.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tap_sqs_logins.sqs.client import QueueError, SqsQueue, is_fifo, message_size

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_sqs_logins.sqs.client import Message

LEFT_FOR_REDRIVE = "left on the source queue for its redrive policy"
NOT_COPIED = "not copied to the dead-letter queue"
REMEMBERED_COPIES = 2_000  # recent poison message ids, so each is copied once (flat memory)


class DeadLetterQueue:
    """Copies poison messages to the dead-letter queue, when they fit, once per run."""

    def __init__(self, config: Mapping[str, Any], url: str) -> None:
        """Read the queue's ``MaximumMessageSize`` once.

        Raises:
            QueueError: If the queue cannot be used, or is not of the source queue's type
                (FIFO or standard); the message names the setting.
        """
        check_queue_types(config["queue_url"], url)
        self._sqs = SqsQueue(config, url, setting="dead_letter_queue_url")
        self.max_size = int(self._sqs.attributes("MaximumMessageSize")["MaximumMessageSize"])
        # SQS may deliver a message twice (at least once): reuse the copy, in bounded memory.
        self._copies: OrderedDict[str, dict[str, str]] = OrderedDict()

    def copy(self, message: Message, reason: str) -> dict[str, str]:
        """Copy one poison message; return the record fields that say what happened."""
        if message.message_id not in self._copies:
            self._copies[message.message_id] = self._copy(message, reason)
            if len(self._copies) > REMEMBERED_COPIES:
                self._copies.popitem(last=False)
        return self._copies[message.message_id]

    def _copy(self, message: Message, reason: str) -> dict[str, str]:
        attributes = {"source_message_id": message.message_id, "rejection_reason": reason}
        if message_size(message.body, attributes) > self.max_size:
            return {
                "rejection_reason": f"{reason}; too large for the dead-letter queue; "
                f"{LEFT_FOR_REDRIVE}"
            }
        fifo_ids = None
        if self._sqs.is_fifo:
            if not message.group_id:
                return {
                    "rejection_reason": f"{reason}; {NOT_COPIED} (no message group id); "
                    f"{LEFT_FOR_REDRIVE}"
                }
            fifo_ids = (message.group_id, message.message_id)
        try:
            return {"dead_letter_message_id": self._sqs.send(message.body, attributes, fifo_ids)}
        except QueueError as error:
            return {
                "rejection_reason": f"{reason}; {NOT_COPIED} (SQS refused it: "
                f"{error.code or 'no error code'}); {LEFT_FOR_REDRIVE}"
            }
        except ValueError:  # a body boto3 cannot encode
            return {
                "rejection_reason": f"{reason}; {NOT_COPIED} (SQS cannot carry the body); "
                f"{LEFT_FOR_REDRIVE}"
            }


def check_queue_types(queue_url: str, dead_letter_queue_url: str) -> None:
    """Refuse the source queue itself, or a queue of another type, as the dead-letter queue.

    Raises:
        QueueError: Naming ``dead_letter_queue_url`` and what it must be.
    """
    if _queue_path(queue_url) == _queue_path(dead_letter_queue_url):
        msg = (
            f"dead_letter_queue_url {dead_letter_queue_url} is the source queue itself: poison "
            "copied there would come back every run; set dead_letter_queue_url to another queue"
        )
        raise QueueError(msg)
    source, dead_letters = is_fifo(queue_url), is_fifo(dead_letter_queue_url)
    if source != dead_letters:
        need, have = ("a FIFO queue", "a standard queue")[:: 1 if source else -1]
        msg = (
            f"dead_letter_queue_url {dead_letter_queue_url} is {have} but queue_url is "
            f"{need}: set dead_letter_queue_url to {need} (SQS redrives a FIFO queue only "
            "to a FIFO queue, whose name ends with .fifo, and a standard one only to a "
            "standard one)"
        )
        raise QueueError(msg)


def _queue_path(url: str) -> str:
    """The account and name part of a queue URL (``/000000000000/login-queue``)."""
    return urlsplit(url).path.rstrip("/")
