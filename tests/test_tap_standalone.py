"""The tap stands alone: installed by itself into a clean virtualenv, its own tests pass.

A copy of tap-sqs-logins/ (so no build artefact lands in the repository) is installed, not
editable, by the project's pinned uv, with its `testing` extra and the project's constraints,
into a fresh venv; then the copy's source package is removed, so its tests can only import the
installed wheel, and `pytest` runs from the copy as a release's CI would. This is the one
run of the tap's suite in `make test` (pyproject.toml's testpaths), so none may be skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.harness.project import BIN, REPO

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

TAP_DIR = REPO / "tap-sqs-logins"
LEFT_BEHIND = shutil.ignore_patterns(
    "__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache", ".mypy_cache", "*.egg-info"
)


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: int) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout


def clean_env(venv: Path) -> dict[str, str]:
    """This environment without the project's venv or tap settings, the new venv first."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
        and not name.startswith("TAP_SQS_LOGINS_")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_tap_installs_alone_and_passes_its_own_tests(tmp_path: Path) -> None:
    tap = shutil.copytree(TAP_DIR, tmp_path / "tap-sqs-logins", ignore=LEFT_BEHIND)
    venv = tmp_path / "venv"
    env = clean_env(venv)
    uv = str(BIN / "uv")  # the project's pinned uv, as Meltano installs plugins
    run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path, env, 120)
    run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin/python"),
            f"{tap}[testing]",
            "-c",
            str(REPO / "constraints.txt"),
        ],
        tmp_path,
        env,
        timeout=900,
    )
    shutil.rmtree(tap / "tap_sqs_logins")

    out = run([str(venv / "bin/pytest"), "-q", "-p", "no:cacheprovider"], tap, env, timeout=900)

    summary = out.strip().splitlines()[-1]
    passed = re.search(r"\b(\d+) passed\b", summary)
    assert passed, summary
    assert int(passed.group(1)) > 0
    assert not re.search(r"\b(failed|errors?|skipped)\b", summary), summary  # its one run
