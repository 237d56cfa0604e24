"""Config files (they hold mask_key) are made private when the tap starts."""

from __future__ import annotations

import json
import stat
from typing import TYPE_CHECKING

from click.testing import CliRunner

from tap_sqs_logins.tap import TapSqsLogins

if TYPE_CHECKING:
    from pathlib import Path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_config(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mask_key": "unit-test-key-0123456789"}))
    for item in (path, *path.parents):
        if item.is_relative_to(path.parents[3]):
            item.chmod(0o755)
    path.chmod(0o644)
    return path


def test_a_left_over_meltano_run_config_is_made_private(tmp_path: Path) -> None:
    config = write_config(tmp_path / "project/.meltano/run/tap-sqs-logins/tap.123.config.json")
    other = write_config(tmp_path / "elsewhere/a/b/c/config.json")
    result = CliRunner().invoke(
        TapSqsLogins.cli, ["--config", str(config), "--config", str(other), "--about"]
    )
    assert result.exit_code == 0, result.output
    assert mode(config) == mode(other) == 0o600
    assert mode(config.parent) == mode(config.parent.parent) == 0o700  # plugin dir, run
    assert mode(tmp_path / "project/.meltano") == 0o755  # only .meltano/run and below
    assert mode(other.parent) == 0o755  # outside .meltano/run, only the file changes


def test_config_from_the_environment_is_left_alone() -> None:
    result = CliRunner().invoke(TapSqsLogins.cli, ["--config", "ENV", "--about"])
    assert result.exit_code == 0, result.output
