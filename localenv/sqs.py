"""An SQS queue for local runs: the one at the endpoint, or an embedded moto server."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from localenv import LocalEnvError
from localenv.process import LOCAL_HOSTS, REPO, STATE_DIR, port_open, spawn, wait_for_port
from localenv.sample import sample_bodies
from tap_sqs_logins import QueueError, SqsEndpoint, SqsQueue, send_all

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from botocore.client import BaseClient

ACCOUNT_ID = "000000000000"  # LocalStack's account, as in the reference queue URL
SERVER_NAME = "sqs"
REGION = "us-east-1"


def sqs_client(endpoint_url: str, region: str = REGION) -> BaseClient:
    """Return the tap's boto3 SQS client for a local endpoint (dummy credentials if none)."""
    return SqsEndpoint({"region": region}, endpoint_url).client


def local_queue(queue_url: str, endpoint_url: str | None = None, region: str = REGION) -> SqsQueue:
    """Return the queue at `queue_url`, through `endpoint_url` (by default the URL's host)."""
    return SqsQueue({"region": region, "endpoint_url": endpoint_url}, queue_url)


def start_sqs_server(
    port: int, name: str = SERVER_NAME, state_dir: Path = STATE_DIR, host: str = "localhost"
) -> int:
    """Start a detached moto server (localenv.fastmoto) on host:port, account 000000000000.

    Returns:
        Its pid, also written to `<state_dir>/<name>.pid`; stop it with `stop_pidfile`.
    """
    env = dict(os.environ, MOTO_ACCOUNT_ID=ACCOUNT_ID, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "localenv.fastmoto", "-H", host, "-p", str(port)]
    pid = spawn(argv, name, state_dir, env)
    wait_for_port(host, port, pid, state_dir / f"{name}.log")
    return pid


def queue_name(queue_url: str) -> str:
    """Return the queue name, the last path segment of `queue_url`."""
    name = urlsplit(queue_url).path.rstrip("/").rpartition("/")[2]
    if not name:
        raise LocalEnvError(f"TAP_SQS_LOGINS_QUEUE_URL={queue_url!r} has no queue name")
    return name


def seed(queue: SqsQueue, bodies: Sequence[str]) -> None:
    """Send `bodies` to the queue, ten per batch, in order.

    Raises:
        LocalEnvError: If SQS refuses some.
    """
    if refused := send_all(queue, bodies, threads=1)[1]:
        raise LocalEnvError(f"{queue.queue_url} refused {refused} of {len(bodies)} messages")


def ensure_queue(
    endpoint_url: str, queue_url: str, region: str, state_dir: Path = STATE_DIR
) -> bool:
    """Make sure the queue exists, starting and seeding a moto server if nothing answers.

    Returns:
        True if it started (and seeded) a server, False if one was already answering.

    Raises:
        LocalEnvError: naming the tap-sqs-logins setting to fix.
    """
    parts = urlsplit(endpoint_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    started = not port_open(host, port)
    if started and host not in LOCAL_HOSTS:
        raise LocalEnvError(
            f"nothing answers at {endpoint_url!r}: check tap-sqs-logins endpoint_url and queue_url"
        )
    if started:
        start_sqs_server(port, state_dir=state_dir, host=host)
    endpoint = SqsEndpoint({"region": region}, endpoint_url)
    name = queue_name(queue_url)
    try:
        if started:
            endpoint.create_queue(name)
            seed(local_queue(queue_url, endpoint_url, region), sample_bodies())
        else:
            endpoint.queue_url(name)
    except QueueError as error:
        raise LocalEnvError(
            f"SQS at {endpoint_url!r} has no usable queue {name!r}: check tap-sqs-logins "
            f"queue_url ({queue_url!r}) and endpoint_url: {error}"
        ) from error
    return started
