"""The lean path of the hot SQS calls answers, fails and retries as the boto3 client does."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto.server import ThreadedMotoServer

from tap_sqs_logins.sqs import lean_calls
from tap_sqs_logins.sqs.client import (
    OverLimitError,
    QueueError,
    QueueMissing,
    SqsEndpoint,
    SqsQueue,
)
from tap_sqs_logins.sqs.direct_http import DirectHttp
from tap_sqs_logins.sqs.lean_calls import LeanCalls
from tap_sqs_logins.testing import REGION

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

KEYS = {"region": REGION, "aws_access_key_id": "AKIDLEAN", "aws_secret_access_key": "secret"}
JSON = "application/x-amz-json-1.0"
Answer = tuple[int, dict[str, str], dict[str, Any] | bytes]  # status, headers, body (JSON)
EMPTY_RECEIVE: Answer = (200, {}, {})
OVER_LIMIT: Answer = (403, {}, {"__type": "com.amazonaws.sqs#OverLimit", "message": "in flight"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server over real HTTP, for this module."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class ScriptedSqs:
    """An HTTP server that answers each request with the next scripted answer and records it.

    Over TLS with ``tls`` (a certificate and its key, PEM files); with ``close_after_answer``
    it closes each connection after answering, without saying so (as a server's idle timeout).
    """

    def __init__(
        self,
        answers: list[Answer],
        tls: tuple[Path, Path] | None = None,
        *,
        close_after_answer: bool = False,
    ) -> None:
        self.answers = answers
        self.requests: list[tuple[str, dict[str, str], bytes]] = []  # target, headers, body
        self.peers: list[tuple[str, int]] = []  # the client address of each request
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                script.requests.append((self.path, dict(self.headers.items()), body))
                script.peers.append(self.client_address)
                status, headers, payload = script.answers.pop(0)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": JSON, **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = close_after_answer

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.endpoint = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def queue(self, setting: str = "queue_url") -> SqsQueue:
        return SqsQueue(
            {**KEYS, "endpoint_url": self.endpoint}, self.endpoint + "/1/q", setting=setting
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[ScriptedSqs]:
    server = ScriptedSqs([])
    yield server
    server.close()


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry delays the lean path waited, without waiting them."""
    waited: list[float] = []
    monkeypatch.setattr(lean_calls, "sleep", waited.append)
    return waited


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def test_each_hot_operation_answers_as_boto3_does(moto_endpoint: str) -> None:
    sqs = SqsEndpoint(KEYS, moto_endpoint)
    url = sqs.create_queue("lean-same-answers")
    boto3_call = {name: getattr(sqs.client, name) for name in lean_calls.LEAN_OPERATIONS}

    def both(operation: str, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            without_metadata(boto3_call[operation](**params)),
            without_metadata(sqs.lean_calls.call(operation, params)),
        )

    binary = {"DataType": "Binary", "BinaryValue": b"\x00\xff"}
    entries = [
        {"Id": str(i), "MessageBody": f"login {i}", "MessageAttributes": {"raw": binary}}
        for i in range(5)
    ]
    by_boto3, by_lean = both("send_message_batch", QueueUrl=url, Entries=entries)
    digests = [
        [entry.pop("MessageId") for entry in answer["Successful"]] for answer in (by_boto3, by_lean)
    ]
    assert by_lean == by_boto3 and len(digests[1]) == 5

    receive = {
        "QueueUrl": url,
        "MaxNumberOfMessages": 10,
        "VisibilityTimeout": 0,
        "MessageSystemAttributeNames": ["SentTimestamp", "ApproximateReceiveCount"],
        "MessageAttributeNames": ["All"],
    }
    by_boto3, by_lean = both("receive_message", **receive)
    assert len(by_lean["Messages"]) == 10
    assert by_lean["Messages"][0]["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\xff"

    def comparable(messages: list[dict[str, Any]]) -> list[Any]:
        return sorted(
            (
                m["MessageId"],
                m["Body"],
                m["MD5OfBody"],
                str(m["MessageAttributes"]),
                sorted(m["Attributes"]),
            )
            for m in messages
        )

    assert comparable(by_lean["Messages"]) == comparable(by_boto3["Messages"])

    handles = [message["ReceiptHandle"] for message in by_lean["Messages"]]
    hide = [
        {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 30} for i, h in enumerate(handles)
    ]
    assert both("change_message_visibility_batch", QueueUrl=url, Entries=hide[:5])[0]["Successful"]
    by_boto3, by_lean = both("change_message_visibility_batch", QueueUrl=url, Entries=hide)
    assert by_lean == by_boto3
    delete = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles[:5])]
    by_boto3 = without_metadata(sqs.client.delete_message_batch(QueueUrl=url, Entries=delete))
    assert by_boto3["Successful"]
    delete = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles[5:])]
    by_lean = without_metadata(
        sqs.lean_calls.call("delete_message_batch", {"QueueUrl": url, "Entries": delete})
    )
    assert by_lean == by_boto3
    assert SqsQueue(KEYS, url).depth() == (0, 0)


