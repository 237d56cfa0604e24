"""The ``logins`` stream: one record per SQS message, deliverable or quarantined.

No message stops a run: a body that is not a deliverable login becomes a quarantine
record, and a poison body that cannot be copied to the dead-letter queue stays on the
source queue for its redrive policy.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.exceptions import FatalAPIError

from tap_sqs_logins.client import QueueError, SqsQueue, message_size
from tap_sqs_logins.envelopes import Judged, judge_body
from tap_sqs_logins.fields import Options, login_schema
from tap_sqs_logins.messages import LOGIN_FIELDS, Rejected
from tap_sqs_logins.receiving import ConcurrentReceiver

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_sqs_logins.client import Message


LEFT_FOR_REDRIVE = "left on the source queue for its redrive policy"
REMEMBERED_COPIES = 2_000  # recent poison message ids, so each is copied once (flat memory)


def login_record(
    message: Message,
    queue_url: str,
    options: Options | None = None,
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """Return the record of one message: its login fields, or a rejection reason.

    Args:
        message: A received message, with any body.
        queue_url: The queue it came from.
        options: The opt-in settings (SNS unwrapping, extra fields); all off if None.
        logger: Where to say that unsafe attributes were dropped.

    Returns:
        A ``logins`` record meeting Contract 1 (PLAN.md); ``dead_letter_message_id`` is
        left null.
    """
    sent_at = datetime.fromtimestamp(message.sent_at_ms / 1000, tz=timezone.utc)
    record: dict[str, Any] = {
        "message_id": message.message_id,
        "sent_at": sent_at,
        "sent_date": sent_at.date().isoformat(),
        "receive_count": message.receive_count,
        "queue_url": queue_url,
        "receipt_handle": message.receipt_handle,
        **dict.fromkeys([*LOGIN_FIELDS, "rejection_reason", "dead_letter_message_id"]),
    }
    options = options or Options()
    judged: Judged | None = None
    try:
        judged = judge_body(message.body, unwrap_sns=options.unwrap_sns)
        record.update(judged.login)
    except Rejected as reason:
        record["rejection_reason"] = str(reason)
    fields, dropped = options.fields(message, judged)
    if dropped and logger:
        logger.warning(
            "Dropped %d attributes of message %s: unstorable, or showing personal data.",
            dropped,
            message.message_id,
        )
    return {**record, **fields}


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


class LoginsStream(Stream):
    """Receives login messages with concurrent long polls until a limit is reached."""

    name = "logins"
    primary_keys = ("message_id",)

    def __init__(self, tap: Tap) -> None:
        """Give the stream the schema of the opt-in settings that are on."""
        super().__init__(tap, schema=login_schema(tap.config))
        self._options = Options.from_config(tap.config)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Yield one record per received message as it arrives (memory stays flat).

        Raises:
            FatalAPIError: If SQS cannot be used; the message names the setting to fix.
        """
        try:
            url = self.config.get("dead_letter_queue_url")
            dead_letters = DeadLetterQueue(self.config, url) if url else None
            source = SqsQueue(
                self.config, self.config["queue_url"], self.config["receive_concurrency"]
            )
            for message in ConcurrentReceiver(source, self.config, self.logger).messages():
                yield self._record(message, dead_letters)
        except QueueError as error:
            raise FatalAPIError(str(error)) from None

    def _record(self, message: Message, dead_letters: DeadLetterQueue | None) -> dict[str, Any]:
        record = login_record(message, self.config["queue_url"], self._options, self.logger)
        reason = record["rejection_reason"]
        if reason:
            if dead_letters:
                record.update(dead_letters.copy(message, reason))
            self.logger.warning(
                "Quarantining message %s: %s", message.message_id, record["rejection_reason"]
            )
        return record
