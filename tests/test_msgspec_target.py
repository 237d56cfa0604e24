"""target-postgres-msgspec reads the tap's UTF-8 whatever the loader's locale."""

from __future__ import annotations

import os
import subprocess

from tests.harness.project import REPO

LOADER_PYTHON = REPO / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / "python"
READ = """
import sys
from target_postgres.target import TargetPostgres
from sqs_ack.msgspec_target import TargetPostgresMsgspec

def listen(self, file_input):
    reader = self.message_reader_class()
    for line in file_input:
        print(ascii(reader.deserialize_json(line)["record"]["user_id"]))

TargetPostgres.listen = listen
TargetPostgresMsgspec.__new__(TargetPostgresMsgspec).listen()
"""


def test_non_ascii_is_read_as_utf8_in_a_latin1_locale() -> None:
    line = '{"type":"RECORD","stream":"logins","record":{"user_id":"jürgen-用户-😀"}}\n'
    result = subprocess.run(
        [str(LOADER_PYTHON), "-c", READ],
        input=line.encode(),  # as the tap's msgspec writer writes it: UTF-8, not escaped
        env={**os.environ, "PYTHONIOENCODING": "latin-1"},
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.decode().strip() == ascii("jürgen-用户-😀")
