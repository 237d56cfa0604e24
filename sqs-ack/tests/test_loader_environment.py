"""Behind tap-sqs-logins in Meltano, the loader reads the tap's settings from the environment."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError
from sqs_ack.loader import is_the_tap

from tap_sqs_logins import load_settings

if TYPE_CHECKING:
    from pathlib import Path

QUEUE = "http://localhost:4566/000000000000/login-queue"
MAPS = {
    "logins": {"masked_ip": "mask(ip)", "ip": "__NULL__", "device_id": "__NULL__"},
    "sealed_logins": {"__source__": "logins", "__key_properties__": ["message_id"]},
}


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Meltano's way of writing an object setting into its variable: dotted keys."""
    flat = {}
    for key, inner in value.items():
        if isinstance(inner, dict) and inner:
            flat.update(flatten(inner, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = inner
    return flat


def test_meltano_s_dotted_stream_maps_are_nested_again() -> None:
    environ = {
        "TAP_SQS_LOGINS_STREAM_MAPS": json.dumps(flatten(MAPS)),
        "TAP_SQS_LOGINS_QUEUE_URL": QUEUE,
    }
    config = load_settings(environ=environ)
    assert config["stream_maps"] == MAPS
    assert config["queue_url"] == QUEUE  # not an object
    assert environ["TAP_SQS_LOGINS_STREAM_MAPS"] == json.dumps(flatten(MAPS))  # left alone


def test_settings_resolve_as_a_run_does(tmp_path: Path) -> None:
    """Files (later ones winning), then variables read by type, then the tap's defaults."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"queue_url": "http://old/0/q", "region": "eu-west-1"}))
    second.write_text(json.dumps({"queue_url": QUEUE, "wait_time_seconds": 3}))
    environ = {
        "TAP_SQS_LOGINS_WAIT_TIME_SECONDS": "7",
        "TAP_SQS_LOGINS_UNWRAP_SNS": "false",
        "TAP_SQS_LOGINS_ACKNOWLEDGEMENT": "loader",
        "TAP_POSTGRES_WAIT_TIME_SECONDS": "9",  # another plugin's
    }
    config = load_settings([first, second], environ)
    assert config["queue_url"] == QUEUE
    assert config["region"] == "eu-west-1"
    assert config["wait_time_seconds"] == 7
    assert config["unwrap_sns"] is False
    assert config["acknowledgement"] == "loader"
    assert config["visibility_timeout"] == 1800  # the tap's default
    assert config["journal_dir"] == ".tap-sqs-logins/journal"


def test_refused_settings_are_named_and_secrets_never_echoed() -> None:
    environ = {
        "TAP_SQS_LOGINS_QUEUE_URL": QUEUE,
        "TAP_SQS_LOGINS_ACKNOWLEDGEMENT": "sometimes",
        "TAP_SQS_LOGINS_MASK_KEY": "short-secret",
    }
    with pytest.raises(ConfigValidationError) as raised:
        load_settings(environ=environ)
    text = "; ".join(raised.value.errors)
    assert "mask_key" in text and "acknowledgement" in text
    assert "short-secret" not in text


keys = st.text(st.characters(categories=["Ll", "Nd"], include_characters="_"), min_size=1)
values = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.lists(st.text(), max_size=2))
objects = st.recursive(
    st.dictionaries(keys, values, min_size=1, max_size=4),
    lambda inner: st.dictionaries(keys, inner, min_size=1, max_size=3),
    max_leaves=12,
)


@given(objects)
def test_any_nested_object_round_trips(value: dict[str, Any]) -> None:
    environ = {
        "TAP_SQS_LOGINS_STREAM_MAP_CONFIG": json.dumps(flatten(value)),
        "TAP_SQS_LOGINS_QUEUE_URL": QUEUE,
    }
    assert load_settings(environ=environ)["stream_map_config"] == value


@pytest.mark.parametrize(
    ("namespace", "behind"),
    [
        ("tap_sqs_logins", True),
        ("tap_sqs_logins__postgres", True),  # what Meltano 4.4.1 sets for the job's variant
        ("tap_sqs_logins__eu_west", True),
        ("tap_sqs_loginsx", False),
        ("tap_postgres", False),
        ("", False),
    ],
)
def test_the_tap_and_its_variants_are_recognised_by_namespace(namespace: str, behind: bool) -> None:
    assert is_the_tap(namespace) is behind
