"""The tap in a fresh Meltano project, added as another user adds it, with a target from PyPI.

A bare git repository of the committed tree stands for GitHub: the tap is added with
`meltano add --from-ref` of its Hub-style definition, with
`pip_url: git+file://…@main#subdirectory=tap-sqs-logins`. The loader is MeltanoLabs
target-csv from PyPI, an SDK target: it emits a STATE only once it has written the records
before it. Every run is the real `meltano run` (or `meltano invoke`) against a moto server.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest
import yaml

from localenv.sample import sample_bodies
from tests.conftest import REPO
from tests.integration.jobs import (
    BIN,
    KEY,
    KillPoint,
    freeze_at,
    meltano,
    queue_counts,
    seed_ids,
    tail,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

TARGET_CSV = "meltanolabs-target-csv==0.5.0"
VISIBILITY = 30  # the least visibility_timeout: the runs below outlast it
MAPS = {
    "logins": {
        "masked_ip": "mask(ip)",
        "masked_device_id": "mask(device_id)",
        "ip": "__NULL__",
        "device_id": "__NULL__",
    }
}
TARGET_DEFINITION = {
    "name": "target-csv",
    "namespace": "target_csv",
    "variant": "meltanolabs",
    "pip_url": TARGET_CSV,
    "executable": "target-csv",
    "settings": [
        *({"name": name} for name in ("output_path", "file_naming_scheme", "timestamp_format")),
        {"name": "batch_size_rows", "kind": "integer"},
    ],
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new Meltano project with the tap from git and target-csv from PyPI, installed."""
    base = tmp_path_factory.mktemp("any-target")
    bare = base / "tap-sqs-logins.git"
    for command in (
        ["git", "init", "--quiet", "--bare", str(bare)],
        ["git", "-C", str(REPO), "push", "--quiet", str(bare), "HEAD:refs/heads/main"],
    ):
        subprocess.run(command, check=True, capture_output=True)
    tap = yaml.safe_load((REPO / "tap-sqs-logins" / "tap-sqs-logins.yml").read_text())
    tap["pip_url"] = f"git+file://{bare}@main#subdirectory=tap-sqs-logins"
    (base / "tap-sqs-logins.yml").write_text(yaml.safe_dump(tap))
    (base / "target-csv.yml").write_text(yaml.safe_dump(TARGET_DEFINITION))
    env = dict(os.environ)
    meltano(env, "init", "project", "--no-usage-stats", project=base)
    root = base / "project"
    for kind, name in (("extractor", "tap-sqs-logins"), ("loader", "target-csv")):
        definition = str(base / f"{name}.yml")
        meltano(env, "add", "--plugin-type", kind, name, "--from-ref", definition, project=root)
    for plugin, setting, value in (
        ("tap-sqs-logins", "stream_maps", json.dumps(MAPS)),
        ("target-csv", "file_naming_scheme", "{stream_name}-{timestamp}.csv"),
        ("target-csv", "timestamp_format", "%Y%m%dT%H%M%S%f"),  # a file per run
    ):
        meltano(env, "config", "set", plugin, setting, value, project=root)
    return root


