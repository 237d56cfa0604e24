"""Copies of poison messages on the dead-letter queue, each made once per run.

A poison body that cannot be copied (too large for the queue, or refused) stays on the
source queue for its redrive policy, and the record's reason says so.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from tap_sqs_logins.client import QueueError, SqsQueue, message_size

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_sqs_logins.client import Message

LEFT_FOR_REDRIVE = "left on the source queue for its redrive policy"
REMEMBERED_COPIES = 2_000  # recent poison message ids, so each is copied once (flat memory)


class DeadLetterQueue:
    """Copies poison messages to the dead-letter queue, when they fit, once per run."""

    def __init__(self, config: Mapping[str, Any], url: str) -> None:
        """Read the queue's ``MaximumMessageSize`` once.

        Raises:
            QueueError: If the queue cannot be used; the message names the setting.
        """
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
        try:
            return {"dead_letter_message_id": self._sqs.send(message.body, attributes)}
        except (QueueError, ValueError):  # ValueError: a body boto3 cannot encode
            return {
                "rejection_reason": f"{reason}; not copied to the dead-letter queue; "
                f"{LEFT_FOR_REDRIVE}"
            }
