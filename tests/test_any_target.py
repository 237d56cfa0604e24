"""The tap in a fresh Meltano project, added by the README's recipe, with a target from PyPI.

A bare git repository of the committed tree, tagged as the release step tags it
(`git tag v<version>`), stands for GitHub: git's `insteadOf` sends the definition's
`https://github.com/YOUR_ORG/tap-sqs-logins.git` there, and the README's `--from-ref` URL is
the definition at that tag. The recipe's commands run as written, from a scrubbed
environment, with only the variables it names (and the endpoint of the local server). The
loader is MeltanoLabs target-csv from PyPI, an SDK target: it emits a STATE only once it has
written the records before it. Every run is the real `meltano run` (or `meltano invoke`)
against a moto server.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import stat
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from localenv.sample import sample_bodies
from tests.harness.jobs import (
    KEY,
    KillPoint,
    freeze_at,
    mask,
    new_queues,
    queue_counts,
    seed_ids,
    tail,
)
from tests.harness.project import (
    BIN,
    REPO,
    RUN_TIMEOUT,
    meltano,
    package_index,
    run_meltano,
    scrubbed,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# One worker runs them all: the recipe's new project (a module fixture, minutes) is made once.
pytestmark = [pytest.mark.meltano, pytest.mark.slow, pytest.mark.xdist_group("any-target")]

TARGET_CSV = "meltanolabs-target-csv==0.5.0"
VISIBILITY = 30  # the least visibility_timeout: the runs below outlast it
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


VERSION = re.search(
    r'^__version__ = "([^"]+)"$',
    (REPO / "tap-sqs-logins" / "tap_sqs_logins" / "__init__.py").read_text(),
    re.MULTILINE,
)[1]  # type: ignore[index]
TAG = f"v{VERSION}"
GITHUB = "https://github.com/YOUR_ORG/tap-sqs-logins.git"
RAW = f"https://raw.githubusercontent.com/YOUR_ORG/tap-sqs-logins/{TAG}/"
RECIPE_MARK = "<!-- reuse recipe:"
RECIPE_VARIABLES = {"TAP_SQS_LOGINS_QUEUE_URL", "TAP_SQS_LOGINS_MASK_KEY"}


def readme_recipe() -> list[list[str]]:
    """The commands of the README's reuse recipe, each as its words."""
    text = (REPO / "tap-sqs-logins" / "README.md").read_text()
    block = text[text.index(RECIPE_MARK) :]
    block = block[block.index("```sh\n") + len("```sh\n") :]
    block = block[: block.index("```")].replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


@dataclass
class Recipe:
    """The project the README's recipe made, and what its first two runs wrote."""

    root: Path
    run: list[str]  # the recipe's `meltano run`, with this test's target
    first: list[dict[str, str]]  # the CSV rows of the first run
    every: Counter[str]  # how often both runs wrote each message id
    log: str  # both runs' output
    sent: dict[str, str]
    queue_url: str


