"""LocalStack 4.14 (SQS only, host mode, no Docker) in its own Python 3.13 venv under .bench/.

`ensure_venv()` installs the pinned `bench/localstack-requirements.txt` (plus py-spy) once;
`LocalStack` starts a server on a free 127.0.0.1 port and stops it again. Nothing is fetched at
run time but PyPI packages: the DNS server and the test-certificate download are switched off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from localenv.process import free_port

if TYPE_CHECKING:
    from types import TracebackType

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".bench"
VENV = STATE / "venv"
REQUIREMENTS = REPO / "bench" / "localstack-requirements.txt"
EXTRA = ["py-spy==0.4.2"]  # the profiler (`--profile`), a standalone binary
PYTHON = "python3.13"


class BenchError(RuntimeError):
    """The bench cannot go on; the message says what to install or fix."""


def find_python() -> str:
    """Return a Python 3.13 interpreter: on PATH, else under `pyenv root`."""
    found = shutil.which(PYTHON)
    if found and subprocess.run([found, "-V"], capture_output=True, check=False).returncode == 0:
        return found
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        for candidate in sorted(Path(root.stdout.strip()).glob("versions/3.13*/bin/python3.13")):
            return str(candidate)
    raise BenchError(
        "LocalStack 4.14 needs Python 3.13: install python3.13 on PATH "
        "(e.g. `apt-get install python3.13-venv` or `pyenv install 3.13`)"
    )


def ensure_venv() -> Path:
    """Create .bench/venv with LocalStack and py-spy unless it is up to date; return its python."""
    STATE.mkdir(exist_ok=True)
    (STATE / ".gitignore").write_text("*\n")  # all of .bench/ is local state
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    wanted = REQUIREMENTS.read_text() + "\n".join(EXTRA)
    if marker.exists() and marker.read_text() == wanted:
        return python
    print(f"bench: installing LocalStack into {VENV} (once; a few minutes)", flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    steps = [
        [find_python(), "-m", "venv", str(VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS), *EXTRA],
    ]
    for argv in steps:
        run = subprocess.run(argv, capture_output=True, text=True, check=False)
        if run.returncode:
            raise BenchError(f"{' '.join(argv)} failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    marker.write_text(wanted)
    return python


class LocalStack:
    """A LocalStack SQS server on 127.0.0.1; use as a context manager."""

    def __init__(self, python: Path, log: Path) -> None:
        self.python = python
        self.log = log
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalStack:
        env = {
            **os.environ,
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "SERVICES": "sqs",
            "OVERRIDE_IN_DOCKER": "0",
            "EAGER_SERVICE_LOADING": "1",
            "DNS_ADDRESS": "0",  # no DNS server on port 53
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",  # no analytics
            "SQS_ENDPOINT_STRATEGY": "path",  # queue URLs http://127.0.0.1:PORT/ACCOUNT/NAME
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(self.python), str(Path(__file__).with_name("localstack_local.py"))],
                cwd=STATE,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.endpoint}/_localstack/health"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - local
                    if json.load(answer)["services"].get("sqs") in ("running", "available"):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        tail = self.log.read_text(errors="replace")[-3000:]
        raise BenchError(f"LocalStack did not become healthy at {self.endpoint}; log:\n{tail}")

    def stop(self) -> None:
        """Terminate the server (and its process group); kill it after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid if self.process else 0
