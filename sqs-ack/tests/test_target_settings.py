"""The loader reads target-postgres's own config, and names the setting to fix."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict
from sqs_ack.target_settings import SettingError, TargetSettings, connection

if TYPE_CHECKING:
    from pathlib import Path

BASE = {
    "host": "db.internal",
    "port": 5433,
    "user": "etl",
    "password": "p@ss word'",
    "database": "analytics",
    "default_target_schema": "staging",
}


def test_later_config_files_win(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(BASE))
    second.write_text(json.dumps({"database": "other", "ack_delete_concurrency": 3}))

    settings = TargetSettings.read([first, second])

    assert conninfo_to_dict(settings.conninfo) == {
        "host": "db.internal",
        "port": "5433",
        "user": "etl",
        "password": "p@ss word'",
        "dbname": "other",
    }
    assert (settings.schema, settings.delete_concurrency, settings.retention_days) == (
        "staging",
        3,
        3,
    )


@given(password=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0")))
def test_any_password_survives_the_connection_string(password: str) -> None:
    settings = TargetSettings.from_config({**BASE, "password": password})
    assert conninfo_to_dict(settings.conninfo).get("password", "") == password


def test_sqlalchemy_url_is_used_as_libpq_url() -> None:
    url = "postgresql+psycopg2://etl:secret@db:5432/analytics"
    settings = TargetSettings.from_config({**BASE, "sqlalchemy_url": url})
    assert conninfo_to_dict(settings.conninfo) == {
        "host": "db",
        "port": "5432",
        "user": "etl",
        "password": "secret",
        "dbname": "analytics",
    }
    assert connection({"sqlalchemy_url": url})["dbname"] == "analytics"  # no database needed


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"database": None}, "database (TARGET_POSTGRES_DATABASE)"),
        ({"default_target_schema": ""}, "default_target_schema"),
        ({"ack_delete_concurrency": 0}, "ack_delete_concurrency (TARGET_POSTGRES_ACK_DELETE"),
        ({"ack_delete_concurrency": True}, "ack_delete_concurrency"),
        ({"ack_staging_retention_days": -1}, "ack_staging_retention_days"),
        ({"ack_staging_retention_days": "3"}, "ack_staging_retention_days"),
    ],
)
def test_a_bad_setting_is_named(change: dict[str, object], named: str) -> None:
    with pytest.raises(SettingError, match=named.replace("(", r"\(").replace(")", r"\)")):
        TargetSettings.from_config({**BASE, **change})


def test_no_retention_is_allowed() -> None:
    settings = TargetSettings.from_config({**BASE, "ack_staging_retention_days": 0})
    assert settings.retention_days == 0


@given(schema=st.text(min_size=1, max_size=70))
def test_a_schema_name_is_used_unchanged_or_refused_by_name(schema: str) -> None:
    """target-postgres, the acknowledgement and dbt quote the schema as given: a name they
    would split (".") or break on ('"') is refused before anything is received."""
    try:
        settings = TargetSettings.from_config({**BASE, "default_target_schema": schema})
    except SettingError as error:
        assert "default_target_schema (TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA)" in str(error)
        plain = schema.isascii() and schema.replace("_", "a").isalnum()
        assert not plain or schema[0].isdigit() or len(schema) > 63
    else:
        assert settings.schema == schema
        assert '"' not in schema and "." not in schema and len(schema.encode()) <= 63


@pytest.mark.parametrize("schema", ['sqs"staging', "sqs.staging", "sqs-staging", "x" * 64, "1x"])
def test_unusable_schema_names_are_refused(schema: str) -> None:
    with pytest.raises(SettingError, match="default_target_schema"):
        TargetSettings.from_config({**BASE, "default_target_schema": schema})
