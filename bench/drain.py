"""The bare drain: boto3 receive 10 + delete batch, in N threads, nothing else.

The ceiling for anything that reads from this queue server on this machine. Each thread stops
at its first empty receive. Usage: `python -m bench.drain QUEUE_URL THREADS`; prints the count.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def drain(queue_url: str, threads: int) -> int:
    """Receive and delete until the queue answers empty; return the messages deleted."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=queue_url.rsplit("/", 2)[0],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - LocalStack accepts any
        config=Config(max_pool_connections=threads),
    )

    def worker(_: int) -> int:
        done = 0
        while messages := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages"):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            done += len(messages)
        return done

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(worker, range(threads)))


if __name__ == "__main__":
    print(drain(sys.argv[1], int(sys.argv[2])))
