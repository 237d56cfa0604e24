"""The tap refuses configurations that would let raw ip or device_id out, by the SDK's rules."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_sqs_logins.canary import canary_leaks
from tap_sqs_logins.pii_guard import build_mapper, check_pii_is_masked
from tap_sqs_logins.tap import TapSqsLogins

KEY = "unit-test-key-0123456789"
LOGGER = logging.getLogger("test-pii-guard")
SAFE = {
    "masked_ip": "mask(ip)",
    "masked_device_id": "mask(device_id)",
    "ip": "__NULL__",
    "device_id": None,
}


def settings(maps: Any, **extra: Any) -> dict[str, Any]:
    return {
        "stream_maps": maps,
        "allow_raw_pii": False,
        "mask_key": KEY,
        "mask_key_version": "v1",
        **extra,
    }


@pytest.mark.parametrize(
    "maps",
    [
        {"logins": SAFE},
        {"logins": {"ip": None, "device_id": None}},
        {"logins": {**SAFE, "__filter__": "ip != '' and device_id"}},  # a filter emits nothing
        {"logins": {**SAFE, "__alias__": "ip"}},  # an option here: names the stream "ip"
        {"logins": {**SAFE, "ip_prefix": "mask(ip)[:12]"}},
        {"logins": SAFE, "LOGINS": {}, "other*": {}},  # neither matches 'logins'
        {"__else__": None},  # logins is dropped altogether
        {"logins": None},
        {"logins": SAFE, "*": "__NULL__"},
        {
            "logins": SAFE,
            "by_user": {"__source__": "log*", "__else__": None, "message_id": "message_id"},
        },
    ],
)
def test_masking_maps_pass(maps: Any) -> None:
    check_pii_is_masked(settings(maps), LOGGER)


@pytest.mark.parametrize(
    ("maps", "problem"),
    [
        ({}, "no map for 'logins'"),
        ({"logins": {**SAFE, "ip": "mask(ip)"}}, "logins.ip is not __NULL__"),
        ({"logins": {k: v for k, v in SAFE.items() if k != "device_id"}}, "device_id is not"),
        ({"logins": {**SAFE, "copy": "ip"}}, "logins.copy reads a raw field outside mask()"),
        ({"logins": {**SAFE, "copy": "record['ip']"}}, "logins.copy reads a raw field"),
        ({"logins": {**SAFE, "copy": "_['device_id']"}}, "logins.copy reads a raw field"),
        ({"logins": {**SAFE, "copy": "ip[:3]"}}, "logins.copy reads a raw field"),
        ({"logins": {**SAFE, "copy": "md5(ip)"}}, "logins.copy reads a raw field"),
        ({"logins": {**SAFE, "copy": "mask(ip) + device_id"}}, "logins.copy reads a raw field"),
        ({"logins": {**SAFE, "copy": "mask(value=ip)"}}, "logins.copy reads a raw field"),
        ({"logins": {**SAFE, "copy": "mask(ip); ip"}}, "logins.copy reads a raw field"),
        ({"logins": {**SAFE, "copy": "ip +"}}, "logins.copy reads a raw field"),
        ({"logins": {**SAFE, "__leak__": "ip"}}, "logins.__leak__ reads a raw field"),
        ({"logins": {**SAFE, "__alias__x": "device_id"}}, "logins.__alias__x reads a raw"),
        ({"logins": SAFE, "raw_copy": {"__source__": "logins"}}, "raw_copy.ip is not __NULL__"),
        ({"logins": SAFE, "raw": {"__source__": "login?"}}, "raw.ip is not __NULL__"),
        ({"logins": SAFE, "raw": {"__source__": "*"}}, "raw.ip is not __NULL__"),
        ({"logins": SAFE, "raw": {"__source__": "l[a-z]gins"}}, "raw.device_id is not"),
        ({"logins": SAFE, "*": {}}, "stream_maps.*.ip is not __NULL__"),
        ({"logins": SAFE, "log*": {"masked_ip": "mask(ip)"}}, "stream_maps.log*.ip is not"),
        (
            {
                "logins": SAFE,
                "x": {"__source__": "logins", "__else__": None, "__alias__": "ip"},
            },
            "x.__alias__ reads a raw field",
        ),
        (
            {"logins": SAFE, "x": {"__source__": "logins", "__else__": None, "message_id": "self"}},
            None,  # 'self' of a non-PII property is harmless: this one passes
        ),
    ],
)
def test_leaky_maps_are_refused_naming_the_field(maps: Any, problem: str | None) -> None:
    if problem is None:
        check_pii_is_masked(settings(maps), LOGGER)
        return
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(settings(maps), LOGGER)
    assert any(problem in line for line in error.value.errors), error.value.errors
    assert any("allow_raw_pii" in line for line in error.value.errors)


def test_raw_output_needs_an_explicit_opt_in() -> None:
    check_pii_is_masked(settings({}, allow_raw_pii=True), LOGGER)


@pytest.mark.parametrize(
    ("maps", "setting"),
    [
        ({"logins": SAFE}, "mask_key"),
        ({"logins": {**SAFE, "__filter__": "mask (ip)"}}, "mask_key"),
        ({"logins": SAFE, "s": {"__source__": "logins", "x": "seal(ip)"}}, "seal_public_key"),
    ],
)
def test_a_function_without_its_key_is_refused_naming_the_variable(maps: Any, setting: str) -> None:
    config = settings(maps, mask_key=None)
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(config if setting == "mask_key" else settings(maps), LOGGER)
    assert f"TAP_SQS_LOGINS_{setting.upper()}" in error.value.errors[0]


def test_batch_config_is_refused_by_name() -> None:
    batch = {"encoding": {"format": "jsonl"}, "storage": {"root": "file:///tmp"}}
    with pytest.raises(ConfigValidationError, match="batch_config") as error:
        check_pii_is_masked(settings({"logins": SAFE}, batch_config=batch), LOGGER)
    assert "remove batch_config" in error.value.errors[0]


def test_batch_is_not_an_advertised_capability() -> None:
    assert "batch" not in {str(c) for c in TapSqsLogins.capabilities}
    assert "batch_config" not in TapSqsLogins.config_jsonschema["properties"]


def test_the_guard_leaves_the_config_it_reads_unchanged() -> None:
    config = settings({"__else__": None, "logins": SAFE})
    check_pii_is_masked(config, LOGGER)
    assert "__else__" in config["stream_maps"]


@pytest.mark.parametrize(
    "expression",
    [
        "ip",
        "ip.upper()",
        "ip[::-1]",
        "ip[2:9]",
        "device_id.lower()",
        "md5(ip)",
        "sha256(device_id)",
        "json.dumps(record)",
        "str(_)",
        "'x' + device_id[1:8] + 'y'",
    ],
)
def test_the_canary_finds_any_trace_of_a_sentinel(expression: str) -> None:
    mapper = build_mapper(settings({"logins": {"out": expression}}), LOGGER)
    assert canary_leaks(mapper.stream_maps["logins"])


def test_the_canary_passes_masked_and_sealed_output() -> None:
    from keys import rsa_key_pair

    maps = {
        "logins": {**SAFE, "prefix": "mask(ip)[:20]"},
        "sealed": {
            "__source__": "logins",
            "__else__": None,
            "__key_properties__": [],
            "s": "seal(device_id)",
        },
    }
    mapper = build_mapper(settings(maps, seal_public_key=rsa_key_pair()[1]), LOGGER)
    assert canary_leaks(mapper.stream_maps["logins"]) == []


def test_a_map_that_fails_on_a_login_is_refused() -> None:
    mapper = build_mapper(settings({"logins": {**SAFE, "n": "int(user_id)"}}), LOGGER)
    assert "fail on a sample login (ValueError)" in canary_leaks(mapper.stream_maps["logins"])[0]
