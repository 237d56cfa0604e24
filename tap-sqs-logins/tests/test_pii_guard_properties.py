"""Whenever the guard accepts generated stream maps, the mapper emits no trace of raw PII."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from keys import rsa_key_pair
from tap_sqs_logins.canary import canary_record, traces
from tap_sqs_logins.fields import LOGIN_SCHEMA
from tap_sqs_logins.pii_guard import MaskingMapper, check_pii_is_masked

LOGGER = logging.getLogger("test-pii-guard-properties")
PUBLIC_KEY = rsa_key_pair()[1]
MASKING = {
    "masked_ip": "mask(ip)",
    "masked_device_id": "mask(device_id)",
    "ip": "__NULL__",
    "device_id": "__NULL__",
}
stream_patterns = st.sampled_from(
    ["logins", "*", "log*", "login?", "l[a-z]gins", "[!x]ogins", "*s", "?ogins", "LOGINS", "other"]
)
expressions = st.sampled_from(
    [
        "ip",
        "device_id",
        "self",
        "mask(ip)",
        "mask(device_id)",
        "seal(ip)",
        "mask(ip)[:10]",
        "ip[:3]",
        "device_id[::-1]",
        "ip.upper()",
        "record['ip']",
        "_['device_id']",
        "md5(ip)",
        "sha256(device_id)",
        "json.dumps(record)",
        "str(_)",
        "mask(ip) + device_id",
        "mask(value=ip)",
        "ip if user_id else ''",
        "user_id + ip",
        "user_id",
        "message_id",
        "__stream_name__",
        "'constant'",
        "mask(ip); ip",
    ]
)
property_names = st.sampled_from(
    ["ip", "device_id", "masked_ip", "copy", "user_id", "message_id", "__leak__", "__x__"]
)
values = st.one_of(expressions, st.sampled_from([None, "__NULL__"]))


@st.composite
def stream_maps(draw: st.DrawFn) -> dict[str, Any]:
    """A map config mixing the masking map with wildcards, aliases, options and expressions."""
    config: dict[str, Any] = {}
    if draw(st.booleans()):
        config["logins"] = dict(MASKING)
    for _ in range(draw(st.integers(0, 3))):
        spec: dict[str, Any] = dict(draw(st.dictionaries(property_names, values, max_size=4)))
        if draw(st.booleans()):
            spec = {**MASKING, **spec}
        if draw(st.booleans()):
            spec["__source__"] = draw(stream_patterns)
        if draw(st.booleans()):
            spec["__alias__"] = draw(st.one_of(expressions, st.just("copy_of_logins")))
        if draw(st.booleans()):
            spec["__else__"] = draw(st.sampled_from([None, "__NULL__"]))
            spec.setdefault("message_id", "message_id")
        if draw(st.booleans()):
            spec["__filter__"] = draw(st.sampled_from(["True", "ip != ''", "mask(ip) != ''"]))
        name = draw(st.one_of(stream_patterns, st.sampled_from(["copy", "sealed", "x"])))
        config[name] = (
            spec if draw(st.integers(0, 5)) else draw(st.sampled_from([None, "__NULL__"]))
        )
    if draw(st.integers(0, 5)) == 0:
        config["__else__"] = None
    return config


def emitted(config: dict[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
    """What the tap's own mapper emits for one record, on every stream."""
    mapper = MaskingMapper(plugin_config=copy.deepcopy(config), logger=LOGGER)
    mapper.register_raw_stream_schema("logins", LOGIN_SCHEMA, ["message_id"])
    outputs = []
    for stream_map in mapper.stream_maps["logins"]:
        try:
            output = stream_map.transform(dict(record))
        except Exception:  # noqa: S112 - a map that fails on this record emits nothing
            continue
        if output is not None:
            outputs.append(output)
    return outputs


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(maps=stream_maps())
def test_an_accepted_config_never_emits_a_sentinel(maps: dict[str, Any]) -> None:
    config = {
        "stream_maps": maps,
        "allow_raw_pii": False,
        "mask_key": "unit-test-key-0123456789",
        "seal_public_key": PUBLIC_KEY,
    }
    try:
        check_pii_is_masked(copy.deepcopy(config), LOGGER)
    except Exception:  # refused, or refused by the SDK itself
        event("refused")
        return
    event("accepted")
    record = canary_record()  # fresh sentinels, not the guard's own
    needles = traces(record["ip"]) | traces(record["device_id"])
    text = json.dumps(emitted(config, record), default=str).lower()
    assert not any(needle in text for needle in needles), maps
