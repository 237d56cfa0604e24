"""target-postgres-msgspec reads the tap's UTF-8 whatever the loader's locale, and keeps no
compiled statements from batch to batch."""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING

import psycopg

from tests.harness.project import REPO

if TYPE_CHECKING:
    from tests.harness.services import Database

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


CACHES = """
import io, json, sys
from sqs_ack.msgspec_target import TargetPostgresMsgspec
from target_postgres.target import TargetPostgres

config, lines = json.loads(sys.argv[1]), sys.stdin.read()
for target_class in (TargetPostgres, TargetPostgresMsgspec):
    target = target_class(config=config)
    target.listen(io.StringIO(lines))
    print(len(target.target_connector._engine._compiled_cache))
"""


def test_no_compiled_statement_is_kept_from_batch_to_batch(database: Database) -> None:
    """Each batch's temporary table has its own name: caching its statements only grows memory."""
    schema = {"properties": {"message_id": {"type": "string"}, "n": {"type": "integer"}}}
    lines = [
        {"type": "SCHEMA", "stream": "logins", "schema": schema, "key_properties": ["message_id"]}
    ]
    lines += [
        {"type": "RECORD", "stream": "logins", "record": {"message_id": f"m{n}", "n": n}}
        for n in range(50)
    ]
    config = {
        "host": database.host,
        "port": database.port,
        "user": database.user,
        "password": database.password,
        "database": database.name,
        "default_target_schema": "cache_test",
        "batch_size_rows": 10,  # five batches
    }
    result = subprocess.run(
        [str(LOADER_PYTHON), "-c", CACHES, json.dumps(config)],
        input="".join(json.dumps(line) + "\n" for line in lines).encode(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    plain, ours = (int(size) for size in result.stdout.split())
    assert plain > 0  # target-postgres as released keeps them
    assert ours == 0
    with psycopg.connect(database.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM cache_test.logins").fetchone() == (50,)