def seeded(
    queue_url: str, tmp_path: Path, count: int, **settings: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Send `count` logins; return them ({id: body}) and the environment of a run on them.

    Each test has its own state id; the run writes CSV files to tmp_path/out and, unless
    `settings` say otherwise, its journal to tmp_path/journal.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_SQS_LOGINS_", "TARGET_"))}
    env |= {
        "TAP_SQS_LOGINS_QUEUE_URL": queue_url,
        "TAP_SQS_LOGINS_MASK_KEY": KEY,
        "TAP_SQS_LOGINS_WAIT_TIME_SECONDS": "0",
        "TAP_SQS_LOGINS_VISIBILITY_TIMEOUT": str(VISIBILITY),
        "TAP_SQS_LOGINS_JOURNAL_DIR": str(tmp_path / "journal"),
        "TARGET_CSV_OUTPUT_PATH": str(tmp_path / "out"),
        "MELTANO_RUN_STATE_ID_SUFFIX": tmp_path.name,
        **settings,
    }
    return seed_ids(queue_url, sample_bodies(count)), env


def start_run(project: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / "meltano"), "run", "tap-sqs-logins", "target-csv"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run(project: Path, env: dict[str, str], log: Path) -> None:
    assert start_run(project, env, log).wait(timeout=600) == 0, tail(log)


def emitted(tmp_path: Path) -> Counter[str]:
    """How often target-csv wrote each message id, over every run's file."""
    ids: Counter[str] = Counter()
    for path in (tmp_path / "out").glob("*.csv"):
        with path.open(newline="") as file:
            ids.update(row["message_id"] for row in csv.DictReader(file))
    return ids


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_each_message_once_and_deleted_at_the_next_run(
    project: Path, queue_url: str, tmp_path: Path
) -> None:
    # The default journal_dir: .tap-sqs-logins/journal in the project.
    sent, env = seeded(queue_url, tmp_path, 1200)
    del env["TAP_SQS_LOGINS_JOURNAL_DIR"]
    log = tmp_path / "meltano.log"

    run(project, env, log)

    assert emitted(tmp_path) == Counter(list(sent))
    assert queue_counts(queue_url) == (0, 1200)  # hidden until the target's STATE confirms
    directory = project / ".tap-sqs-logins" / "journal"
    [journal] = directory.glob("*.jsonl")
    assert (mode(directory), mode(journal)) == (0o700, 0o600)

    run(project, env, log)

    assert emitted(tmp_path) == Counter(list(sent))  # nothing emitted twice
    assert queue_counts(queue_url) == (0, 0)
    assert not journal.exists()
    assert "Deleted the 1200 messages of run" in log.read_text()


def test_a_killed_target_loses_nothing(project: Path, queue_url: str, tmp_path: Path) -> None:
    sent, env = seeded(queue_url, tmp_path, 1200, TARGET_CSV_BATCH_SIZE_ROWS="50")
    log = tmp_path / "meltano.log"
    job = start_run(project, env, log)
    written = KillPoint("written", "target-csv", lambda: sum(emitted(tmp_path).values()) >= 300)
    freeze_at(job, written, log).kill()
    assert job.wait(timeout=120) != 0  # and Meltano SIGKILLs the tap
    assert 300 <= sum(emitted(tmp_path).values()) < 1200

    # What the killed run received comes back after visibility_timeout; two runs deliver it.
    wait_for(lambda: queue_counts(queue_url) == (1200, 0), 2 * VISIBILITY)
    run(project, env, log)
    run(project, env, log)

    assert set(emitted(tmp_path)) == set(sent)  # every message, at least once
    assert queue_counts(queue_url) == (0, 0)


def test_at_most_once_loses_what_a_killed_target_had_not_written(
    project: Path, queue_url: str, tmp_path: Path
) -> None:
    sent, env = seeded(queue_url, tmp_path, 1200, TAP_SQS_LOGINS_ACKNOWLEDGEMENT="on_emit")
    log = tmp_path / "meltano.log"
    job = start_run(project, env, log)
    target = freeze_at(job, KillPoint("started", "target-csv"), log)  # it never reads
    counts = [-1, -1]

    def settled() -> bool:  # the tap deleted what it wrote and waits on the full pipe
        counts.append(sum(queue_counts(queue_url)))
        return counts[-1] == counts[-3] < 1200

    wait_for(settled, 60)
    target.kill()
    assert job.wait(timeout=120) != 0
    wait_for(lambda: queue_counts(queue_url)[1] == 0, 2 * VISIBILITY)
    run(project, env, log)

    lost = set(sent) - set(emitted(tmp_path))
    assert len(lost) == 1200 - counts[-1] > 0  # deleted on emit, never written
    assert queue_counts(queue_url) == (0, 0)
    assert "acknowledgement is on_emit" in log.read_text()


def test_a_consumer_slower_than_the_visibility_timeout_receives_each_message_once(
    project: Path, queue_url: str, tmp_path: Path
) -> None:
    sent, env = seeded(queue_url, tmp_path, 400, TAP_SQS_LOGINS_RECEIVE_CONCURRENCY="1")
    with (tmp_path / "invoke.log").open("wb") as log:
        tap = subprocess.Popen(
            [str(BIN / "meltano"), "invoke", "tap-sqs-logins"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert tap.stdout is not None
    lines = [json.loads(tap.stdout.readline())]
    while lines[-1]["type"] != "RECORD":
        lines.append(json.loads(tap.stdout.readline()))
    time.sleep(VISIBILITY + 5)  # the messages already received would be offered again
    lines += [json.loads(line) for line in tap.stdout]
    assert tap.wait(timeout=120) == 0

    records = [line["record"] for line in lines if line["type"] == "RECORD"]
    assert sorted(record["message_id"] for record in records) == sorted(sent)
    assert {record["receive_count"] for record in records} == {1}
    assert queue_counts(queue_url) == (0, 400)
