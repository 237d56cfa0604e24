"""Every documented way of starting the job, started as README.md documents it.

Each test deploys the project as a user would (a copy of the repository's files, the installed
`.venv` and plugins linked in) and starts the job from a scrubbed environment: `HOME`,
`PATH=/usr/bin:/bin`, `LANG` and only the variables README "Configuration" tells users to set,
pointing the job at the test's moto queue and throwaway database. Nothing comes from the test
process's PATH, an activated virtualenv or make's exports. The ways:

- the crontab line exactly as `make crontab` prints it, run by `/bin/sh -c` with cron's
  environment, the settings in the project's `.env` (README "Plain cron");
- `bin/worker 1` from a plain shell (README "Scaling out"), and SIGTERM to it mid-run;
- `.venv/bin/meltano run sqs-logins-to-postgres` by absolute and by relative path (systemd
  units, `docker exec`, scripts);
- the image's command (the Dockerfile's ENTRYPOINT + CMD, ENV and WORKDIR) as PID 1 of a new
  PID namespace (`unshare -fp --mount-proc`), as `docker run` starts it; SIGTERM to it
  (`docker stop`) stops the run at once, offers its messages back, and the next run of that
  worker is accepted; in the WORKER_EVERY loop, SIGTERM between runs ends the loop.

Each delivers every login of its queue into `user_logins` exactly once.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from localenv.sample import sample_bodies
from localenv.sqs import sqs_client
from tests.harness.jobs import JOB, KEY, delivered, expected_rows, queue_counts, seed_ids
from tests.harness.project import REPO, scrubbed

if TYPE_CHECKING:
    from tests.harness.services import Database

pytestmark = [pytest.mark.meltano, pytest.mark.slow]

HOME = os.environ.get("HOME", "/root")
PLAIN = scrubbed()
CRON = {"HOME": HOME, "LOGNAME": "root", "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"}
DOCKER_STOP_GRACE = 10  # seconds `docker stop` waits before SIGKILL
# Enough logins that a stop sent once the tap receives lands before it has received them all
# (a stop once the tap has ended is tests/test_loader_failure.py's).
MID_RUN = 5000
TIMEOUT = 600


def deploy(tmp_path: Path) -> Path:
    """The project as checked out and installed: its tracked files (with their times, so make
    sees the installation as up to date), the installed `.venv` and plugins linked in."""
    project = tmp_path / "tap-sqs-logins"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        target = project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    (project / ".venv").symlink_to(REPO / ".venv")
    (project / ".meltano").mkdir(mode=0o700)
    for kind in ("extractors", "loaders", "utilities"):
        (project / ".meltano" / kind).symlink_to(REPO / ".meltano" / kind)
    return project


def settings(queue_url: str, database: Database) -> dict[str, str]:
    """The variables README "Configuration" names, for the test's queue and database."""
    return {
        "TAP_SQS_LOGINS_QUEUE_URL": queue_url,
        "TAP_SQS_LOGINS_ENDPOINT_URL": queue_url.rsplit("/", 2)[0],
        "TAP_SQS_LOGINS_MASK_KEY": KEY,
        "TAP_SQS_LOGINS_WAIT_TIME_SECONDS": "0",
        **database.env(),
    }


def seed(queue_url: str, count: int, seed: int) -> list[str]:
    """Send `count` valid logins; return their bodies."""
    bodies = sample_bodies(count, seed=seed, foreign_index=None)
    seed_ids(queue_url, bodies)
    return bodies


def assert_delivered_once(queue_url: str, database: Database, bodies: list[str]) -> None:
    """Every login in `user_logins` exactly once, and the queue empty."""
    today = datetime.now(timezone.utc).date().isoformat()
    assert delivered(database) == expected_rows(bodies, today)
    assert queue_counts(queue_url) == (0, 0)


def run(command: list[str], project: Path, env: dict[str, str]) -> str:
    """Run `command` in `project` to its end; fail the test unless it exits 0."""
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    return output


