"""An HTTP proxy in front of moto that answers ``OverLimit`` as SQS does past its in-flight limit.

moto has no in-flight limit. This proxy forwards every request to moto, except a
``ReceiveMessage`` while the queue already holds ``limit`` messages received and not deleted
(moto's ``ApproximateNumberOfMessagesNotVisible``): that one gets SQS's ``OverLimit`` error.
Receives go through one at a time, so the count it checks is exact. It records the most
messages it saw in flight and how many receives it refused.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from localenv.sqs import sqs_client

if TYPE_CHECKING:
    from types import TracebackType

RECEIVE = "AmazonSQS.ReceiveMessage"
Reply = tuple[int, list[tuple[str, str]], bytes]  # status, headers, body
OVER_LIMIT = {"__type": "com.amazonaws.sqs#OverLimit", "message": "Too many messages in flight"}


class OverLimitProxy:
    """A proxy on a free loopback port; ``endpoint`` is its URL."""

    def __init__(self, sqs_endpoint: str, limit: int) -> None:
        self.limit = limit
        self.refused = 0
        self.peak_in_flight = 0
        self._target = urlsplit(sqs_endpoint)
        self._sqs = sqs_client(sqs_endpoint)
        self._receiving = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OverLimitProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def in_flight(self, queue_url: str) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        connection = http.client.HTTPConnection(self._target.hostname or "", self._target.port)
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if headers.get("X-Amz-Target") != RECEIVE:
            return self.forward(method, path, headers, body)
        with self._receiving:
            queue_url = json.loads(body)["QueueUrl"]
            held = self.in_flight(queue_url)
            self.peak_in_flight = max(self.peak_in_flight, held)
            if held >= self.limit:
                self.refused += 1
                error = json.dumps(OVER_LIMIT).encode()
                return 403, [("Content-Type", "application/x-amz-json-1.0")], error
            answer = self.forward(method, path, headers, body)
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight(queue_url))
            return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                status, response_headers, payload = proxy.answer("POST", self.path, headers, body)
                self.send_response(status)
                for name, value in response_headers:
                    if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
