"""The one boto3 SQS client of the project: receive, send, delete, hide, count, create queues.

It knows nothing of Singer, so the tap, sqs-ack, localenv and the bench all go through it.
Errors are typed: ``QueueMissing``, ``OverLimitError``, else ``QueueError``; each names the
setting to fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from tap_sqs_logins.sqs.lean_calls import LEAN_OPERATIONS, LeanCalls
from tap_sqs_logins.sqs.session import AwsSessionError, aws_session

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from botocore.client import BaseClient

BATCH_SIZE = 10  # the most SQS returns or deletes in one call
# At DEBUG these log whole requests and responses, message bodies (raw PII) included.
BODY_LOGGERS = ("botocore", "boto3", "urllib3")
MISSING_QUEUE_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
OVER_LIMIT_CODES = {"OverLimit", "AWS.SimpleQueueService.OverLimit"}
FIFO_SUFFIX = ".fifo"  # SQS requires it of every FIFO queue's name
# SQS's most received-but-not-deleted messages per queue; ReceiveMessage fails beyond.
IN_FLIGHT_LIMIT, FIFO_IN_FLIGHT_LIMIT = 120_000, 20_000
VISIBLE, IN_FLIGHT = "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"


class QueueError(RuntimeError):
    """SQS cannot be used as configured; the message names the setting to fix."""

    def __init__(self, message: str, code: str = "") -> None:
        """Keep SQS's error code (empty when SQS gave none)."""
        super().__init__(message)
        self.code = code


class QueueMissing(QueueError):
    """The queue does not exist (``QueueDoesNotExist``)."""


class OverLimitError(QueueError):
    """The queue holds as many messages in flight as SQS allows (``OverLimit``)."""


class Depth(NamedTuple):
    """A queue's approximate message counts."""

    visible: int
    in_flight: int  # received, neither deleted nor visible again yet

    @property
    def total(self) -> int:
        """Visible plus in flight: what is still on the queue."""
        return self.visible + self.in_flight


@dataclass(frozen=True)
class Message:
    """One received SQS message."""

    message_id: str
    receipt_handle: str
    body: str
    sent_at_ms: int
    receive_count: int
    attributes: Mapping[str, str] = field(default_factory=dict)  # text message attributes
    group_id: str | None = None  # FIFO queues only
    sequence_number: str | None = None  # FIFO queues only


