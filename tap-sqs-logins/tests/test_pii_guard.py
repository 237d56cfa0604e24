"""The tap refuses configurations that would let raw ip or device_id out, by the SDK's rules."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_sqs_logins.privacy.canary import canary_leaks
from tap_sqs_logins.privacy.guard import build_mapper, check_pii_is_masked
from tap_sqs_logins.tap import TapSqsLogins
from tap_sqs_logins.testing import rsa_key_pair

KEY = "unit-test-key-0123456789"
LOGGER = logging.getLogger("test-pii-guard")
PUBLIC_KEY = rsa_key_pair()[1]
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
        "seal_public_key": PUBLIC_KEY,
        **extra,
    }


@pytest.mark.parametrize(
    "maps",
    [
        {"logins": SAFE},
        {"logins": {"ip": None, "device_id": None}},
        {"logins": {**SAFE, "__alias__": "ip"}},  # an option here: names the stream "ip"
        {"logins": {**SAFE, "ip_prefix": "(mask(ip) or '')[:12]"}},
        {"logins": {**SAFE, "user": "(user_id or '').upper() + f'-{locale}' + json.dumps(config)"}},
        {"logins": {**SAFE, "day": "datetime.date.fromisoformat(sent_date).isoformat()"}},
        {"logins": {**SAFE, "user_id": "self.lower() if self else None"}},
        {"logins": SAFE, "LOGINS": {}, "other*": {}},  # neither matches 'logins'
        {"__else__": None, "logins": SAFE},
        {"logins": {**SAFE, "__filter__": None, "__key_properties__": ["message_id"]}},
        {
            "logins": SAFE,
            "by_user": {"__source__": "log*", "__else__": None, "message_id": "message_id"},
        },
        {
            "logins": SAFE,
            "ios": {
                "__source__": "logins",
                "__else__": None,
                "__filter__": "device_type == 'ios' and mask(ip) != mask(device_id)",
                "message_id": "message_id",
            },
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
        ({"logins": {**SAFE, "copy": "ip"}}, "logins.copy reads ip outside mask() or seal()"),
        ({"logins": {**SAFE, "copy": "record['ip']"}}, "logins.copy reads 'record'"),
        ({"logins": {**SAFE, "copy": "_['device_id']"}}, "logins.copy reads '_'"),
        ({"logins": {**SAFE, "copy": "ip[:3]"}}, "logins.copy reads ip outside"),
        ({"logins": {**SAFE, "copy": "md5(ip)"}}, "logins.copy reads ip outside"),
        ({"logins": {**SAFE, "copy": "mask(ip) + device_id"}}, "logins.copy reads device_id"),
        ({"logins": {**SAFE, "copy": "seal(ip + '')"}}, "logins.copy reads ip outside"),
        ({"logins": {**SAFE, "copy": "mask(ip); ip"}}, "logins.copy is not one expression"),
        ({"logins": {**SAFE, "copy": "ip +"}}, "logins.copy is not one expression"),
        ({"logins": {**SAFE, "copy": "f'{ip}'"}}, "logins.copy reads ip outside"),
        ({"logins": {**SAFE, "copy": "[c for c in user_id]"}}, "logins.copy binds names"),
        ({"logins": {**SAFE, "copy": "[1 for _ in '']"}}, "logins.copy binds names"),
        ({"logins": {**SAFE, "copy": "getattr(_, 'ip')"}}, "logins.copy reads 'getattr'"),
        ({"logins": {**SAFE, "copy": "__builtins__"}}, "logins.copy reads '__builtins__'"),
        ({"logins": {**SAFE, "copy": "str(mask)"}}, "logins.copy reads 'mask'"),
        ({"logins": {**SAFE, "copy": "seal(record)"}}, "logins.copy reads 'record'"),
        ({"logins": {**SAFE, "copy": "user_id.__class__"}}, "reads the attribute '__class__'"),
        ({"logins": {**SAFE, "copy": "config.get('ip') or _"}}, "logins.copy reads '_'"),
        ({"logins": {**SAFE, "__leak__": "ip"}}, "logins.__leak__ reads ip outside"),
        ({"logins": {**SAFE, "__alias__x": "device_id"}}, "logins.__alias__x reads device_id"),
        (
            {
                "logins": SAFE,
                "bit": {
                    "__source__": "logins",
                    "__else__": None,
                    "message_id": "message_id",
                    "__filter__": "int((ip or '0.0.0.0').split('.')[-1]) // 2**3 % 2 == 1",
                },
            },
            "stream_maps.bit.__filter__ reads ip outside mask() or seal()",
        ),
        (
            {"logins": SAFE, "k": {"__source__": "logins", "__key_properties__": ["device_id"]}},
            "stream_maps.k.__key_properties__ names device_id",
        ),
        (
            {"logins": SAFE, "k": {"__source__": "logins", "__key_properties__": "ip"}},
            "stream_maps.k.__key_properties__ is not a list of field names",
        ),
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
            "x.__alias__ reads ip outside",
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
        ({"logins": SAFE, "x": {"__source__": "logins", "__filter__": "mask (ip)"}}, "mask_key"),
        ({"logins": SAFE, "s": {"__source__": "logins", "x": "seal(ip)"}}, "seal_public_key"),
    ],
)
def test_a_function_without_its_key_is_refused_naming_the_variable(maps: Any, setting: str) -> None:
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(settings(maps, **{setting: None}), LOGGER)
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
    maps = {
        "logins": {**SAFE, "prefix": "(mask(ip) or '')[:20]"},
        "sealed": {
            "__source__": "logins",
            "__else__": None,
            "__key_properties__": [],
            "s": "seal(device_id)",
        },
    }
    mapper = build_mapper(settings(maps), LOGGER)
    assert canary_leaks(mapper.stream_maps["logins"]) == []


def test_a_map_that_fails_on_a_login_is_refused() -> None:
    mapper = build_mapper(settings({"logins": {**SAFE, "n": "int(user_id)"}}), LOGGER)
    problem = canary_leaks(mapper.stream_maps["logins"])[0]
    assert "quarantined message (stream_maps.logins.n raised ValueError)" in problem


def test_a_map_that_fails_on_a_quarantined_message_is_refused() -> None:
    """A quarantined message has no login fields: mask(ip) is null there, and so on."""
    derived = {"__source__": "logins", "__else__": None, "message_id": "message_id"}
    maps = {"logins": SAFE, "d": {**derived, "short": "mask(ip)[:10]"}}
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(settings(maps), LOGGER)
    assert (
        "stream_maps for 'd' fail on a sample login or quarantined message "
        "(stream_maps.d.short raised TypeError)" in (error.value.errors[0])
    )
    maps["d"]["short"] = "(mask(ip) or '')[:10]"
    check_pii_is_masked(settings(maps), LOGGER)


@pytest.mark.parametrize(
    "expression",
    ["mask(ip, 'device_id')", "mask(value=ip)", "mask(ip + '')", "mask(self)", "seal(ip, ip)"],
)
def test_mask_takes_one_field_and_seal_one_value(expression: str) -> None:
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(settings({"logins": {**SAFE, "copy": expression}}), LOGGER)
    assert error.value.errors[0].startswith("stream_maps.logins.copy calls ")


@pytest.mark.parametrize(
    ("maps", "problem"),
    [
        ({"logins": None}, "stream_maps.logins drops the 'logins' stream"),
        ({"__else__": "__NULL__"}, "stream_maps.__else__ drops the 'logins' stream"),
        ({"logins": SAFE, "*": "__NULL__"}, "stream_maps.* drops the 'logins' stream"),
        ({"logins": {**SAFE, "__filter__": "user_id"}}, "stream_maps.logins.__filter__ drops"),
        ({"logins": {**SAFE, "message_id": "user_id"}}, "logins.message_id must be kept as it is"),
        ({"logins": {**SAFE, "rejection_reason": None}}, "logins.rejection_reason must be kept"),
        (
            {"logins": {**SAFE, "__else__": None, "masked_ip": "mask(ip)"}},
            "logins.rejection_reason must be kept",
        ),
        (
            {"logins": {**SAFE, "__key_properties__": [], "message_id": None}},
            "logins.__key_properties__ must stay [message_id]",
        ),
    ],
)
def test_maps_that_would_lose_a_message_are_refused_in_any_mode(maps: Any, problem: str) -> None:
    for extra in ({}, {"allow_raw_pii": True}, {"acknowledgement": "loader"}):
        with pytest.raises(ConfigValidationError) as error:
            check_pii_is_masked(settings(maps, **extra), LOGGER)
        assert any(problem in line for line in error.value.errors), error.value.errors


DERIVED = {"__source__": "logins", "__else__": None, "message_id": "message_id", "n": "1"}


@pytest.mark.parametrize(
    ("derived", "problem"),
    [
        ({**DERIVED, "__filter__": "locale"}, "stream_maps.d.__filter__ drops rows"),
        ({**DERIVED, "message_id": "user_id"}, "stream_maps.d.message_id must be kept"),
    ],
)
def test_a_derived_stream_must_hold_every_message_when_the_loader_deletes(
    derived: dict[str, Any], problem: str
) -> None:
    maps = {"logins": SAFE, "d": derived}
    check_pii_is_masked(settings(maps), LOGGER)  # after_state: logins holds every message
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(settings(maps, acknowledgement="loader"), LOGGER)
    assert any(problem in line for line in error.value.errors), error.value.errors
    assert "sqs-ack deletes a message only once" in error.value.errors[0]


def test_the_loader_fields_must_pass_through_when_the_loader_deletes() -> None:
    maps = {"logins": {**SAFE, "receipt_handle": None}}
    check_pii_is_masked(settings(maps), LOGGER)  # after_state: no receipt_handle at all
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(settings(maps, acknowledgement="loader"), LOGGER)
    assert error.value.errors == [
        "stream_maps.logins.receipt_handle must be kept as it is (receipt_handle: receipt_handle)"
    ]


def test_an_sdk_refusal_names_stream_maps() -> None:
    with pytest.raises(ConfigValidationError) as error:
        build_mapper(settings({"logins": {**SAFE, "__else__": "keep"}}), LOGGER)
    assert error.value.errors[0].startswith("stream_maps: ")


def test_the_allow_list_knows_exactly_the_sdk_s_functions() -> None:
    from tap_sqs_logins.privacy.map_expressions import SDK_FUNCTIONS

    stream_map = build_mapper(settings({"logins": SAFE}), LOGGER).stream_maps["logins"][0]
    assert set(stream_map.expr_evaluator.functions) - {"seal"} == SDK_FUNCTIONS  # type: ignore[attr-defined]
