"""The hot SQS calls (receive, delete, hide, send in batches) without boto3's per-call layers.

boto3 spends about 0.85 ms of CPU on each call, far more than its HTTP exchange: parameter
validation, endpoint rules, shape-driven serialising and parsing, a dozen events. These calls
are few and fixed, so ``LeanCalls`` posts them as SQS's AWS JSON 1.0 requests itself and keeps
of botocore, from the boto3 client it is given, all that is not per-call boilerplate:

- the session's credentials object, frozen on each call (assumed roles keep refreshing);
- SigV4 signing, as ``SigV4Auth`` signs (``signing.py``, which reuses what no call changes);
- the client's HTTP settings (``AWS_CA_BUNDLE``/verify, timeouts, pool size), applied by
  ``direct_http.py``'s kept-alive connections, or its session itself behind a proxy;
- the client's retry handler (standard mode: attempts, backoff, retry quota);
- botocore's parser and exception classes for error responses, so a refusal raises the
  ``ClientError`` boto3 raises, with the same ``Error.Code``;
- the client's ``before-send`` hooks (moto's in-process fake answers there).

Nothing here logs a request or a response: message bodies are PII.
"""

from __future__ import annotations

import base64
import json
import uuid
from random import getrandbits
from time import sleep
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSRequest
from botocore.endpoint import convert_to_response_dict
from botocore.exceptions import NoCredentialsError
from botocore.hooks import first_non_none_response
from botocore.parsers import create_parser

from tap_sqs_logins.sqs.direct_http import direct_http
from tap_sqs_logins.sqs.signing import RequestSigner

if TYPE_CHECKING:
    from collections.abc import Mapping

    from botocore.client import BaseClient
    from botocore.credentials import Credentials

# boto3's method names of the hot operations, and SQS's.
LEAN_OPERATIONS = {
    "receive_message": "ReceiveMessage",
    "delete_message_batch": "DeleteMessageBatch",
    "change_message_visibility_batch": "ChangeMessageVisibilityBatch",
    "send_message_batch": "SendMessageBatch",
}


