"""The tap refuses configurations that would let raw ip or device_id out."""

from __future__ import annotations

from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_sqs_logins.pii_guard import check_pii_is_masked

KEY = "unit-test-key-0123456789"
SAFE = {
    "masked_ip": "mask(ip)",
    "masked_device_id": "mask(device_id)",
    "ip": "__NULL__",
    "device_id": None,
}


def settings(maps: Any, **extra: Any) -> dict[str, Any]:
    return {"stream_maps": maps, "allow_raw_pii": False, "mask_key": KEY, **extra}


def test_the_documented_masking_maps_pass() -> None:
    check_pii_is_masked(settings({"logins": SAFE}))


def test_a_stream_without_the_raw_fields_passes() -> None:
    check_pii_is_masked(settings({"logins": {"ip": None, "device_id": None}}))


@pytest.mark.parametrize(
    ("maps", "problem"),
    [
        ({}, "no map for 'logins'"),
        ({"logins": {**SAFE, "ip": "mask(ip)"}}, "logins.ip is not __NULL__"),
        ({"logins": {k: v for k, v in SAFE.items() if k != "device_id"}}, "device_id is not"),
        ({"logins": {**SAFE, "copy": "ip"}}, "logins.copy reads a raw field outside mask()"),
        (
            {"logins": {**SAFE, "copy": "record['ip']"}},
            "logins.copy reads a raw field outside mask()",
        ),
        (
            {"logins": {**SAFE, "copy": "mask(ip) + device_id"}},
            "logins.copy reads a raw field outside mask()",
        ),
        ({"logins": SAFE, "raw_copy": {"__source__": "logins"}}, "raw_copy.ip is not __NULL__"),
    ],
)
def test_leaky_maps_are_refused_naming_the_field(maps: Any, problem: str) -> None:
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(settings(maps))
    assert any(problem in line for line in error.value.errors)
    assert any("allow_raw_pii" in line for line in error.value.errors)


def test_raw_output_needs_an_explicit_opt_in() -> None:
    check_pii_is_masked(settings({}, allow_raw_pii=True))


def test_mask_without_a_key_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(settings({"logins": SAFE}, mask_key=None))
    assert "TAP_SQS_LOGINS_MASK_KEY" in error.value.errors[0]
