"""The services' settings: the tap's and target-postgres's, exactly as Meltano resolves them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqs_ack.target_settings import SettingError, connection

from localenv import LocalEnvError
from localenv.process import REPO
from tap_sqs_logins import SETTINGS, local_endpoint

MELTANO = str(Path(sys.executable).with_name("meltano"))  # the project's own
TAP_DEFAULTS = {
    name: spec["default"]
    for name, spec in SETTINGS.to_dict()["properties"].items()
    if "default" in spec
}


@dataclass(frozen=True)
class Settings:
    """Where the queue and the database are, as the job sees them."""

    endpoint_url: str
    queue_url: str
    region: str
    host: str
    port: int
    user: str
    password: str
    database: str
    schema: str

    @classmethod
    def resolve(cls, environment: str | None = None) -> Settings:
        """Ask Meltano (``meltano config print``) for the resolved settings of both plugins.

        The tap's own defaults fill what Meltano does not set, as they do in the tap.

        Raises:
            LocalEnvError: if Meltano cannot print a plugin's configuration.
        """
        tap, target = (
            _start_print(plugin, environment) for plugin in ("tap-sqs-logins", "target-postgres")
        )
        tap_config = {**TAP_DEFAULTS, **_answer(tap, "tap-sqs-logins")}
        config = _answer(target, "target-postgres")
        try:
            link = connection(config)
        except SettingError as error:
            raise LocalEnvError(str(error)) from None
        endpoint = tap_config.get("endpoint_url") or local_endpoint(tap_config["queue_url"])
        if endpoint is None:
            raise LocalEnvError(f"{tap_config['queue_url']} is on AWS, not a local queue")
        return cls(
            endpoint_url=endpoint,
            queue_url=tap_config["queue_url"],
            region=tap_config["region"],
            host=link["host"],
            port=int(link["port"]),
            user=link["user"],
            password=link.get("password", ""),
            database=link["dbname"],
            schema=config["default_target_schema"],
        )


def _start_print(plugin: str, environment: str | None) -> subprocess.Popen[str]:
    """Start ``meltano config print`` in the environment ``meltano run`` would use."""
    environment = (
        environment
        or os.environ.get("MELTANO_ENVIRONMENT")
        or yaml.safe_load((REPO / "meltano.yml").read_text()).get("default_environment")
    )
    options = ["--environment", environment] if environment else []
    return subprocess.Popen(  # noqa: S603
        [MELTANO, *options, "config", "--unsafe", "print", plugin],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _answer(process: subprocess.Popen[str], plugin: str) -> dict[str, Any]:
    output, errors = process.communicate()
    if process.returncode:
        raise LocalEnvError(f"meltano config print {plugin} failed:\n{errors}")
    config: dict[str, Any] = json.loads(output)
    return config
