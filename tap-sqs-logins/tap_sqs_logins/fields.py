"""The fields of the ``logins`` stream: the fixed ones, and those each opt-in setting adds.

Each opt-in setting changes the output, so it is off by default and its properties join
the schema only when it is on: by default ``--discover`` is unchanged. Quarantined
messages get no attributes and no group id (they may hold personal data that no login
field identifies). ``queue_url`` and ``receipt_handle`` are emitted only for a loader that
deletes the messages itself (``acknowledgement: loader``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from tap_sqs_logins.bodies.attributes import safe_attributes, safe_text
from tap_sqs_logins.settings import LOADER

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_sqs_logins.bodies.envelopes import Judged
    from tap_sqs_logins.sqs.client import Message


def _text(name: str, description: str) -> th.Property[str]:
    return th.Property(name, th.StringType, description=description)


STREAM = "logins"  # the tap's one stream
LOGIN_SCHEMA = th.PropertiesList(
    th.Property("message_id", th.StringType, required=True, description="SQS message id."),
    th.Property("sent_at", th.DateTimeType, description="When SQS received the message (UTC)."),
    _text("sent_date", "UTC date of sent_at as YYYY-MM-DD, the login's create_date."),
    th.Property("receive_count", th.IntegerType, description="How often SQS has delivered it."),
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
OPTIONAL_PROPERTIES = {
    "include_message_attributes": th.PropertiesList(
        th.Property(
            "message_attributes",
            th.ObjectType(additional_properties=th.StringType),
            description="Text message attributes (SQS's, and the SNS envelope's over them), "
            "name to value; null when quarantined. Binary ones, and any that cannot be "
            "stored or show an IP address or the login's ip or device_id, are dropped.",
        ),
    ),
    "loader_deletes": th.PropertiesList(
        _text("queue_url", "Queue the message was received from, and is deleted from."),
        _text("receipt_handle", "Handle the loader deletes the message with."),
    ),
    "include_fifo_fields": th.PropertiesList(
        _text(
            "message_group_id",
            "FIFO message group id; null on standard queues, and "
            "when it shows an IP address or the login's ip or device_id.",
        ),
        _text("sequence_number", "FIFO sequence number, a decimal of up to 128 bits."),
    ),
}


@dataclass(frozen=True)
class Options:
    """The opt-in settings that shape a record."""

    include_message_attributes: bool = False
    include_fifo_fields: bool = False
    unwrap_sns: bool = False
    loader_deletes: bool = False  # acknowledgement: loader

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Options:
        """Read the settings; each option is off unless set."""
        return cls(
            include_message_attributes=bool(config.get("include_message_attributes")),
            include_fifo_fields=bool(config.get("include_fifo_fields")),
            unwrap_sns=bool(config.get("unwrap_sns")),
            loader_deletes=config.get("acknowledgement") == LOADER,
        )

    def fields(self, message: Message, judged: Judged | None) -> tuple[dict[str, Any], int]:
        """Return the opt-in fields of a message, and how many attributes were dropped.

        Args:
            message: The received message.
            judged: Its login, or None if it is quarantined.
        """
        fields: dict[str, Any] = {}
        dropped = 0
        if self.include_message_attributes:
            fields["message_attributes"] = None
            if judged:
                attributes = {**message.attributes, **judged.sns_attributes}
                fields["message_attributes"], dropped = safe_attributes(attributes, judged.login)
        if self.include_fifo_fields:
            group = safe_text(message.group_id, judged.login) if judged else None
            fields |= {"message_group_id": group, "sequence_number": message.sequence_number}
        return fields, dropped


def login_schema(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return the schema of ``logins`` with the properties of the options that are on."""
    schema = copy.deepcopy(LOGIN_SCHEMA)
    options = Options.from_config(config)
    for option, properties in OPTIONAL_PROPERTIES.items():
        if getattr(options, option):
            schema["properties"].update(properties.to_dict()["properties"])
    return schema
