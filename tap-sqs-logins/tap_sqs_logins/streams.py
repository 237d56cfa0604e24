"""The ``logins`` stream: one record per SQS message, deliverable or quarantined.

No message stops a run: a body that is not a deliverable login becomes a quarantine
record, and a poison body that cannot be copied to the dead-letter queue stays on the
source queue for its redrive policy. The run's acknowledgement (``acknowledging/modes.py``)
follows the records batch by batch, and a heartbeat keeps the unacknowledged ones hidden.
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime, timezone
from itertools import chain
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import StateMessage

from tap_sqs_logins.acknowledging.dead_letters import DeadLetterQueue
from tap_sqs_logins.acknowledging.journal import JournalError
from tap_sqs_logins.acknowledging.modes import Acknowledgement
from tap_sqs_logins.bodies.envelopes import Judged, judge_body
from tap_sqs_logins.bodies.messages import LOGIN_FIELDS, Rejected
from tap_sqs_logins.config_test import probe_record, under_meltano_config_test
from tap_sqs_logins.fields import STREAM, Options, login_schema
from tap_sqs_logins.privacy.map_faults import map_failure
from tap_sqs_logins.settings import COMMIT_REQUEST, LOADER, ON_EMIT
from tap_sqs_logins.sqs.client import QueueError, SqsQueue
from tap_sqs_logins.sqs.heartbeat import Heartbeat
from tap_sqs_logins.sqs.in_flight import GroupRelease, in_flight_budget
from tap_sqs_logins.sqs.receiving import ConcurrentReceiver

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Iterator, Mapping

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_sqs_logins.sqs.client import Message


def left_for_redrive(record: Mapping[str, Any]) -> bool:
    """Whether a record is poison that no dead-letter queue holds: never delete its message."""
    return record["rejection_reason"] is not None and record["dead_letter_message_id"] is None


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
        A ``logins`` record that fits ``user_logins``; ``dead_letter_message_id`` is left
        null.
    """
    sent_at = datetime.fromtimestamp(message.sent_at_ms / 1000, tz=timezone.utc)
    record: dict[str, Any] = {
        "message_id": message.message_id,
        "sent_at": sent_at,
        "sent_date": sent_at.date().isoformat(),
        "receive_count": message.receive_count,
        **dict.fromkeys([*LOGIN_FIELDS, "rejection_reason", "dead_letter_message_id"]),
    }
    options = options or Options()
    if options.loader_deletes:
        record |= {"queue_url": queue_url, "receipt_handle": message.receipt_handle}
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


