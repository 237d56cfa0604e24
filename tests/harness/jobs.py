"""Helpers for tests that start, watch and kill real `meltano run` jobs."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import shutil
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psutil
import psycopg

from localenv.postgres import find_bindir
from localenv.sqs import local_queue, sqs_client
from tests.harness.project import BIN, REPO, in_checkout

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.harness.services import Database

KEY = "integration-test-key-0123456789"
JOB = "sqs-logins-to-postgres"
TARGET = "target-postgres-msgspec"  # the job's target-postgres, as sqs-ack starts it
STEP = 0.02  # seconds a frozen process may run between checks of its kill point


# The masking map, and the sealed copy derived from `logins` (README "Optional sealed copy").
MASKING = {"masked_ip": "mask(ip)", "masked_device_id": "mask(device_id)", "ip": None}
SEALED_MAPS = {
    "logins": {**MASKING, "device_id": None},
    "sealed_logins": {
        "__source__": "logins",
        "__else__": None,
        "__key_properties__": ["message_id"],
        "message_id": "message_id",
        "sealed_ip": "seal(ip)",
        "sealed_device_id": "seal(device_id)",
    },
}
USER_LOGINS = (
    "select user_id, device_type, masked_ip, masked_device_id,"
    " locale, app_version, create_date::text from public.user_logins"
)


def mask(field: str, value: str | None) -> str | None:
    """An independent HMAC-SHA-256 of a field (README "Masking", format m2), to check the
    pipeline's masks; an ``ip`` the ``ipaddress`` module reads is written as it writes it."""
    if value is None:
        return None
    if field == "ip":
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(value)
            value = str(getattr(address, "ipv4_mapped", None) or address)
    key_id = hmac.new(KEY.encode(), b"tap-sqs-logins key id", hashlib.sha256).hexdigest()[:8]
    message = b"tap-sqs-logins mask m2\0" + field.encode() + b"\0" + value.encode()
    return f"m2:{key_id}:" + hmac.new(KEY.encode(), message, hashlib.sha256).hexdigest()


def expected_rows(bodies: list[str], day: str) -> Counter[tuple[object, ...]]:
    rows = []
    for body in bodies:
        login = json.loads(body)
        if "user_id" not in login:
            continue
        rows.append(
            (
                login["user_id"],
                login["device_type"],
                mask("ip", login["ip"]),
                mask("device_id", login["device_id"]),
                login["locale"],
                int(login["app_version"].split(".")[0]),
                day,
            )
        )
    return Counter(rows)


def job_env(queue_url: str, database: Database, **settings: str) -> dict[str, str]:
    """The environment of a job on `queue_url` loading into `database`."""
    return {
        **os.environ,
        **database.env(),
        "TAP_SQS_LOGINS_QUEUE_URL": queue_url,
        "TAP_SQS_LOGINS_ENDPOINT_URL": queue_url.rsplit("/", 2)[0],
        "TAP_SQS_LOGINS_MASK_KEY": KEY,
        "TAP_SQS_LOGINS_WAIT_TIME_SECONDS": "0",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        **settings,
    }


def new_queues(endpoint: str) -> tuple[str, str]:
    """Create a fresh source queue and dead-letter queue; return their URLs."""
    client = sqs_client(endpoint)
    suffix = uuid.uuid4().hex[:8]
    queue = client.create_queue(QueueName=f"logins-{suffix}")["QueueUrl"]
    dead = client.create_queue(QueueName=f"dead-{suffix}")["QueueUrl"]
    return queue, dead


