"""Behind tap-sqs-logins in Meltano, the loader reads the tap's settings from the environment."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqs_ack.loader import _nest_object_settings, is_the_tap

from tap_sqs_logins.tap import TapSqsLogins

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
        "TAP_SQS_LOGINS_QUEUE_URL": "http://localhost:4566/000000000000/login-queue",
    }
    _nest_object_settings(environ, TapSqsLogins)
    assert json.loads(environ["TAP_SQS_LOGINS_STREAM_MAPS"]) == MAPS
    assert environ["TAP_SQS_LOGINS_QUEUE_URL"].endswith("login-queue")  # not an object


keys = st.text(st.characters(categories=["Ll", "Nd"], include_characters="_"), min_size=1)
values = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.lists(st.text(), max_size=2))
objects = st.recursive(
    st.dictionaries(keys, values, min_size=1, max_size=4),
    lambda inner: st.dictionaries(keys, inner, min_size=1, max_size=3),
    max_leaves=12,
)


@given(objects)
def test_any_nested_object_round_trips(value: dict[str, Any]) -> None:
    environ = {"TAP_SQS_LOGINS_STREAM_MAP_CONFIG": json.dumps(flatten(value))}
    _nest_object_settings(environ, TapSqsLogins)
    assert json.loads(environ["TAP_SQS_LOGINS_STREAM_MAP_CONFIG"]) == value


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
