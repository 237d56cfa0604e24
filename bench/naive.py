"""The naive baseline: the ~60-line script the job replaces, written the way a seed project would.

Receive 10, mask ip and device_id with salted SHA-256, insert row by row into a table shaped
like public.user_logins, commit, delete the batch; stop at the first empty receive. No
validation beyond skipping non-login bodies. Usage: `python -m bench.naive QUEUE_URL DSN KEY`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sys

import boto3
import psycopg

INSERT = """insert into naive_user_logins
(user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date)
values (%s, %s, %s, %s, %s, %s, %s)"""


def mask(key: str, value: str | None) -> str | None:
    """Salted SHA-256 hex digest; None stays None."""
    return None if value is None else hashlib.sha256((key + value).encode()).hexdigest()


def main(queue_url: str, dsn: str, key: str) -> int:
    """Drain the queue into naive_user_logins; return the number of rows inserted."""
    endpoint = queue_url.rsplit("/", 2)[0]
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - LocalStack accepts any
    )
    inserted = 0
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "create table if not exists naive_user_logins (user_id varchar(128), "
            "device_type varchar(32), masked_ip varchar(256), masked_device_id varchar(256), "
            "locale varchar(32), app_version integer, create_date date)"
        )
        conn.commit()
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return inserted
            for message in messages:
                login = json.loads(message["Body"])
                if "user_id" not in login:
                    continue
                row = (
                    login["user_id"],
                    login["device_type"],
                    mask(key, login.get("ip")),
                    mask(key, login.get("device_id")),
                    login.get("locale"),
                    int(login["app_version"].split(".")[0]),
                    datetime.datetime.now(datetime.timezone.utc).date(),
                )
                conn.execute(INSERT, row)
                inserted += 1
            conn.commit()
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)


if __name__ == "__main__":
    print(main(*sys.argv[1:4]))
