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
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_sqs_logins.client import QueueError, SqsQueue, message_size
from tap_sqs_logins.messages import LOGIN_FIELDS, Rejected, parse_login
from tap_sqs_logins.receiving import ConcurrentReceiver

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from singer_sdk.helpers.types import Context

    from tap_sqs_logins.client import Message


def _text(name: str, description: str) -> th.Property[str]:
    return th.Property(name, th.StringType, description=description)


LOGIN_SCHEMA = th.PropertiesList(
    th.Property("message_id", th.StringType, required=True, description="SQS message id."),
    th.Property("sent_at", th.DateTimeType, description="When SQS received the message (UTC)."),
    _text("sent_date", "UTC date of sent_at as YYYY-MM-DD, the login's create_date."),
    th.Property("receive_count", th.IntegerType, description="How often SQS has delivered it."),
    _text("queue_url", "Queue the message was received from, and is deleted from."),
    _text("receipt_handle", "Handle the acknowledgement step deletes the message with."),
    _text("user_id", "User who logged in."),
    _text("app_version", "App version as sent, such as 2.3.0 or 0.96."),
    _text("device_type", "Device platform, such as android or ios."),
    _text("locale", "Country code of the login, often null."),
    _text("ip", "Raw IP address: personal data, replaced by masked_ip in the stream map."),
    _text("device_id", "Raw device id: personal data, replaced by masked_device_id."),
    _text("masked_ip", "Keyed pseudonym of ip, filled by the stream map mask(ip)."),
    _text("masked_device_id", "Keyed pseudonym of device_id, filled by mask(device_id)."),
    _text("rejection_reason", "Why the message is not a valid login; null when it is."),
    _text("dead_letter_message_id", "Its message id on the dead-letter queue, if sent there."),
).to_dict()


LEFT_FOR_REDRIVE = "left on the source queue for its redrive policy"
REMEMBERED_COPIES = 2_000  # recent poison message ids, so each is copied once (flat memory)


def login_record(message: Message, queue_url: str) -> dict[str, Any]:
    """Return the record of one message: its login fields, or a rejection reason.

    Args:
        message: A received message, with any body.
        queue_url: The queue it came from.

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
    try:
        record.update(parse_login(message.body))
    except Rejected as reason:
        record["rejection_reason"] = str(reason)
    return record


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
    schema = LOGIN_SCHEMA

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
        record = login_record(message, self.config["queue_url"])
        reason = record["rejection_reason"]
        if reason:
            if dead_letters:
                record.update(dead_letters.copy(message, reason))
            self.logger.warning(
                "Quarantining message %s: %s", message.message_id, record["rejection_reason"]
            )
        return record
