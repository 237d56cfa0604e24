"""The loader's settings: target-postgres's own, as Meltano resolves them, plus the ack's.

Meltano hands the loader one config file with everything set in ``meltano.yml``,
``meltano config set``, ``.env`` or the environment; every step of the loader reads it
from there, so the staging, the acknowledgement and the check use the same database.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

CONNECTION = {"host": "host", "port": "port", "user": "user", "password": "password"}
# The acknowledgement's own settings: default, least value.
ACK_SETTINGS = {"ack_delete_concurrency": (8, 1), "ack_staging_retention_days": (3, 0)}
# A name target-postgres, the acknowledgement and dbt all use unchanged: target-postgres splits
# table names on "." (and stream names on "-"), and a '"' breaks every quoted name.
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
PLAIN_NAME_RULE = "a letter or _, then letters, digits or _, at most 63 characters"


class SettingError(ValueError):
    """A loader setting is missing or invalid; the message names it."""


def env_name(setting: str) -> str:
    """The environment variable Meltano reads ``setting`` of target-postgres from."""
    return f"TARGET_POSTGRES_{setting.upper()}"


def connection(config: Mapping[str, Any]) -> dict[str, str]:
    """The libpq keywords (host, port, user, password, dbname) target-postgres connects with.

    Its ``sqlalchemy_url`` when set, else ``host``, ``port``, ``user``, ``password`` and
    ``database``; the one mapping of its settings to a connection (sqs-ack, localenv, bench).

    Raises:
        SettingError: If neither names a database.
    """
    if config.get("sqlalchemy_url"):
        url = re.sub(r"^postgresql\+\w+://", "postgresql://", config["sqlalchemy_url"])
        return {key: str(value) for key, value in conninfo_to_dict(url).items()}
    if not config.get("database"):
        raise SettingError(f"set target-postgres database ({env_name('database')})")
    keywords = {key: config.get(name) for name, key in CONNECTION.items()}
    keywords["dbname"] = config["database"]
    return {key: str(value) for key, value in keywords.items() if value not in (None, "")}


@dataclass(frozen=True)
class TargetSettings:
    """Where target-postgres writes, and how the acknowledgement works."""

    conninfo: str
    schema: str
    delete_concurrency: int
    retention_days: int

    @classmethod
    def read(cls, paths: Sequence[Path]) -> TargetSettings:
        """Merge target-postgres's ``--config`` files, later ones winning.

        Raises:
            SettingError: Naming the setting to fix.
        """
        config: dict[str, Any] = {}
        for path in paths:
            config.update(json.loads(path.read_text()))
        return cls.from_config(config)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TargetSettings:
        """Read the settings from one config mapping.

        Raises:
            SettingError: Naming the setting to fix.
        """
        conninfo = make_conninfo(**connection(config))
        values = {}
        for name, (default, least) in ACK_SETTINGS.items():
            value = config.get(name, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                msg = f"target-postgres {name} ({env_name(name)}) must be {least} or more"
                raise SettingError(msg)
            values[name] = value
        schema = config.get("default_target_schema")
        if not schema:
            name = "default_target_schema"
            raise SettingError(f"set target-postgres {name} ({env_name(name)})")
        if not isinstance(schema, str) or not PLAIN_NAME.fullmatch(schema):
            name = "default_target_schema"
            msg = (
                f"target-postgres {name} is {schema!r}, a name target-postgres and dbt would "
                f"not use unchanged: check {name} ({env_name(name)}), use {PLAIN_NAME_RULE}"
            )
            raise SettingError(msg)
        return cls(
            conninfo=conninfo,
            schema=schema,
            delete_concurrency=values["ack_delete_concurrency"],
            retention_days=values["ack_staging_retention_days"],
        )
