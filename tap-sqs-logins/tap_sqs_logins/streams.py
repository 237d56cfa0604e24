"""The ``logins`` stream: one record per SQS message, valid or quarantined."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_sqs_logins.client import BATCH_SIZE, Message, QueueError, SqsQueue
from tap_sqs_logins.messages import LOGIN_FIELDS, Rejected, parse_login
from tap_sqs_logins.pii_guard import check_pii_is_masked

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context


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


class LoginsStream(Stream):
    """Receives login messages in batches until the queue is empty or a limit is reached."""

    name = "logins"
    primary_keys = ("message_id",)
    schema = LOGIN_SCHEMA

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Yield one record per received message, batch by batch (memory stays flat).

        Raises:
            FatalAPIError: If SQS cannot be used; the message names the setting to fix.
        """
        check_pii_is_masked(self.config)
        try:
            dead_letters = self._dead_letter_queue()
            for message in self._receive():
                yield self._record(message, dead_letters)
        except QueueError as error:
            raise FatalAPIError(str(error)) from None

    def _receive(self) -> Iterator[Message]:
        queue = SqsQueue(self.config, self.config["queue_url"])
        limit = self.config.get("max_messages") or float("inf")
        # Stop receiving while the first batch is still invisible, so the job can
        # load and acknowledge everything it read before SQS offers it again.
        deadline = time.monotonic() + self.config["visibility_timeout"] / 2
        received = 0
        while received < limit and time.monotonic() < deadline:
            batch = queue.receive(
                int(min(BATCH_SIZE, limit - received)),
                self.config["wait_time_seconds"],
                self.config["visibility_timeout"],
            )
            if not batch:
                return
            received += len(batch)
            yield from batch
        self.logger.info("Stopped after %d messages; the rest waits for the next run.", received)

    def _dead_letter_queue(self) -> SqsQueue | None:
        url = self.config.get("dead_letter_queue_url")
        return SqsQueue(self.config, url) if url else None

    def _record(self, message: Message, dead_letters: SqsQueue | None) -> dict[str, Any]:
        sent_at = datetime.fromtimestamp(message.sent_at_ms / 1000, tz=timezone.utc)
        record: dict[str, Any] = {
            "message_id": message.message_id,
            "sent_at": sent_at,
            "sent_date": sent_at.date().isoformat(),
            "receive_count": message.receive_count,
            "queue_url": self.config["queue_url"],
            "receipt_handle": message.receipt_handle,
            **dict.fromkeys([*LOGIN_FIELDS, "rejection_reason", "dead_letter_message_id"]),
        }
        try:
            record.update(parse_login(message.body))
        except Rejected as reason:
            record["rejection_reason"] = str(reason)
            self.logger.warning("Quarantining message %s: %s", message.message_id, reason)
            if dead_letters:
                record["dead_letter_message_id"] = dead_letters.send(
                    message.body,
                    {"source_message_id": message.message_id, "rejection_reason": str(reason)},
                )
        return record