def start_job(env: dict[str, str], log: Path, *options: str) -> subprocess.Popen[bytes]:
    """Start `meltano run [options] sqs-logins-to-postgres`, its output going to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / "meltano"), "run", *options, JOB],
            cwd=REPO,
            env=in_checkout(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_job(env: dict[str, str], log: Path, *options: str) -> int:
    """Run the job to its end; return its exit code."""
    return start_job(env, log, *options).wait(timeout=600)


def tail(log: Path, chars: int = 4000) -> str:
    """The end of a job log."""
    return log.read_text(errors="replace")[-chars:]


@dataclass(frozen=True)
class KillPoint:
    """Where to crash a job: once `executable` runs (not as --discover) and `ready()` holds."""

    name: str
    executable: str
    ready: Callable[[], bool] = lambda: True


def find_child(root: psutil.Process, executable: str) -> psutil.Process | None:
    """The descendant of `root` running `executable` (a script or binary name), if any.

    Discovery (`--discover`) is not the step itself.
    """
    for child in root.children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue
        if (
            any(os.path.basename(arg) == executable for arg in argv[:2])
            and "--discover" not in argv
        ):
            return child
    return None


def run_and_kill(env: dict[str, str], log: Path, point: KillPoint, *options: str) -> None:
    """Run the job with `options` and SIGKILL it at `point`: the process, meltano, the rest."""
    job = start_job(env, log, *options)
    root = psutil.Process(job.pid)
    victim = freeze_at(job, point, log)
    rest = root.children(recursive=True)
    for process in [victim, root, *rest]:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    job.wait()
    psutil.wait_procs(rest, timeout=10)
    with log.open("a") as out:
        out.write(f"\n--- test: SIGKILLed {point.executable} at kill point {point.name}\n")


def freeze_at(job: subprocess.Popen[bytes], point: KillPoint, log: Path) -> psutil.Process:
    """Return the process of `job` running `point.executable`, frozen (SIGSTOP) at `point`.

    It is frozen as soon as it starts and then let run in STEP-second bursts until
    `point.ready()`, so even a step lasting a fraction of a second stops in its middle.
    Fails the test (and kills the job) if the job or that process ends before the point.
    """
    root = psutil.Process(job.pid)
    deadline = time.monotonic() + 300
    try:
        while (victim := find_child(root, point.executable)) is None:
            assert job.poll() is None, f"{point.executable} never ran"
            assert time.monotonic() < deadline, f"{point.executable} did not start in time"
            time.sleep(0.01)
        victim.suspend()
        while not point.ready():
            assert _alive(victim), f"{point.executable} ended before the kill point"
            assert time.monotonic() < deadline, "the kill point took too long"
            victim.resume()
            time.sleep(STEP)
            victim.suspend()
    except (AssertionError, psutil.NoSuchProcess) as error:
        job.kill()
        job.wait()
        message = f"kill point {point.name!r} never reached ({error}):\n{tail(log)}"
        raise AssertionError(message) from None
    return victim


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def queue_counts(queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    depth = local_queue(queue_url).depth()
    return depth.visible, depth.in_flight


def seed_ids(queue_url: str, bodies: list[str]) -> dict[str, str]:
    """Send `bodies` ten per batch; return {message id: body}."""
    client = sqs_client(queue_url.rsplit("/", 2)[0])
    sent = {}
    for start in range(0, len(bodies), 10):
        batch = bodies[start : start + 10]
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)]
        response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        assert not response.get("Failed"), response["Failed"]
        sent.update({ok["MessageId"]: batch[int(ok["Id"])] for ok in response["Successful"]})
    return sent


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Receive every visible message of a queue (hiding them for 10 minutes)."""
    client = sqs_client(queue_url.rsplit("/", 2)[0])
    messages: list[dict[str, Any]] = []
    while batch := client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=600,
        MessageAttributeNames=["All"],
    ).get("Messages", []):
        messages.extend(batch)
    return messages


def poison_bodies(count: int) -> list[str]:
    """`count` bodies of each poison kind: bad JSON, foreign JSON, too-long user_id, NUL."""
    login = {
        "app_version": "2.3.0",
        "device_type": "ios",
        "ip": "10.0.0.1",
        "locale": None,
        "device_id": "000-00-0000",
    }
    bodies = []
    for i in range(count):
        bodies += [
            f'{{"user_id": "truncated-{i}", "app_version": ',
            json.dumps({"foo": "oops_wrong_msg_type", "bar": str(i)}),
            json.dumps({**login, "user_id": f"{i:04d}" + "x" * 128}),
            json.dumps({**login, "user_id": f"nul\x00{i}"}),
        ]
    return bodies


def pg_dump(database: Database) -> bytes:
    """A plain-text dump of the whole database (the system's pg_dump, else pgserver's)."""
    program = shutil.which("pg_dump") or str(find_bindir(wheel=True) / "pg_dump")
    return subprocess.run(
        [program, "--dbname", database.dsn], capture_output=True, check=True
    ).stdout


def delivered(database: Database) -> Counter[tuple[object, ...]]:
    """The rows of public.user_logins, counted."""
    return Counter(fetch(database, USER_LOGINS))


def fetch(database: Database, query: str) -> list[tuple[Any, ...]]:
    """All rows of `query` in `database`."""
    with psycopg.connect(database.dsn) as conn:
        return conn.execute(query).fetchall()


def row_count(conn: psycopg.Connection[tuple[Any, ...]], table: str) -> int:
    """Rows of `table`; 0 while it does not exist."""
    if conn.execute("select to_regclass(%s)", [table]).fetchone() == (None,):
        return 0
    row = conn.execute(f"select count(*) from {table}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def counts(conn: psycopg.Connection[tuple[Any, ...]]) -> tuple[int, int]:
    """Rows delivered and quarantined so far."""
    return (
        row_count(conn, "public.user_logins"),
        row_count(conn, "sqs_logins.quarantined_messages"),
    )
