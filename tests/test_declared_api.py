"""The tap's declared API: the only names of tap_sqs_logins the rest of the project imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import tap_sqs_logins

REPO = Path(__file__).resolve().parents[1]
# The tap's own code and tests may import its internals; everything else ships or runs it.
OUTSIDE = ["sqs-ack/sqs_ack", "localenv", "bench", "orchestrate", "transform", "bin"]


def imports_of_the_tap(path: Path) -> list[str]:
    """Each import of tap_sqs_logins in `path`, as `module:name`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tap_sqs_logins"):
            found += [f"{node.module}:{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("tap_sqs_logins")]
    return found


def outside_sources() -> list[Path]:
    return sorted(path for folder in OUTSIDE for path in (REPO / folder).rglob("*.py"))


def test_other_packages_import_only_declared_names() -> None:
    sources = outside_sources()
    assert REPO / "sqs-ack" / "sqs_ack" / "loader.py" in sources  # the scan sees the packages
    wrong = {
        f"{path.relative_to(REPO)}: {found}"
        for path in sources
        for found in imports_of_the_tap(path)
        if not found.startswith("tap_sqs_logins:")
        or found.partition(":")[2] not in tap_sqs_logins.__all__
    }
    assert not wrong, "import only `from tap_sqs_logins import <name in __all__>`"


def test_the_check_catches_a_submodule_import(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text(
        "from tap_sqs_logins.sqs.client import SqsQueue\nimport tap_sqs_logins.tap\n"
        "from tap_sqs_logins import SqsQueue\n"
    )
    assert imports_of_the_tap(source) == [
        "tap_sqs_logins.sqs.client:SqsQueue",
        "tap_sqs_logins.tap",
        "tap_sqs_logins:SqsQueue",
    ]


def test_every_declared_name_resolves() -> None:
    for name in tap_sqs_logins.__all__:
        value = getattr(tap_sqs_logins, name)
        assert value is not None, name
    assert set(tap_sqs_logins.__all__) <= set(dir(tap_sqs_logins))


def test_an_undeclared_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="streams_internal"):
        tap_sqs_logins.__getattr__("streams_internal")


def test_importing_the_package_and_its_sqs_layer_imports_no_singer() -> None:
    code = (
        "import sys, tap_sqs_logins\n"
        "assert 'singer_sdk' not in sys.modules\n"
        "from tap_sqs_logins import SqsQueue, batches, local_endpoint, QueueMissing\n"
        "assert 'singer_sdk' not in sys.modules, 'the SQS layer imported Singer'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
