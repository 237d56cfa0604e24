"""`make run` masks with the demo key only when no key is configured anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.conftest import REPO

if TYPE_CHECKING:
    from pathlib import Path

DEMO = "TAP_SQS_LOGINS_MASK_KEY := demo-key-NOT-SECRET-for-make-run-only"


def run_recipe_variables(workdir: Path, **env: str) -> str:
    """Make's database for `make run` in a copy of the Makefile (nothing is executed)."""
    shutil.copy(REPO / "Makefile", workdir / "Makefile")
    environ = {k: v for k, v in os.environ.items() if k != "TAP_SQS_LOGINS_MASK_KEY"}
    result = subprocess.run(
        ["make", "-pn", "run"],  # noqa: S607
        cwd=workdir,
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout


def test_the_demo_key_is_used_when_no_key_is_configured(tmp_path: Path) -> None:
    assert DEMO in run_recipe_variables(tmp_path)


@pytest.mark.parametrize(
    "line",
    [
        "TAP_SQS_LOGINS_MASK_KEY=a-real-key-from-dotenv-0123",
        "export TAP_SQS_LOGINS_MASK_KEY='a-real-key-from-dotenv-0123'",
        '  TAP_SQS_LOGINS_MASK_KEY="a-real-key-from-dotenv-0123"',
    ],
)
def test_a_key_in_dotenv_wins_over_the_demo_key(tmp_path: Path, line: str) -> None:
    (tmp_path / ".env").write_text(f"OTHER=1\n{line}\n")
    assert DEMO not in run_recipe_variables(tmp_path)


def test_a_key_in_the_environment_wins_over_the_demo_key(tmp_path: Path) -> None:
    variables = run_recipe_variables(tmp_path, TAP_SQS_LOGINS_MASK_KEY="from-the-shell-0123456")
    assert DEMO not in variables


def test_a_commented_key_in_dotenv_does_not_count(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# TAP_SQS_LOGINS_MASK_KEY=old\n")
    assert DEMO in run_recipe_variables(tmp_path)
