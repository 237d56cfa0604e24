"""The Dagster op forwards each line of Meltano's JSON output unchanged, at the line's own level.

`orchestrate.definitions.forward` runs in the orchestrator's own virtualenv (`meltano install`
built it from meltano.yml), so one driver process there logs every generated line through a
real Dagster op context's log manager and reports what Dagster received.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness.project import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.meltano

DAGSTER_PYTHON = REPO / ".meltano" / "utilities" / "dagster" / "venv" / "bin" / "python"
DRIVER = """
import json, logging, sys
from dagster import build_op_context
from orchestrate.definitions import forward

received = []

class Keep(logging.Handler):
    def emit(self, record):
        received.append([record.levelno, record.getMessage()])

context = build_op_context()
context.log.addHandler(Keep())
for request in sys.stdin:
    received.clear()
    forward(context.log, json.loads(request))
    print(json.dumps(received), flush=True)
"""
MELTANO_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


@pytest.fixture(scope="module")
def dagster_log() -> Iterator[subprocess.Popen[str]]:
    """The driver: reads one JSON-encoded line, answers with the [level, message]s Dagster got."""
    driver = subprocess.Popen(
        [str(DAGSTER_PYTHON), "-c", DRIVER],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # Dagster's own console copy of each record
        text=True,
    )
    yield driver
    driver.communicate(timeout=60)


def forwarded(driver: subprocess.Popen[str], line: str) -> list[tuple[int, str]]:
    assert driver.stdin is not None
    assert driver.stdout is not None
    driver.stdin.write(json.dumps(line) + "\n")
    driver.stdin.flush()
    answer = driver.stdout.readline()
    assert answer, "the Dagster driver stopped"
    return [(level, message) for level, message in json.loads(answer)]


def cased(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.upper(), name.capitalize()])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
meltano_lines = st.builds(
    lambda level, fields: (json.dumps({**fields, "level": level}), MELTANO_LEVELS[level.lower()]),
    st.sampled_from(list(MELTANO_LEVELS)).flatmap(cased),
    st.dictionaries(st.text(), json_values, max_size=4),
)
levelless_objects = st.dictionaries(st.text(), json_values, max_size=4).map(
    lambda fields: {key: value for key, value in fields.items() if key != "level"}
)
other_lines = st.one_of(
    # Objects naming no level, or one that is no Meltano level name.
    levelless_objects.map(json.dumps),
    st.builds(
        lambda fields, level: json.dumps({**fields, "level": level}),
        levelless_objects,
        json_values.filter(
            lambda value: not (isinstance(value, str) and value.lower() in MELTANO_LEVELS)
        ),
    ),
    json_values.filter(lambda value: not isinstance(value, dict)).map(json.dumps),
    st.text().filter(lambda text: "\n" not in text and "\r" not in text),
).map(lambda line: (line, logging.INFO))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.one_of(meltano_lines, other_lines))
def test_each_line_goes_on_unchanged_at_its_own_level(
    dagster_log: subprocess.Popen[str], case: tuple[str, int]
) -> None:
    line, level = case
    got = forwarded(dagster_log, line)
    if not line.strip():
        assert got == []
        return
    assert len(got) == 1
    assert got[0][0] == level
    assert got[0][1].endswith(line)  # Dagster prefixes its own context ("system - ")


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ('{"event": "Loader failed", "level": "error"}', logging.ERROR),
        ('{"event": "No state was found, complete import.", "level": "warning"}', logging.WARNING),
        ('{"event": "Run completed", "level": "info"}', logging.INFO),
        ('{"event": "Invoking", "level": "debug"}', logging.DEBUG),
        ("2026-12-02T17:19:41.587291Z [info     ] meltano      Meltano 4.4.1", logging.INFO),
        ('{"event": "no level"}', logging.INFO),
        ('{"event": "unknown level", "level": "notice"}', logging.INFO),
        ('["level", "error"]', logging.INFO),
        ("[" * 100_000 + "]" * 100_000, logging.INFO),
    ],
)
def test_examples(dagster_log: subprocess.Popen[str], line: str, level: int) -> None:
    assert [level for level, _ in forwarded(dagster_log, line)] == [level]
