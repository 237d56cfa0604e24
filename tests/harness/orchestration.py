"""Fixtures and helpers of the orchestrator, cron and worker tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from localenv.postgres import conninfo, create_database, drop_database
from tests.harness.project import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.harness.services import Database


def project_copy(root: Path) -> Path:
    """A project at `root` whose meltano.yml is a copy, everything else linked to the checkout.

    The installed plugins are shared through symlinks, as bin/worker shares them.
    """
    root.mkdir()
    shutil.copy(REPO / "meltano.yml", root / "meltano.yml")
    for name in ("tap-sqs-logins", "transform", "orchestrate", ".venv"):
        (root / name).symlink_to(REPO / name)
    for kind in ("extractors", "loaders", "utilities"):
        (root / ".meltano").mkdir(exist_ok=True)
        (root / ".meltano" / kind).symlink_to(REPO / ".meltano" / kind)
    return root


WORKER = REPO / "bin" / "worker"
WORKERS = 4


@pytest.fixture
def worker_ids() -> Iterator[list[str]]:
    """Fresh worker ids; their system directories are removed afterwards."""
    run = uuid.uuid4().hex[:6]
    ids = [f"test-{run}-{n}" for n in range(1, WORKERS + 1)]
    yield ids
    for worker_id in ids:
        shutil.rmtree(REPO / ".meltano" / "workers" / worker_id, ignore_errors=True)


def start_worker(env: dict[str, str], worker_id: str, log: Path) -> subprocess.Popen[bytes]:
    """Start `bin/worker <worker_id>`, its output going to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(WORKER), worker_id], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def database_uri(database: Database, name: str) -> str:
    """A SQLAlchemy URL (psycopg 3 driver) for database `name` on the server of `database`."""
    return (
        f"postgresql+psycopg://{database.user}:{database.password}"
        f"@{database.host}:{database.port}/{name}"
    )


@pytest.fixture
def system_database(database: Database) -> Iterator[str]:
    """MELTANO_DATABASE_URI of a throwaway Meltano system database on the test's server."""
    name = f"tsl_meltano_{uuid.uuid4().hex[:12]}"
    admin = conninfo(database.host, database.port, database.user, database.password, "postgres")
    create_database(admin, name)
    yield database_uri(database, name)
    drop_database(admin, name)


@dataclass
class AlertReceiver:
    """A webhook on loopback that keeps the `text` of every JSON POST it gets."""

    url: str
    texts: list[str] = field(default_factory=list)

    def wait_for(self, *words: str, timeout: float = 300) -> str:
        """The first alert containing every one of `words`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in list(self.texts):
                if all(word in text for word in words):
                    return text
            time.sleep(1)
        raise AssertionError(f"no alert with {words} in {timeout} s; got {self.texts}")


@pytest.fixture
def alert_receiver() -> Iterator[AlertReceiver]:
    """A real HTTP server on 127.0.0.1 playing a Slack-compatible incoming webhook."""
    texts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            texts.append(json.loads(body)["text"])
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield AlertReceiver(f"http://127.0.0.1:{server.server_port}/hooks/alerts", texts)
    server.shutdown()
    server.server_close()
