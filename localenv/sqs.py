"""An SQS queue for local runs: the one at the endpoint, or an embedded moto server."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from localenv import LocalEnvError
from localenv.process import LOCAL_HOSTS, REPO, STATE_DIR, port_open, spawn, wait_for_port
from localenv.sample import sample_bodies

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from botocore.client import BaseClient

ACCOUNT_ID = "000000000000"  # LocalStack's account, as in the reference queue URL
SERVER_NAME = "sqs"


def sqs_client(endpoint_url: str, region: str = "us-east-1") -> BaseClient:
    """Return a boto3 SQS client, with dummy credentials unless AWS_ACCESS_KEY_ID is set."""
    keys = {}
    if "AWS_ACCESS_KEY_ID" not in os.environ:
        keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    return boto3.client("sqs", endpoint_url=endpoint_url, region_name=region, **keys)


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


def seed(client: BaseClient, queue_url: str, bodies: Sequence[str]) -> None:
    """Send `bodies` to the queue, ten per batch, in order."""
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
        ]
        client.send_message_batch(QueueUrl=queue_url, Entries=entries)


def queue_depth(client: BaseClient, queue_url: str) -> int:
    """Return the visible plus in-flight messages on the queue."""
    attributes = client.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def ensure_queue(
    endpoint_url: str, queue_url: str, region: str, state_dir: Path = STATE_DIR
) -> bool:
    """Make sure the queue exists, starting and seeding a moto server if nothing answers.

    Returns:
        True if it started (and seeded) a server, False if one was already answering.

    Raises:
        LocalEnvError: naming the tap-sqs-logins setting to fix.
    """
    endpoint = urlsplit(endpoint_url)
    host = endpoint.hostname or ""
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    started = not port_open(host, port)
    if started and host not in LOCAL_HOSTS:
        raise LocalEnvError(
            f"nothing answers at {endpoint_url!r}: check tap-sqs-logins endpoint_url and queue_url"
        )
    if started:
        start_sqs_server(port, state_dir=state_dir, host=host)
    client = sqs_client(endpoint_url, region)
    name = queue_name(queue_url)
    try:
        if started:
            client.create_queue(QueueName=name)
            seed(client, queue_url, sample_bodies())
        else:
            client.get_queue_url(QueueName=name)
    except (BotoCoreError, ClientError) as error:
        raise LocalEnvError(
            f"SQS at {endpoint_url!r} has no usable queue {name!r}: check tap-sqs-logins "
            f"queue_url ({queue_url!r}) and endpoint_url: {error}"
        ) from error
    return started