class LeanCalls:
    """The hot operations of one boto3 SQS client, posted directly; thread-safe as the client."""

    def __init__(self, client: BaseClient, credentials: Credentials | None) -> None:
        """Take the endpoint, region, HTTP session, hooks and models of ``client``.

        Args:
            client: The boto3 SQS client (standard retries) whose behaviour to keep.
            credentials: Its session's credentials object (None: none found), frozen per call.
        """
        meta = client.meta
        self._credentials = credentials
        # boto3's request target: the endpoint URL as given, with path "/" if it has none.
        endpoint = urlsplit(meta.endpoint_url)
        self._url = (endpoint if endpoint.path else endpoint._replace(path="/")).geturl()
        self._signer = RequestSigner(self._url, meta.region_name)
        self._events = meta.events
        self._exceptions = client.exceptions
        # The client's HTTP settings (CA bundle, timeouts, pool), on kept-alive connections;
        # behind a proxy or with a client certificate, its urllib3 session itself.
        session = client._endpoint.http_session
        self._http = direct_http(self._url, session) or session
        self._user_agent = meta.config.user_agent
        self._client_config = meta.config
        # Config(retries={"max_attempts": 5}) counts retries: 6 attempts in all.
        self._max_attempts = meta.config.retries["total_max_attempts"]
        self._parser = create_parser(meta.service_model.resolved_protocol)
        self._models = {
            name: meta.service_model.operation_model(name) for name in LEAN_OPERATIONS.values()
        }

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Call boto3's ``operation`` (one of ``LEAN_OPERATIONS``) with ``params``.

        Returns:
            The response as boto3 returns it.

        Raises:
            botocore.exceptions.ClientError: As boto3 raises it, once retries are spent.
            botocore.exceptions.BotoCoreError: If SQS cannot be reached, likewise.
        """
        name = LEAN_OPERATIONS[operation]
        model = self._models[name]
        body = json.dumps(_encode_binary(params)).encode()
        context: dict[str, Any] = {"client_config": self._client_config}
        request_dict = {"context": context}
        # botocore's uuid4() reads os.urandom on every call; the id needs no secrecy.
        invocation_id = str(uuid.UUID(int=getrandbits(128), version=4))
        attempts = 1
        while True:
            response, error = self._attempt(name, model, body, attempts, invocation_id)
            delay = first_non_none_response(
                self._events.emit(
                    f"needs-retry.sqs.{name}",
                    response=response,
                    endpoint=None,
                    operation=model,
                    attempts=attempts,
                    caught_exception=error,
                    request_dict=request_dict,
                )
            )
            if delay is None or delay is False:
                break
            sleep(delay)
            attempts += 1
        if response is None:  # no HTTP response: the error is a BotoCoreError, as in boto3
            self._events.emit(f"after-call-error.sqs.{name}", exception=error, context=context)
            raise error  # type: ignore[misc]
        http, parsed = response
        parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = attempts - 1
        self._events.emit(  # releases retry quota; keeps SQS's query-compatible error class
            f"after-call.sqs.{name}",
            http_response=http,
            parsed=parsed,
            model=model,
            context=context,
        )
        if http.status_code >= 300:
            code = context.get("error_code_override") or parsed.get("Error", {}).get("Code")
            raise self._exceptions.from_code(code)(parsed, name)
        return parsed

    def _attempt(
        self, name: str, model: Any, body: bytes, attempt: int, invocation_id: str
    ) -> tuple[tuple[Any, dict[str, Any]] | None, Exception | None]:
        """Sign and send one attempt; return ((HTTP response, parsed), None) or (None, error)."""
        if self._credentials is None:
            raise NoCredentialsError
        headers = self._signer.headers(
            self._credentials.get_frozen_credentials(),  # refreshes expiring credentials
            {
                "X-Amz-Target": f"AmazonSQS.{name}",
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-query-mode": "true",
                "User-Agent": self._user_agent,
            },
            body,
        )
        headers["amz-sdk-invocation-id"] = invocation_id
        headers["amz-sdk-request"] = f"attempt={attempt}; max={self._max_attempts}"
        prepared = AWSRequest("POST", self._url, data=body, headers=headers).prepare()
        try:
            http = first_non_none_response(
                self._events.emit(f"before-send.sqs.{name}", request=prepared)
            )
            if http is None:
                http = self._http.send(prepared)
        except Exception as error:
            return None, error
        if http.status_code < 300:
            try:
                return (http, _parsed(http)), None
            except ValueError:  # not JSON (a stray proxy?): botocore's parser decides
                pass
        return (http, self._parsed_by_botocore(http, model)), None

    def _parsed_by_botocore(self, http: Any, model: Any) -> dict[str, Any]:
        """Parse an error (or an odd) response as botocore does: codes, query-compatible header."""
        response = convert_to_response_dict(http, model)
        parsed: dict[str, Any] = self._parser.parse(response, model.output_shape)
        code = parsed.get("Error", {}).get("Code") if http.status_code >= 300 else None
        shape = model.service_model.shape_for_error_code(code) if code else None
        if shape is not None:  # the modeled error's own fields, as botocore adds them
            parsed.update(self._parser.parse(response, shape))
        return parsed


def _parsed(http: Any) -> dict[str, Any]:
    """Return a success response as boto3 does: JSON, binary attributes as bytes.

    Members that are null are left out, as botocore leaves them out: SQS has answered an
    empty receive with ``"Messages": null``. Its ``ResponseMetadata`` leaves out boto3's
    ``HTTPHeaders`` (copying them costs CPU).
    """
    raw = json.loads(http.content) if http.content else {}
    parsed: dict[str, Any] = {key: value for key, value in raw.items() if value is not None}
    for message in parsed.get("Messages", ()):
        for value in message.get("MessageAttributes", {}).values():
            _decode_binary(value)
    metadata = parsed["ResponseMetadata"] = {"HTTPStatusCode": http.status_code}
    request_id = http.headers.get("x-amzn-requestid")
    if request_id:
        metadata["RequestId"] = request_id
    return parsed


def _decode_binary(value: dict[str, Any]) -> None:
    if "BinaryValue" in value:
        value["BinaryValue"] = base64.b64decode(value["BinaryValue"])
    if "BinaryListValues" in value:
        value["BinaryListValues"] = [base64.b64decode(v) for v in value["BinaryListValues"]]


def _encode_binary(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return ``params`` with message attributes' bytes in base64, as boto3 sends them."""
    entries = params.get("Entries", ())
    if not any("MessageAttributes" in entry for entry in entries):
        return params
    encoded = []
    for entry in entries:
        attributes = {
            name: {
                key: _base64(item) if key in {"BinaryValue", "BinaryListValues"} else item
                for key, item in value.items()
            }
            for name, value in entry.get("MessageAttributes", {}).items()
        }
        encoded.append({**entry, "MessageAttributes": attributes} if attributes else entry)
    return {**params, "Entries": encoded}


def _base64(value: str | bytes | list[str | bytes]) -> str | list[str]:
    if isinstance(value, list):
        return [str(_base64(item)) for item in value]
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()
