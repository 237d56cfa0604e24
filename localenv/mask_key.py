"""A masking key for this checkout: generated once into `.env` when none is configured.

`make run`, `make orchestrate` and `make worker` call it (`python -m localenv key`) so that every
way of starting the job afterwards (cron, bin/worker, meltano by hand, Dagster) masks with the
same key, read by Meltano from `.env`. A key in the environment or in `.env` always wins.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

from dotenv import dotenv_values

from tap_sqs_logins import check_key

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

VARIABLE = "TAP_SQS_LOGINS_MASK_KEY"
KEY_BYTES = 32  # 43 characters of URL-safe base64
GENERATED = (
    "masking: generated a key for this checkout in .env; keep it, the same key keeps"
    " duplicates visible"
)


def configured(project_root: Path, environ: Mapping[str, str]) -> bool:
    """Whether the environment or the project's `.env` (as Meltano reads it) sets the key."""
    dotenv = project_root / ".env"
    return VARIABLE in environ or (
        dotenv.is_file() and dotenv_values(dotenv).get(VARIABLE) is not None
    )


def new_key() -> str:
    """A fresh random key that the tap accepts."""
    while True:
        key = secrets.token_urlsafe(KEY_BYTES)
        try:
            check_key(key)
        except ValueError:
            continue
        return key


def ensure_mask_key(project_root: Path, environ: Mapping[str, str]) -> bool:
    """Append a new key to `<project_root>/.env` (created 0600) unless one is configured.

    Returns:
        Whether a key was generated.
    """
    if configured(project_root, environ):
        return False
    dotenv = project_root / ".env"
    content = dotenv.read_bytes() if dotenv.is_file() else b""
    separator = "\n" if content and not content.endswith(b"\n") else ""
    descriptor = os.open(dotenv, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a") as out:
        out.write(f"{separator}{VARIABLE}={new_key()}\n")
    return True