def test_a_missing_queue_raises_boto3s_error(moto_endpoint: str) -> None:
    sqs = SqsEndpoint(KEYS, moto_endpoint)
    gone_url = f"{moto_endpoint}/123456789012/lean-gone"
    gone: dict[str, Any] = {"QueueUrl": gone_url, "MaxNumberOfMessages": 1}
    raised = []
    for call in (
        lambda: sqs.client.receive_message(**gone),
        lambda: sqs.lean_calls.call("receive_message", gone),
    ):
        with pytest.raises(ClientError) as error:
            call()
        raised.append((type(error.value), error.value.response["Error"]))
    assert raised[0] == raised[1]
    assert raised[1][1]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(QueueMissing, match="check dead_letter_queue_url"):
        SqsQueue(KEYS, gone_url, setting="dead_letter_queue_url").receive(1, 0, 30)


def test_the_query_compatible_header_gives_the_error_code(scripted: ScriptedSqs) -> None:
    query = {"x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"}
    scripted.answers = [(400, query, {"__type": "com.amazonaws.sqs#QueueDoesNotExist"})]
    with pytest.raises(QueueMissing) as raised:
        scripted.queue().delete(["handle"])
    assert raised.value.code == "AWS.SimpleQueueService.NonExistentQueue"


def test_a_body_that_is_no_json_is_read_as_boto3_reads_it(scripted: ScriptedSqs) -> None:
    scripted.answers = [(200, {"Content-Type": "text/html"}, b"<html>proxy</html>")] * 2
    queue = scripted.queue()
    by_boto3 = queue.endpoint.client.receive_message(QueueUrl=queue.queue_url)
    by_lean = queue.endpoint.lean_calls.call("receive_message", {"QueueUrl": queue.queue_url})
    assert without_metadata(by_lean) == without_metadata(by_boto3) == {}


def test_null_members_are_left_out_as_boto3_leaves_them_out(scripted: ScriptedSqs) -> None:
    scripted.answers = [
        (200, {}, {"Messages": None}),  # SQS's own empty receive, once
        (200, {}, {"Successful": [{"Id": "0"}], "Failed": None}),
    ]
    queue = scripted.queue()
    assert queue.receive(10, 0, 30) == []
    assert queue.delete(["handle"]) == []


def test_over_limit_is_its_own_error(scripted: ScriptedSqs, delays: list[float]) -> None:
    scripted.answers = [OVER_LIMIT]
    with pytest.raises(OverLimitError, match="lower max_in_flight"):
        scripted.queue().receive(10, 0, 30)
    assert (len(scripted.requests), delays) == (1, [])


@pytest.mark.parametrize(
    "failure",
    [
        (500, {}, {"__type": "InternalFailure"}),
        (503, {}, {}),
        (400, {}, {"__type": "com.amazonaws.sqs#ThrottlingException"}),
        (400, {"x-amzn-query-error": "RequestThrottled;Sender"}, {"__type": "RequestThrottled"}),
    ],
)
def test_throttling_and_server_errors_are_retried(
    scripted: ScriptedSqs, delays: list[float], failure: Answer
) -> None:
    scripted.answers = [failure, failure, EMPTY_RECEIVE]
    assert scripted.queue().receive(10, 0, 30) == []
    assert len(scripted.requests) == 3 and len(delays) == 2
    assert all(0 <= delay <= 20 for delay in delays)
    attempts = [headers["amz-sdk-request"] for _, headers, _ in scripted.requests]
    assert attempts == [f"attempt={n}; max=6" for n in (1, 2, 3)]


def test_exhausted_retries_name_the_setting(scripted: ScriptedSqs, delays: list[float]) -> None:
    scripted.answers = [(503, {}, {})] * 6  # Config's max_attempts 5 counts retries
    with pytest.raises(QueueError, match=r"\(503\): check dead_letter_queue_url") as raised:
        scripted.queue("dead_letter_queue_url").send_batch(["a"])
    assert not isinstance(raised.value, QueueMissing)
    assert (len(scripted.requests), len(delays)) == (6, 5)


