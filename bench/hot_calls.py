"""CPU per hot SQS call, boto3 against the lean path, side by side in one process.

Usage: ``python -m bench.hot_calls ENDPOINT [BATCHES] [ROUNDS]``, ENDPOINT a running SQS
(LocalStack or moto). Each round seeds BATCHES batches of ten logins, then drains the queue
in receive + delete batches of ten, once through the boto3 client and once through
``LeanCalls`` (the same client's credentials, HTTP session and retry handler). Prints the CPU
(``time.process_time``) and wall time per receive and per delete, in ms.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from localenv.sample import sample_bodies
from tap_sqs_logins import SqsEndpoint

LOGIN = sample_bodies(1, foreign_index=None)[0]  # a login shaped as the sample's
RECEIVE = {
    "MaxNumberOfMessages": 10,
    "WaitTimeSeconds": 0,
    "VisibilityTimeout": 600,
    "MessageSystemAttributeNames": ["SentTimestamp", "ApproximateReceiveCount"],
}


def drain(call: Any, queue_url: str) -> dict[str, list[float]]:
    """Receive and delete until the queue is empty; return CPU and wall seconds per call."""
    spent: dict[str, list[float]] = {"receive": [], "delete": []}
    while True:
        cpu, wall = time.process_time(), time.perf_counter()
        messages = call("receive_message", {"QueueUrl": queue_url, **RECEIVE}).get("Messages", [])
        spent["receive"].append(time.process_time() - cpu)
        spent["receive_wall"] = [*spent.get("receive_wall", []), time.perf_counter() - wall]
        if not messages:
            return spent
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        cpu, wall = time.process_time(), time.perf_counter()
        call("delete_message_batch", {"QueueUrl": queue_url, "Entries": entries})
        spent["delete"].append(time.process_time() - cpu)
        spent["delete_wall"] = [*spent.get("delete_wall", []), time.perf_counter() - wall]


def main(endpoint: str, batches: int = 200, rounds: int = 2) -> None:
    """Print CPU and wall ms per receive and delete, boto3 and lean, ``rounds`` times each."""
    sqs = SqsEndpoint({"region": "us-east-1"}, endpoint)
    queue_url = sqs.create_queue("bench-hot-calls")
    sqs.client.purge_queue(QueueUrl=queue_url)
    paths = {
        "boto3": lambda operation, params: getattr(sqs.client, operation)(**params),
        "lean": sqs.lean_calls.call,
    }
    for _ in range(rounds):
        for name, call in paths.items():
            for _ in range(batches):
                entries = [{"Id": str(i), "MessageBody": LOGIN} for i in range(10)]
                sqs.client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            spent = drain(call, queue_url)
            cells = [
                f"{kind} cpu {1000 * sum(spent[kind]) / len(spent[kind]):.3f} "
                f"wall {1000 * sum(spent[kind + '_wall']) / len(spent[kind]):.3f}"
                for kind in ("receive", "delete")
            ]
            print(f"{name:5} {len(spent['delete'])} batches: ms per call: {'; '.join(cells)}")
    sqs.client.delete_queue(QueueUrl=queue_url)


if __name__ == "__main__":
    main(sys.argv[1], *(int(arg) for arg in sys.argv[2:]))