def shell(home: Path, **variables: str) -> dict[str, str]:
    """A user's shell at `home` that reaches PyPI (for uv and pip), with only `variables`."""
    return scrubbed(**package_index(), HOME=str(home), **variables)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory, sqs_endpoint: str) -> Recipe:
    """A new Meltano project made by the README's recipe, followed literally, then run twice."""
    base = tmp_path_factory.mktemp("any-target")
    bare = base / "tap-sqs-logins.git"
    for command in (
        ["git", "init", "--quiet", "--bare", str(bare)],
        ["git", "-C", str(REPO), "push", "--quiet", str(bare), "HEAD:refs/heads/main"],
        ["git", "-C", str(bare), "tag", TAG, "main"],  # the release step
    ):
        subprocess.run(command, check=True, capture_output=True)
    git_config = base / "gitconfig"  # GitHub, for git (and so for pip): the bare repository
    git_config.write_text(f'[url "file://{bare}"]\n\tinsteadOf = {GITHUB}\n')
    env = shell(Path(os.environ["HOME"]), GIT_CONFIG_GLOBAL=str(git_config))
    meltano(env, "init", "project", "--no-usage-stats", project=base)
    root = base / "project"
    (base / "target-csv.yml").write_text(yaml.safe_dump(TARGET_DEFINITION))
    definition = str(base / "target-csv.yml")
    meltano(
        env, "add", "--plugin-type", "loader", "target-csv", "--from-ref", definition, project=root
    )
    for setting, value in (
        ("file_naming_scheme", "{stream_name}-{timestamp}.csv"),
        ("timestamp_format", "%Y%m%dT%H%M%S%f"),  # a file per run
    ):
        meltano(env, "config", "set", "target-csv", setting, value, project=root)

    queue_url, _ = new_queues(sqs_endpoint)
    sent = seed_ids(queue_url, sample_bodies(120))
    values = {"TAP_SQS_LOGINS_QUEUE_URL": queue_url, "TAP_SQS_LOGINS_MASK_KEY": KEY}
    exported, runs = {}, []
    for words in readme_recipe():
        if words[0] == "export":
            name, _, _ = words[1].partition("=")
            exported[name] = values[name]
        elif words[:2] == ["meltano", "add"]:
            [url] = [word for word in words if word.startswith("https://")]
            assert url.startswith(RAW), f"the recipe must install the release tag {TAG}"
            path = url.removeprefix(RAW)
            local = base / "raw" / path
            local.parent.mkdir(parents=True, exist_ok=True)
            show = ["git", "-C", str(bare), "show", f"{TAG}:{path}"]  # the file at the tag
            local.write_bytes(subprocess.run(show, check=True, capture_output=True).stdout)
            arguments = [str(local) if word == url else word for word in words[1:]]
            meltano(env, *arguments, project=root)
        else:
            assert words[:2] == ["meltano", "run"], words
            runs.append([*words[:-1], "target-csv"])  # "any Singer target of the project"
    assert set(exported) == RECIPE_VARIABLES
    assert len(runs) == 1
    out = base / "out"
    env |= exported | {
        "TAP_SQS_LOGINS_ENDPOINT_URL": sqs_endpoint,  # the local server, as the README says
        "TARGET_CSV_OUTPUT_PATH": str(out),
    }
    log = base / "recipe.log"
    [run_words] = runs
    written = []
    for _ in range(2):  # the first run, then the next one deletes what the target confirmed
        with log.open("ab") as output:
            job = subprocess.run(
                [str(BIN / "meltano"), *run_words[1:]],
                cwd=root,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=600,
                check=False,
            )
        assert job.returncode == 0, tail(log)
        written.append(csv_rows(out))
    return Recipe(
        root=root,
        run=run_words,
        first=written[0],
        every=Counter(row["message_id"] for row in written[1]),
        log=log.read_text(),
        sent=sent,
        queue_url=queue_url,
    )


