"""The services' settings, read from the environment variables Meltano uses for the plugins."""

from __future__ import annotations

import os
from dataclasses import dataclass

from localenv import LocalEnvError
from localenv.sqs import DEFAULT_ENDPOINT_URL, DEFAULT_QUEUE_URL, DEFAULT_REGION


@dataclass(frozen=True)
class Settings:
    """Where the queue and the database are, with the reference Docker set-up's defaults."""

    endpoint_url: str = DEFAULT_ENDPOINT_URL
    queue_url: str = DEFAULT_QUEUE_URL
    region: str = DEFAULT_REGION
    host: str = "localhost"
    port: int = 5432
    user: str = "postgres"
    password: str = "postgres"  # noqa: S105 - the reference image's default
    database: str = "postgres"

    @classmethod
    def from_env(cls) -> Settings:
        """Read TAP_SQS_LOGINS_* and TARGET_POSTGRES_* variables, defaulting unset ones.

        Raises:
            LocalEnvError: if TARGET_POSTGRES_PORT is not a port number.
        """

        def env(name: str, default: str) -> str:
            return os.environ.get(name) or default

        port = env("TARGET_POSTGRES_PORT", str(cls.port))
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise LocalEnvError(f"TARGET_POSTGRES_PORT={port!r} is not a port number")
        return cls(
            endpoint_url=env("TAP_SQS_LOGINS_ENDPOINT_URL", cls.endpoint_url),
            queue_url=env("TAP_SQS_LOGINS_QUEUE_URL", cls.queue_url),
            region=env("TAP_SQS_LOGINS_REGION", cls.region),
            host=env("TARGET_POSTGRES_HOST", cls.host),
            port=int(port),
            user=env("TARGET_POSTGRES_USER", cls.user),
            password=env("TARGET_POSTGRES_PASSWORD", cls.password),
            database=env("TARGET_POSTGRES_DATABASE", cls.database),
        )