class SqsEndpoint:
    """SQS at one endpoint (LocalStack, moto, or AWS in a region): its queues by name."""

    def __init__(
        self, config: Mapping[str, Any], endpoint: str | None = None, connections: int = 10
    ) -> None:
        """Create the boto3 client; nothing is sent until a call.

        Args:
            config: The tap settings (region, optional AWS credentials); for a local endpoint
                without credentials, dummy ones.
            endpoint: The LocalStack or moto endpoint; None for AWS.
            connections: Most concurrent calls (threads may share one client).

        Raises:
            QueueError: If the AWS settings conflict or name a missing profile.
        """
        for name in BODY_LOGGERS:
            logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))
        try:
            session = aws_session(config, endpoint)
        except AwsSessionError as error:
            raise QueueError(str(error)) from None
        self.where = endpoint or f"SQS in {config['region']}"
        self.client: BaseClient = session.client(
            "sqs",
            endpoint_url=endpoint,
            config=Config(
                retries={"mode": "standard", "max_attempts": 5},
                connect_timeout=5,
                max_pool_connections=max(connections, 10),
            ),
        )
        # Receive, delete, hide and send in batches skip boto3's per-call CPU.
        self.lean_calls = LeanCalls(self.client, session.get_credentials())

    def queue_url(self, name: str) -> str:
        """Return the URL of the queue called ``name``.

        Raises:
            QueueMissing: If there is none.
        """
        response = self.call("get_queue_url", f"queue {name}", "queue_url", QueueName=name)
        return str(response["QueueUrl"])

    def create_queue(self, name: str) -> str:
        """Create the queue called ``name`` (a no-op if it exists alike); return its URL."""
        response = self.call("create_queue", f"queue {name}", "queue_url", QueueName=name)
        return str(response["QueueUrl"])

    def call(self, operation: str, queue: str, setting: str, **kwargs: Any) -> dict[str, Any]:
        """Call the boto3 client's ``operation``, raising a ``QueueError`` that names ``setting``.

        The hot operations (``LEAN_OPERATIONS``) go through ``LeanCalls``, which behaves alike.

        Raises:
            QueueMissing: If the queue does not exist.
            OverLimitError: If the queue holds as many messages in flight as SQS allows.
            QueueError: If SQS cannot be reached or refuses the call.
        """
        try:
            if operation in LEAN_OPERATIONS:
                return self.lean_calls.call(operation, kwargs)
            return getattr(self.client, operation)(**kwargs)  # type: ignore[no-any-return]
        except AwsSessionError as error:  # the assumed role's credentials, fetched on use
            raise QueueError(str(error)) from None
        except NoCredentialsError:
            msg = (
                "no AWS credentials: set aws_access_key_id and aws_secret_access_key, "
                "or aws_profile"
            )
            raise QueueError(msg) from None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in MISSING_QUEUE_CODES:
                raise QueueMissing(f"{queue} does not exist: check {setting}", code) from None
            if code in OVER_LIMIT_CODES:
                msg = (
                    f"{queue} holds as many messages in flight as SQS allows "
                    "(OverLimit): lower max_in_flight, or wait for the messages in flight "
                    "to be deleted or to time out"
                )
                raise OverLimitError(msg, code) from None
            msg = (
                f"SQS refused {operation} on {queue} ({code}): "
                f"check {setting} and the AWS credentials"
            )
            raise QueueError(msg, code) from None
        except BotoCoreError as error:
            msg = (
                f"cannot reach {self.where} ({type(error).__name__}): check endpoint_url and region"
            )
            raise QueueError(msg) from None


class SqsQueue:
    """One SQS queue, addressed by URL."""

    def __init__(
        self,
        config: Mapping[str, Any],
        queue_url: str,
        connections: int = 10,
        setting: str = "queue_url",
    ) -> None:
        """Create the boto3 client; nothing is sent until a call.

        Args:
            config: The tap settings (endpoint_url, region, optional AWS credentials).
            queue_url: The queue to use.
            connections: Most concurrent calls (threads may share one client).
            setting: The setting that holds ``queue_url``, named in errors.

        Raises:
            QueueError: If the AWS settings conflict or name a missing profile.
        """
        self.queue_url = queue_url
        self.is_fifo = is_fifo(queue_url)
        self._setting = setting
        endpoint = config.get("endpoint_url") or local_endpoint(queue_url)
        self.endpoint = SqsEndpoint(config, endpoint, connections)
        self._receive_options = receive_options(config, fifo=self.is_fifo)

    def receive(self, count: int, wait_seconds: int, visibility_timeout: int) -> list[Message]:
        """Receive up to ``count`` (at most 10) messages, long-polling for ``wait_seconds``."""
        response = self._call(
            "receive_message",
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(count, BATCH_SIZE),
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_timeout,
            **self._receive_options,
        )
        return [_message(raw) for raw in response.get("Messages", [])]

    def delete(self, receipt_handles: list[str]) -> list[str]:
        """Delete one batch of messages; return the receipt handles SQS refused."""
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(receipt_handles)]
        response = self._call("delete_message_batch", QueueUrl=self.queue_url, Entries=entries)
        return [receipt_handles[int(failure["Id"])] for failure in response.get("Failed", [])]

    def change_visibility(self, receipt_handles: list[str], seconds: int) -> list[str]:
        """Hide one batch of messages for ``seconds`` more (0: offer them again now).

        Returns:
            The receipt handles SQS refused (deleted or expired messages).
        """
        entries = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": seconds}
            for i, h in enumerate(receipt_handles)
        ]
        response = self._call(
            "change_message_visibility_batch", QueueUrl=self.queue_url, Entries=entries
        )
        return [receipt_handles[int(failure["Id"])] for failure in response.get("Failed", [])]

    def send_batch(self, bodies: Sequence[str]) -> list[str]:
        """Send up to 10 plain bodies in one call; return the bodies SQS refused."""
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
        response = self._call("send_message_batch", QueueUrl=self.queue_url, Entries=entries)
        return [bodies[int(failure["Id"])] for failure in response.get("Failed", [])]

    def depth(self) -> Depth:
        """Return how many messages are visible and in flight (SQS's approximate counts)."""
        counts = self.attributes(VISIBLE, IN_FLIGHT)
        return Depth(visible=int(counts[VISIBLE]), in_flight=int(counts[IN_FLIGHT]))

    def delete_queue(self) -> None:
        """Delete the queue and every message on it."""
        self._call("delete_queue", QueueUrl=self.queue_url)

    def check(self) -> None:
        """Read one attribute of the queue: it exists and the credentials may use it."""
        self.attributes("QueueArn")

    def attributes(self, *names: str) -> dict[str, str]:
        """Return the named attributes of the queue, such as ``MaximumMessageSize``."""
        response = self._call(
            "get_queue_attributes", QueueUrl=self.queue_url, AttributeNames=list(names)
        )
        return dict(response.get("Attributes", {}))

    def send(
        self, body: str, attributes: Mapping[str, str], fifo_ids: tuple[str, str] | None = None
    ) -> str:
        """Send one message with string attributes; return its new message id.

        Args:
            body: The message body.
            attributes: String message attributes.
            fifo_ids: (MessageGroupId, MessageDeduplicationId), for a FIFO queue.
        """
        fifo = {}
        if fifo_ids:
            fifo = {"MessageGroupId": fifo_ids[0], "MessageDeduplicationId": fifo_ids[1]}
        response = self._call(
            "send_message",
            QueueUrl=self.queue_url,
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
            **fifo,
        )
        return str(response["MessageId"])

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        return self.endpoint.call(operation, f"queue {self.queue_url}", self._setting, **kwargs)


