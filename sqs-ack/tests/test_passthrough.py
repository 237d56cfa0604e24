"""Behind any other tap, or for --about and the like, sqs-ack is plain target-postgres."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqs_ack import loader


class Execed(Exception):
    """os.execv was called: the program it would have run."""


def fake_execv(path: Path, argv: list[str]) -> None:
    raise Execed(path, argv)


@pytest.mark.parametrize(
    ("argv", "namespace"),
    [
        (["--about"], "tap_sqs_logins"),
        (["--config", "target.json"], "tap_github"),
        (["--config", "target.json"], ""),
    ],
)
def test_it_runs_plain_target_postgres(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], namespace: str
) -> None:
    """Not target-postgres-msgspec: another tap's output may hold NaN or Infinity (Python's
    json.dumps writes them), which target-postgres's json reader takes and msgspec's refuses."""
    monkeypatch.setattr(sys, "argv", ["target-postgres-sqs-ack", *argv])
    monkeypatch.setenv("MELTANO_EXTRACTOR_NAMESPACE", namespace)
    monkeypatch.setattr("os.execv", fake_execv)
    with pytest.raises(Execed) as execed:
        loader.main()
    path, args = execed.value.args
    assert Path(path).name == "target-postgres"
    assert args == [str(path), *argv]