def test_the_crontab_line_as_cron_runs_it(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    project = deploy(tmp_path)
    dotenv = project / ".env"  # README: cron's environment is almost empty; settings go here
    dotenv.write_text("".join(f"{k}={v}\n" for k, v in settings(queue_url, database).items()))
    dotenv.chmod(0o600)
    make = subprocess.run(
        ["/usr/bin/make", "-q", ".venv/.installed"], cwd=project, env=PLAIN, check=False
    )
    assert make.returncode == 0, "make would reinstall the linked .venv"
    printed = run(["/usr/bin/make", "-s", "crontab"], project, PLAIN)
    assert printed == run([".venv/bin/python", "-m", "orchestrate.cron"], project, PLAIN)
    [line] = [line for line in printed.splitlines() if line and not line.startswith("#")]
    bodies = seed(queue_url, 40, seed=21)

    run(["/bin/sh", "-c", line.split(None, 5)[5]], Path(HOME), CRON)  # cron starts in HOME

    assert_delivered_once(queue_url, database, bodies)
    log = project / ".meltano" / "cron" / "sqs-logins-every-15-minutes.log"
    assert "dbt-postgres" in log.read_text()


def test_bin_worker_from_a_plain_shell(queue_url: str, database: Database, tmp_path: Path) -> None:
    project = deploy(tmp_path)
    bodies = seed(queue_url, 40, seed=22)

    run(["/bin/sh", "-c", "bin/worker 1"], project, {**PLAIN, **settings(queue_url, database)})

    assert_delivered_once(queue_url, database, bodies)
    assert_private(project / ".meltano" / "workers" / "1")


def test_sigterm_to_a_single_worker_run_reaches_meltano(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    project = deploy(tmp_path)
    env = {**PLAIN, **settings(queue_url, database)}
    bodies = seed(queue_url, MID_RUN, seed=27)
    worker = subprocess.Popen(
        ["bin/worker", "7"],  # noqa: S607 - as typed in the project directory
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_until(lambda: queue_counts(queue_url)[1] > 0, worker)
    assert Path(psutil.Process(worker.pid).cmdline()[1]).name == "meltano"  # exec'd

    code, output = stop(worker, worker.pid)

    assert code == 128 + signal.SIGTERM, output[-5000:]
    visible, in_flight = queue_counts(queue_url)
    assert in_flight == 0, "messages of the stopped run stay hidden"
    assert visible > 0, "the run was not stopped mid-run"
    output = run(["bin/worker", "7"], project, env)
    assert "already running" not in output
    assert_delivered_once(queue_url, database, bodies)


def assert_private(directory: Path) -> None:
    """Nothing under `directory` (run files, configs with secrets, logs) is open to others."""
    paths = [directory, *(p for p in directory.rglob("*") if not p.is_symlink())]
    assert len(paths) > 1
    for path in paths:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


@pytest.mark.parametrize(
    "meltano",
    ["{project}/.venv/bin/meltano", ".venv/bin/meltano"],
)
def test_meltano_by_path_without_an_activated_venv(
    meltano: str, queue_url: str, database: Database, tmp_path: Path
) -> None:
    project = deploy(tmp_path)
    bodies = seed(queue_url, 40, seed=23)
    command = [*shlex.split(meltano.format(project=project)), "run", JOB]

    run(command, project, {**PLAIN, **settings(queue_url, database)})

    assert_delivered_once(queue_url, database, bodies)


# The image: its command as PID 1, as `docker run` starts it.


def image(project: Path) -> tuple[list[str], dict[str, str], Path]:
    """The Dockerfile's ENTRYPOINT + CMD, ENV and WORKDIR, with its /project at `project`."""
    text = re.sub(r"\\\n", " ", (project / "Dockerfile").read_text())
    instructions = [
        line.split(None, 1) for line in text.splitlines() if line and not line.startswith("#")
    ]
    env = {"PATH": PLAIN["PATH"]}  # the base image's PATH has more; this has what is needed
    argv: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": []}
    workdir = "/"
    for instruction, arguments in instructions:
        if instruction == "ENV":
            for pair in shlex.split(arguments):
                name, value = pair.split("=", 1)
                env[name] = value.replace("$PATH", env["PATH"])
        elif instruction in argv:
            argv[instruction] = json.loads(arguments)
        elif instruction == "WORKDIR":
            workdir = arguments.strip()

    def here(value: str) -> str:
        return value.replace("/project", str(project))

    env = {name: here(value) for name, value in env.items()}
    command = [here(arg) for arg in argv["ENTRYPOINT"] + argv["CMD"]]
    return command, env, Path(here(workdir))


def start_as_pid_1(project: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    """Start the image's command as PID 1 of a new PID namespace; return it and its host pid."""
    command, image_env, workdir = image(project)
    namespace = subprocess.Popen(
        ["/usr/bin/unshare", "-fp", "--mount-proc", *command],
        cwd=workdir,
        env={"HOME": HOME, "LANG": "C.UTF-8", **image_env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (children := psutil.Process(namespace.pid).children()):
        assert namespace.poll() is None, namespace.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return namespace, children[0].pid


def wait_until(condition: object, job: subprocess.Popen[str]) -> None:
    """Poll `condition()` until it holds; fail if the job ends first."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():  # type: ignore[operator]
        assert job.poll() is None, f"the job ended first:\n{job.communicate()[0][-5000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.02)


def commands(pid: int) -> list[str]:
    """The command lines of the children of `pid` (those not ended yet)."""
    lines = []
    for child in psutil.Process(pid).children():
        try:
            lines.append(" ".join(child.cmdline()))
        except psutil.Error:
            continue
    return lines


def stop(job: subprocess.Popen[str], pid: int) -> tuple[int, str]:
    """`docker stop`: SIGTERM to `pid`; the job's exit status and output, within Docker's grace."""
    os.kill(pid, signal.SIGTERM)
    try:
        output = job.communicate(timeout=DOCKER_STOP_GRACE)[0]
    except subprocess.TimeoutExpired:
        job.kill()
        output = job.communicate()[0]
        pytest.fail(f"still running {DOCKER_STOP_GRACE} s after SIGTERM:\n{output[-5000:]}")
    return job.returncode, output


def test_the_image_command_as_pid_1_stops_on_sigterm_and_runs_again(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    project = deploy(tmp_path)
    env = {**settings(queue_url, database), "WORKER_ID": "replica-1"}
    bodies = seed(queue_url, MID_RUN, seed=24)
    job, pid_1 = start_as_pid_1(project, env)
    wait_until(lambda: queue_counts(queue_url)[1] > 0, job)  # the tap is receiving

    code, output = stop(job, pid_1)

    assert code == 128 + signal.SIGTERM, output[-5000:]
    visible, in_flight = queue_counts(queue_url)
    assert in_flight == 0, "messages of the stopped run stay hidden"
    assert visible > 0, "the run was not stopped mid-run"
    client = sqs_client(queue_url.rsplit("/", 2)[0])
    again = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert again.get("Messages"), "the offered-back messages cannot be received"

    job, _ = start_as_pid_1(project, env)
    output = job.communicate(timeout=TIMEOUT)[0]

    assert job.returncode == 0, output[-5000:]
    assert "already running" not in output
    assert_delivered_once(queue_url, database, bodies)
    assert_private(project / ".meltano" / "workers" / "replica-1")


def test_the_image_command_in_a_loop_stops_on_sigterm_between_runs(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    project = deploy(tmp_path)
    env = {**settings(queue_url, database), "WORKER_ID": "replica-2", "WORKER_EVERY": "3600"}
    bodies = seed(queue_url, 30, seed=25)
    job, pid_1 = start_as_pid_1(project, env)
    wait_until(lambda: f"sleep {env['WORKER_EVERY']}" in commands(pid_1), job)

    code, output = stop(job, pid_1)

    assert code == 128 + signal.SIGTERM, output[-5000:]
    assert "stopped by SIGTERM" in output
    assert_delivered_once(queue_url, database, bodies)


def test_ctrl_c_on_a_worker_loop_stops_its_run(
    queue_url: str, database: Database, tmp_path: Path
) -> None:
    project = deploy(tmp_path)
    worker_id = f"loop-{uuid.uuid4().hex[:6]}"
    env = {**PLAIN, **settings(queue_url, database), "WORKER_EVERY": "60"}
    bodies = seed(queue_url, MID_RUN, seed=26)
    loop = subprocess.Popen(
        ["bin/worker", worker_id],  # noqa: S607 - as typed in the project directory
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    wait_until(lambda: queue_counts(queue_url)[1] > 0, loop)

    os.killpg(loop.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
    output = loop.communicate(timeout=DOCKER_STOP_GRACE)[0]

    assert loop.returncode == 128 + signal.SIGINT, output[-5000:]
    assert queue_counts(queue_url)[1] == 0, f"messages of the stopped run stay hidden:\n{output}"
    run(["bin/worker", worker_id], project, {**PLAIN, **settings(queue_url, database)})
    assert_delivered_once(queue_url, database, bodies)