def is_fifo(queue_url: str) -> bool:
    """Tell a FIFO queue by its URL (its name ends with ``.fifo``)."""
    return queue_url.rstrip("/").endswith(FIFO_SUFFIX)


def local_endpoint(queue_url: str) -> str | None:
    """Return the endpoint of a LocalStack or moto queue URL; None for AWS."""
    parts = urlsplit(queue_url)
    if parts.hostname is None or parts.hostname.endswith(".amazonaws.com"):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def message_size(body: str, attributes: Mapping[str, str]) -> int:
    """Return the size SQS counts against ``MaximumMessageSize``: body and attributes, bytes."""
    parts = [body, *attributes, *attributes.values(), *["String"] * len(attributes)]
    return sum(len(part.encode("utf-8", "surrogatepass")) for part in parts)


def receive_options(config: Mapping[str, Any], *, fifo: bool) -> dict[str, list[str]]:
    """Return what ``receive_message`` asks for: FIFO ids on FIFO queues, attributes if opted in."""
    system = ["SentTimestamp", "ApproximateReceiveCount"]
    if fifo:  # a dead-letter copy keeps the message's group
        system += ["MessageGroupId", "SequenceNumber"]
    options = {"MessageSystemAttributeNames": system}
    if config.get("include_message_attributes"):
        options["MessageAttributeNames"] = ["All"]
    return options


def _message(raw: Mapping[str, Any]) -> Message:
    attributes = raw.get("Attributes", {})
    return Message(
        message_id=raw["MessageId"],
        receipt_handle=raw["ReceiptHandle"],
        body=raw.get("Body", ""),
        sent_at_ms=int(attributes.get("SentTimestamp", 0)),
        receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
        attributes={  # Binary attributes have no StringValue and are left out
            name: value["StringValue"]
            for name, value in raw.get("MessageAttributes", {}).items()
            if "StringValue" in value
        },
        group_id=attributes.get("MessageGroupId"),
        sequence_number=attributes.get("SequenceNumber"),
    )
