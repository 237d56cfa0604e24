"""Command line: `python -m localenv up|summary|stop|key`."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from localenv import LocalEnvError
from localenv.mask_key import GENERATED, ensure_mask_key
from localenv.postgres import ensure_postgres, stop_private_postgres
from localenv.process import STATE_DIR, stop_pidfile
from localenv.settings import Settings
from localenv.sqs import SERVER_NAME, ensure_queue
from localenv.summary import summarize


def up(settings: Settings, state_dir: Path = STATE_DIR) -> None:
    """Find or start the queue and the database, one line per service."""
    if ensure_queue(settings.endpoint_url, settings.queue_url, settings.region, state_dir):
        print(
            f"sqs: started moto at {settings.endpoint_url} and seeded {settings.queue_url}"
            f" (log {state_dir / (SERVER_NAME + '.log')})"
        )
    else:
        print(f"sqs: found {settings.queue_url} at {settings.endpoint_url}")
    status = ensure_postgres(
        settings.host, settings.port, settings.user, settings.password, settings.database, state_dir
    )
    where = f"{settings.host}:{settings.port}/{settings.database}"
    table = "created public.user_logins" if status.created_table else "user_logins present"
    if status.started:
        print(
            f"postgres: started a private server at {where} (data {state_dir / 'pgdata'}); {table}"
        )
    else:
        print(f"postgres: found {where}; {table}")


def stop(state_dir: Path = STATE_DIR) -> None:
    """Stop the services `up` started, and nothing else."""
    print("sqs: stopped" if stop_pidfile(SERVER_NAME, state_dir) else "sqs: none started")
    stopped = stop_private_postgres(state_dir / "pgdata")
    print("postgres: stopped" if stopped else "postgres: none started")


def _timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp, taking one without zone as UTC."""
    stamp = datetime.fromisoformat(text)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m localenv", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="find or start SQS and PostgreSQL")
    summary = commands.add_parser("summary", help="print what the last run did")
    summary.add_argument("--since", type=_timestamp, help="ISO timestamp the run started at")
    commands.add_parser("stop", help="stop the services that `up` started")
    key = commands.add_parser("key", help="write a masking key into .env unless one is set")
    key.add_argument("--project-root", type=Path, default=Path(), help="default: here")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(Settings.resolve())
        elif args.command == "key":
            if ensure_mask_key(args.project_root, os.environ):
                print(GENERATED)
        elif args.command == "summary":
            print(summarize(Settings.resolve(), args.since))
        else:
            stop()
    except LocalEnvError as error:
        print(f"localenv: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