def test_an_unreachable_endpoint_is_retried_then_named(delays: list[float]) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    queue = SqsQueue({**KEYS, "endpoint_url": endpoint}, endpoint + "/1/q")
    with pytest.raises(EndpointConnectionError):
        queue.endpoint.lean_calls.call(
            "delete_message_batch", {"QueueUrl": queue.queue_url, "Entries": []}
        )
    assert len(delays) == 5
    with pytest.raises(
        QueueError, match=r"cannot reach .*\(EndpointConnectionError\): check endpoint_url"
    ):
        queue.change_visibility(["handle"], 0)


def test_a_request_is_signed_as_boto3_signs_it(scripted: ScriptedSqs) -> None:
    scripted.answers = [EMPTY_RECEIVE]
    scripted.queue().receive(10, 5, 30)
    target, headers, body = scripted.requests[0]
    assert target == "/"
    assert headers["X-Amz-Target"] == "AmazonSQS.ReceiveMessage"
    assert headers["Content-Type"] == JSON and headers["x-amzn-query-mode"] == "true"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDLEAN/")
    assert f"/{REGION}/sqs/aws4_request" in headers["Authorization"]
    assert json.loads(body)["WaitTimeSeconds"] == 5


def test_an_endpoint_path_is_the_request_target_as_in_boto3(scripted: ScriptedSqs) -> None:
    endpoint = scripted.endpoint + "/sqs"  # SQS behind a proxy that routes this path
    queue = SqsQueue({**KEYS, "endpoint_url": endpoint}, endpoint + "/1/q")
    scripted.answers = [EMPTY_RECEIVE] * 2
    queue.endpoint.client.receive_message(QueueUrl=queue.queue_url)
    assert queue.receive(10, 0, 30) == []
    by_boto3, by_lean = (target for target, _, _ in scripted.requests)
    assert by_lean == by_boto3 == "/sqs"


def test_refreshed_credentials_sign_each_call(scripted: ScriptedSqs) -> None:
    issued = iter(range(1, 100))

    def fetch() -> dict[str, str]:  # expires within botocore's mandatory refresh window
        expiry = datetime.now(timezone.utc) + timedelta(minutes=1)
        key = next(issued)
        return {
            "access_key": f"AKID{key}",
            "secret_key": "s",
            "token": f"token{key}",
            "expiry_time": expiry.isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "test")
    client = scripted.queue().endpoint.client
    calls = LeanCalls(client, credentials)
    scripted.answers = [EMPTY_RECEIVE] * 3
    for _ in range(3):
        calls.call("receive_message", {"QueueUrl": scripted.endpoint + "/1/q"})
    keys = [
        h["Authorization"].split("Credential=")[1].split("/")[0] for _, h, _ in scripted.requests
    ]
    tokens = [h["X-Amz-Security-Token"] for _, h, _ in scripted.requests]
    assert len(set(keys)) == 3 and len(set(tokens)) == 3


def test_no_credentials_is_named(scripted: ScriptedSqs) -> None:
    calls = LeanCalls(scripted.queue().endpoint.client, None)
    with pytest.raises(Exception, match="Unable to locate credentials"):
        calls.call("receive_message", {"QueueUrl": "q"})


def test_a_proxy_setting_is_honoured(
    scripted: ScriptedSqs, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", scripted.endpoint)
    far = "http://sqs.lean-test.invalid"
    queue = SqsQueue({**KEYS, "endpoint_url": far}, far + "/1/q")
    scripted.answers = [EMPTY_RECEIVE]
    assert queue.endpoint.lean_calls._http is queue.endpoint.client._endpoint.http_session
    assert queue.receive(10, 0, 30) == []
    assert scripted.requests[0][0] == far + "/"  # a proxy's absolute request target


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key: PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_is_verified_with_the_ca_bundle_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, delays: list[float]
) -> None:
    server_tls, (other_ca, _) = self_signed(tmp_path, "sqs"), self_signed(tmp_path, "other")
    scripted = ScriptedSqs([EMPTY_RECEIVE] * 3, server_tls)
    try:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(server_tls[0]))
        queue = scripted.queue()
        assert isinstance(queue.endpoint.lean_calls._http, DirectHttp)
        assert [queue.receive(10, 0, 30) for _ in range(3)] == [[]] * 3
        assert len(set(scripted.peers)) == 1  # one TLS connection, kept alive
        monkeypatch.setenv("AWS_CA_BUNDLE", str(other_ca))
        untrusted = scripted.queue()
        with pytest.raises(SSLError, match="certificate verify failed"):
            untrusted.endpoint.lean_calls.call("receive_message", {"QueueUrl": untrusted.queue_url})
        assert len(scripted.requests) == 3  # nothing sent to a server not trusted
        monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "missing.pem"))
        unread = scripted.queue().endpoint
        for call in (
            lambda: unread.client.receive_message(QueueUrl=scripted.endpoint + "/1/q"),
            lambda: unread.lean_calls.call("receive_message", {"QueueUrl": "q"}),
        ):
            with pytest.raises(SSLError, match="No such file"):
                call()
    finally:
        scripted.close()