class LoginsStream(Stream):
    """Receives login messages with concurrent long polls until a limit is reached."""

    name = STREAM
    primary_keys = ("message_id",)
    # Records leave ``_record`` conformed by the SDK's rule (the map check must see what the
    # maps will see), so the SDK does not conform them a second time.
    CONFORMANCE = Stream.TYPE_CONFORMANCE_LEVEL
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap) -> None:
        """Give the stream the schema of the opt-in settings that are on."""
        super().__init__(tap, schema=login_schema(tap.config))
        self._options = Options.from_config(tap.config)

    @property
    def emit_activate_version_messages(self) -> bool:
        """Never: a target would drop every earlier run's records as an old table version."""
        return False

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Yield one record per received message as it arrives (memory stays flat).

        First deletes what the incoming state confirms (``acknowledgement``).

        Raises:
            FatalAPIError: If SQS or the journal cannot be used; the message names the setting.
        """
        try:
            url = self.config.get("dead_letter_queue_url")
            dead_letters = DeadLetterQueue(self.config, url) if url else None
            if under_meltano_config_test():
                yield self._conformed(self._probe())
                return
            threads = self.config["receive_concurrency"]
            source = SqsQueue(self.config, self.config["queue_url"], 2 * threads)
            acknowledgement = Acknowledgement(self.config, source, self.stream_state, self.logger)
            acknowledgement.start()
            release = self._group_release(source, acknowledgement)
            receiver = ConcurrentReceiver(
                source,
                self.config,
                self.logger,
                in_flight_budget(source, self.config, self.logger),
                release.stalled if release else None,
            )
            heartbeat = Heartbeat(
                source,
                lambda: chain(receiver.waiting(), acknowledgement.unacknowledged()),
                self.config["visibility_timeout"],
                threads,
                self.logger,
            )
            yield from self._records(receiver, heartbeat, acknowledgement, dead_letters, release)
        except (QueueError, JournalError) as error:
            raise FatalAPIError(str(error)) from None

    def _group_release(
        self, source: SqsQueue, acknowledgement: Acknowledgement
    ) -> GroupRelease | None:
        """On a FIFO queue, what lets one run go on with groups it holds (``sqs/in_flight.py``)."""
        if not source.is_fifo:
            return None
        commits = 0

        def release() -> bool:
            nonlocal commits
            if acknowledgement.mode == LOADER:  # sqs-ack commits what came before, then deletes
                commits += 1
                self._tap.write_message(StateMessage(value={COMMIT_REQUEST: commits}))
                return True
            if acknowledgement.mode == ON_EMIT:
                self._close_batch(acknowledgement)
                return True
            return False  # after_state: only the next run deletes

        return GroupRelease(source, release, self.config["visibility_timeout"], self.logger)

    def _probe(self) -> dict[str, Any]:
        """Check that the queue answers; return the config test's probe record."""
        source = SqsQueue(self.config, self.config["queue_url"])
        visible = source.depth().visible
        self.logger.info(
            "meltano config test: the queues answer and %d messages are visible; none is "
            "received or deleted. Emitting one probe record.",
            visible,
        )
        return probe_record(self.schema["properties"], visible)

    def _records(
        self,
        receiver: ConcurrentReceiver,
        heartbeat: Heartbeat,
        acknowledgement: Acknowledgement,
        dead_letters: DeadLetterQueue | None,
        release: GroupRelease | None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the records; after each full batch is written, acknowledge it."""
        completed = False
        try:
            # The heartbeat stops before an early stop offers the messages again.
            with closing(receiver.messages()) as messages, heartbeat:
                for message in messages:
                    record, conformed = self._record(message, dead_letters)
                    # Poison without a dead-letter copy stays for the queue's redrive policy.
                    delete = not left_for_redrive(record)
                    full = acknowledgement.add(message.receipt_handle, delete=delete)
                    yield conformed  # written once resumed
                    if release:
                        release.emitted(message.receipt_handle, deleted_on_release=delete)
                    if full:
                        self._close_batch(acknowledgement)
                self._close_batch(acknowledgement)
            completed = True
        finally:
            acknowledgement.finish(completed=completed)

    def _conformed(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with JSON-ready values (``sent_at`` as text), as the SDK conforms it."""
        return conform_record_data_types(
            self.name, record, self.effective_schema, self.CONFORMANCE, self.logger
        )

    def _close_batch(self, acknowledgement: Acknowledgement) -> None:
        if acknowledgement.close_batch():
            self.state_manager.is_flushed = False  # a STATE now, not only every 10,000 records
            self._write_state_message()

    def _record(
        self, message: Message, dead_letters: DeadLetterQueue | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The message's record, and that record conformed; quarantined if a map raises over it.

        The stream reads the record itself: conforming drops what the catalog's schema leaves
        out, the outcome fields too.
        """
        record = login_record(message, self.config["queue_url"], self._options, self.logger)
        conformed = self._conformed(record)
        if record["rejection_reason"] is None and (
            failure := map_failure(self.stream_maps, conformed)
        ):
            record.update(dict.fromkeys(LOGIN_FIELDS), rejection_reason=failure)
        reason = record["rejection_reason"]
        if reason:
            if dead_letters:
                record.update(dead_letters.copy(message, reason))
            self.logger.warning(  # the reason as the dead-letter copy left it
                "Quarantining message %s: %s", message.message_id, record["rejection_reason"]
            )
            conformed = self._conformed(record)
        return record, conformed
