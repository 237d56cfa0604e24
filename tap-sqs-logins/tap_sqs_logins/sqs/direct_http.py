"""Kept-alive HTTP(S) connections to the SQS endpoint for the lean calls, without urllib3.

botocore's urllib3 session spends about 0.2 ms of CPU on each call around the exchange itself
(its pool, retry and timeout objects, copies of the headers). The lean calls post requests of
one shape to one endpoint, so ``DirectHttp`` keeps a few ``http.client`` connections to it and
reuses them, with what the client's session would apply:

- its TLS verification (``AWS_CA_BUNDLE``, ``ca_bundle``, ``verify``) on botocore's SSL context;
- its connect and read timeouts and socket options (TCP_NODELAY, ``tcp_keepalive``);
- its pool size, as the most idle connections kept;
- its errors: a failure raises the botocore exception urllib3's would, which the client's
  retry handler retries alike.

An endpoint reached through a proxy, or with a client certificate, is left to the client's
session (``direct_http`` returns None). The session's settings are read from its private
attributes: botocore is pinned, and ``tests/test_lean_calls.py`` checks what each changes.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import create_urllib3_context, get_cert_path
from urllib3 import Timeout
from urllib3.util.wait import wait_for_read

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.httpsession import URLLib3Session

# A reused connection the server closed while it was idle fails before any answer: such a
# request was never read, so it is sent once more on a new connection.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def direct_http(url: str, session: URLLib3Session) -> DirectHttp | None:
    """A ``DirectHttp`` to the endpoint ``url``, or None where ``session`` must send.

    Args:
        url: The endpoint URL the lean calls post to.
        session: The boto3 client's HTTP session, whose settings to apply.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    if session._proxy_config.proxy_url_for(url) or session._cert_file:
        return None
    return DirectHttp(url, session)


class _Body:
    """A response body already read, as ``AWSResponse`` reads its raw stream."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> list[bytes]:
        return [self._data]


class DirectHttp:
    """Sends prepared requests to one endpoint over kept-alive connections; thread-safe."""

    def __init__(self, url: str, session: URLLib3Session) -> None:
        """Take the endpoint and the TLS, timeout, socket and pool settings of ``session``."""
        parts = urlsplit(url)
        self._url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        # Given, not left to http.client, which reads the end of an IPv6 address as a port.
        self._port = parts.port or (443 if self._https else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._verify = session._verify
        timeout = session._timeout
        if isinstance(timeout, Timeout):
            connect, read = timeout.connect_timeout, timeout.read_timeout
        else:
            connect = read = timeout
        self._connect_timeout = connect if isinstance(connect, (int, float)) else None
        self._read_timeout = read if isinstance(read, (int, float)) else None
        self._socket_options = list(session._socket_options)
        self._most_idle = session._max_pool_connections
        self._context: ssl.SSLContext | None = None  # made at the first connection, as urllib3
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def send(self, request: AWSPreparedRequest) -> AWSResponse:
        """Send ``request`` (the endpoint's URL) and read its whole answer.

        Raises:
            botocore.exceptions.HTTPClientError: As the client's session raises it: the
                endpoint cannot be reached (``EndpointConnectionError``), TLS fails
                (``SSLError``), a timeout, or the connection closed before the answer.
        """
        connection, reused = self._connection()
        try:
            try:
                status, headers, data, keep = self._exchange(connection, request)
            except STALE:
                connection.close()
                if not reused:
                    raise
                connection, _ = self._connection(reuse=False)
                status, headers, data, keep = self._exchange(connection, request)
        except BotoCoreError:  # a new connection in place of a stale one failed
            raise
        except Exception as error:
            connection.close()
            raise _botocore_error(error, self._url, request) from error
        if keep:
            self._release(connection)
        else:
            connection.close()
        return AWSResponse(self._url, status, headers, _Body(data))

    def _exchange(
        self, connection: http.client.HTTPConnection, request: AWSPreparedRequest
    ) -> tuple[int, Any, bytes, bool]:
        connection.request(request.method, self._target, request.body, request.headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, response.headers, data, not response.will_close

    def _connection(self, *, reuse: bool = True) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection the server has not closed, else a new one; and whether reused."""
        while reuse:
            with self._lock:
                if not self._idle:
                    break
                connection = self._idle.pop()
            if connection.sock is not None and not wait_for_read(connection.sock, timeout=0):
                return connection, True
            connection.close()  # readable while idle: closed by the server (or garbage)
        try:
            return self._connect(), False
        except BotoCoreError:  # already botocore's: the CA bundle cannot be read
            raise
        except Exception as error:
            raise _botocore_error(error, self._url) from error

    def _connect(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=self._tls()
            )
        else:
            connection = http.client.HTTPConnection(
                self._host, self._port, timeout=self._connect_timeout
            )
        connection.connect()
        assert connection.sock is not None  # noqa: S101 - connect() sets it
        for option in self._socket_options:
            connection.sock.setsockopt(*option)
        connection.sock.settimeout(self._read_timeout)
        return connection

    def _tls(self) -> ssl.SSLContext:
        """Botocore's SSL context, verifying with the session's CA bundle unless told not to.

        Raises:
            botocore.exceptions.SSLError: If the CA bundle cannot be read, as boto3 raises it.
        """
        with self._lock:
            if self._context is None:
                context = create_urllib3_context()
                if self._verify:
                    context.verify_mode = ssl.CERT_REQUIRED
                    context.check_hostname = True
                    try:  # a file, as urllib3 is given it by botocore
                        context.load_verify_locations(cafile=get_cert_path(self._verify))
                    except (OSError, ssl.SSLError) as error:
                        raise SSLError(endpoint_url=self._url, error=error) from error
                else:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._context = context
            return self._context

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._most_idle:
                self._idle.append(connection)
                return
        connection.close()


def _botocore_error(
    error: Exception, url: str, request: AWSPreparedRequest | None = None
) -> Exception:
    """The botocore exception urllib3's would map ``error`` to; connecting if no ``request``."""
    mapped: Exception
    if isinstance(error, ssl.SSLError):
        mapped = SSLError(endpoint_url=url, error=error)
    elif isinstance(error, TimeoutError):
        timed_out = ConnectTimeoutError if request is None else ReadTimeoutError
        mapped = timed_out(endpoint_url=url, error=error)
    elif request is None and isinstance(error, OSError):  # refused, unreachable, no such name
        mapped = EndpointConnectionError(endpoint_url=url, error=error)
    elif request is not None and isinstance(error, (http.client.HTTPException, OSError)):
        mapped = ConnectionClosedError(error=error, request=request, endpoint_url=url)
    else:
        mapped = HTTPClientError(error=error)
    return mapped