@pytest.mark.parametrize(
    ("endpoint", "address"),
    [
        ("http://[::1]", ("::1", 80)),
        ("https://[fe80::abcd]", ("fe80::abcd", 443)),
        ("http://sqs.lean-test.invalid/prefix", ("sqs.lean-test.invalid", 80)),
    ],
)
def test_an_endpoint_without_a_port_is_reached_on_its_schemes_port(
    endpoint: str, address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[tuple[str, int]] = []

    def refuse(where: tuple[str, int], *_: object, **__: object) -> socket.socket:
        tried.append(where)
        raise ConnectionRefusedError

    monkeypatch.setattr(socket, "create_connection", refuse)
    calls = SqsEndpoint(KEYS, endpoint).lean_calls
    calls._max_attempts = 1
    with pytest.raises(EndpointConnectionError):
        calls._http.send(AWSRequest("POST", calls._url, data=b"{}", headers={}).prepare())
    assert tried == [address]


def test_calls_keep_their_connection_alive(scripted: ScriptedSqs) -> None:
    scripted.answers = [EMPTY_RECEIVE] * 5
    queue = scripted.queue()
    assert isinstance(queue.endpoint.lean_calls._http, DirectHttp)
    for _ in range(5):
        assert queue.receive(10, 0, 30) == []
    assert len(scripted.peers) == 5 and len(set(scripted.peers)) == 1


def test_a_connection_the_server_closed_is_replaced_without_a_retry(delays: list[float]) -> None:
    scripted = ScriptedSqs([EMPTY_RECEIVE] * 20, close_after_answer=True)
    try:
        queue = scripted.queue()
        for _ in range(20):
            assert queue.receive(10, 0, 30) == []
        assert (len(scripted.requests), len(set(scripted.peers)), delays) == (20, 20, [])
    finally:
        scripted.close()


class Unanswering:
    """A TCP server that accepts connections and, per ``close``, closes them or never answers."""

    def __init__(self, *, close: bool) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self._close = close
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.socket.accept()
                connection.recv(65536)
                if self._close:
                    connection.close()
                else:
                    self.held.append(connection)


@pytest.mark.parametrize(
    ("server", "raised"),
    [
        ("refuses", EndpointConnectionError),
        ("closes", ConnectionClosedError),
        ("silent", ReadTimeoutError),
    ],
)
def test_a_failed_exchange_raises_what_boto3_raises(server: str, raised: type[Exception]) -> None:
    listening = None if server == "refuses" else Unanswering(close=server == "closes")
    endpoint = listening.endpoint if listening else f"http://127.0.0.1:{free_port()}"
    client = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=0.5, connect_timeout=1),
        **{name: KEYS[name] for name in ("aws_access_key_id", "aws_secret_access_key")},
        region_name=REGION,
    )
    calls = LeanCalls(client, client._request_signer._credentials)
    assert isinstance(calls._http, DirectHttp)
    for call in (
        lambda: client.receive_message(QueueUrl=endpoint + "/1/q"),
        lambda: calls.call("receive_message", {"QueueUrl": endpoint + "/1/q"}),
    ):
        with pytest.raises(raised):
            call()


def test_no_body_is_logged_even_at_debug(
    moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = SqsQueue(KEYS, SqsEndpoint(KEYS, moto_endpoint).create_queue("lean-quiet"))
    with contextlib.ExitStack() as levels:
        for name in ("botocore", "boto3", "urllib3", lean_calls.__name__):
            # caplog restores them: left at DEBUG, later tests' own boto3 calls log bodies
            levels.enter_context(caplog.at_level(logging.DEBUG, logger=name))
        levels.enter_context(caplog.at_level(logging.DEBUG))
        assert queue.send_batch(["secret-login-body"]) == []
        [message] = queue.receive(10, 0, 30)
        assert queue.change_visibility([message.receipt_handle], 30) == []
        assert queue.delete([message.receipt_handle]) == []
    assert caplog.records  # DEBUG was on
    assert "secret-login-body" not in caplog.text
    assert message.receipt_handle not in caplog.text


def test_in_process_moto_still_answers_the_lean_path(sqs: Any, queue_url: str) -> None:
    queue = SqsQueue({"region": REGION}, queue_url)
    assert queue.send_batch(["one", "two"]) == []
    assert sorted(m.body for m in queue.receive(10, 0, 30)) == ["one", "two"]