def csv_rows(out: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted(out.glob("*.csv")):
        with path.open(newline="") as file:
            rows.extend(csv.DictReader(file))
    return rows


@pytest.fixture(scope="module")
def project(recipe: Recipe) -> Path:
    """The recipe's project, for the runs of the tests below."""
    return recipe.root


def test_the_readme_recipe_masks_on_the_first_run_and_deletes_at_the_next(
    recipe: Recipe,
) -> None:
    assert recipe.run == ["meltano", "run", "tap-sqs-logins", "target-csv"]
    assert sorted(row["message_id"] for row in recipe.first) == sorted(recipe.sent)
    logins = {message_id: json.loads(body) for message_id, body in recipe.sent.items()}
    for row in recipe.first:
        login = logins[row["message_id"]]
        assert "ip" not in row and "device_id" not in row
        if "user_id" in login:
            assert row["masked_ip"] == (mask("ip", login["ip"]) or "")
            assert row["masked_device_id"] == (mask("device_id", login["device_id"]) or "")
    assert recipe.every == Counter(list(recipe.sent))  # the second run emitted nothing again
    quarantined = sum("user_id" not in login for login in logins.values())
    assert queue_counts(recipe.queue_url) == (0, quarantined)  # poison: for the redrive policy
    for raw in {
        value
        for login in logins.values()
        for value in (login.get("ip"), login.get("device_id"))
        if value
    }:
        assert raw not in recipe.log
    assert "capabilities" not in recipe.log  # the state came back


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


def poison(sent: dict[str, str]) -> int:
    """How many of the bodies sent are no login (the sample's foreign message)."""
    return sum("user_id" not in json.loads(body) for body in sent.values())


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
    assert queue_counts(queue_url) == (0, poison(sent))  # left for the redrive policy
    assert not journal.exists()
    assert f"Deleted the {1200 - poison(sent)} messages of run" in log.read_text()


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
    assert sum(queue_counts(queue_url)) == poison(sent)  # left for the redrive policy


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
    assert queue_counts(queue_url) == (0, poison(sent))  # left for the redrive policy
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


def test_a_plugin_entry_without_the_state_capability_is_reported_at_start(
    project: Path, queue_url: str, tmp_path: Path
) -> None:
    """Meltano passes no state to it: the second run's start names the missing capability."""
    meltano_yml = project / "meltano.yml"
    config = yaml.safe_load(meltano_yml.read_text())
    tap = next(p for p in config["plugins"]["extractors"] if p["name"] == "tap-sqs-logins")
    stateless = {
        "name": "tap-sqs-logins--stateless",
        "inherit_from": "tap-sqs-logins",
        "capabilities": [c for c in tap["capabilities"] if c != "state"],
    }
    config["plugins"]["extractors"].append(stateless)
    meltano_yml.write_text(yaml.safe_dump(config, sort_keys=False))
    _, env = seeded(queue_url, tmp_path, 40)
    log = tmp_path / "meltano.log"
    try:
        for _ in range(2):
            job = run_meltano(
                env,
                *("run", "tap-sqs-logins--stateless", "target-csv"),
                project=project,
                timeout=RUN_TIMEOUT,
            )
            log.write_text(job.stdout + job.stderr)
            assert job.returncode == 0, tail(log)
    finally:
        config["plugins"]["extractors"].remove(stateless)
        meltano_yml.write_text(yaml.safe_dump(config, sort_keys=False))
    warning = [line for line in log.read_text().splitlines() if "no state came in" in line]
    assert warning, tail(log)
    assert "add `state` to the extractor's capabilities" in warning[0]
    assert "warning" in warning[0].lower()
    assert queue_counts(queue_url) == (0, 40)  # nothing confirmed, nothing deleted


@pytest.mark.parametrize("mode", ["after_state", "on_emit", "loader"])
def test_config_test_passes_on_an_empty_queue_and_never_hides_or_deletes(
    project: Path, sqs_endpoint: str, tmp_path: Path, mode: str
) -> None:
    empty, _ = new_queues(sqs_endpoint)
    busy, _ = new_queues(sqs_endpoint)
    seed_ids(busy, sample_bodies(30))
    for queue_url, visible in ((empty, 0), (busy, 30)):
        env = shell(
            tmp_path,
            TAP_SQS_LOGINS_QUEUE_URL=queue_url,
            TAP_SQS_LOGINS_MASK_KEY=KEY,
            TAP_SQS_LOGINS_ENDPOINT_URL=sqs_endpoint,
            TAP_SQS_LOGINS_ACKNOWLEDGEMENT=mode,
            TAP_SQS_LOGINS_JOURNAL_DIR=str(tmp_path / "journal"),
        )
        output = meltano(env, "config", "test", "tap-sqs-logins", project=project)
        assert "Plugin configuration is valid" in output
        assert queue_counts(queue_url) == (visible, 0)  # nothing received, nothing deleted
    assert not list((tmp_path / "journal").glob("*"))


@pytest.mark.parametrize(
    ("unset", "named"),
    [("TAP_SQS_LOGINS_MASK_KEY", "mask_key"), ("TAP_SQS_LOGINS_QUEUE_URL", "queue_url")],
)
def test_config_test_names_the_missing_setting(
    project: Path, queue_url: str, sqs_endpoint: str, tmp_path: Path, unset: str, named: str
) -> None:
    env = shell(
        tmp_path,
        TAP_SQS_LOGINS_QUEUE_URL=queue_url,
        TAP_SQS_LOGINS_MASK_KEY=KEY,
        TAP_SQS_LOGINS_ENDPOINT_URL=sqs_endpoint,
    )
    del env[unset]
    result = run_meltano(env, "config", "test", "tap-sqs-logins", project=project)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
