"""Generated stream maps: whatever the guard accepts emits nothing derived from raw PII, and
keeps one ``logins`` row per message with its outcome.

The maps read ``ip`` and ``device_id`` through every place the SDK evaluates or uses the
configuration: property expressions (``self``, ``record``, ``_``, f-strings,
comprehensions, string-built keys, attribute chains), ``__filter__``,
``__key_properties__``, ``__alias__``, ``__source__`` and ``__else__``. The PII property is
non-interference: with ``mask()`` and ``seal()`` replaced by constants, two records that
differ only in ``ip`` and ``device_id`` give the same output on every stream, including
which rows exist (a filter's verdict).
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.mapper import RemoveRecordTransform

from tap_sqs_logins.fields import login_schema
from tap_sqs_logins.privacy.canary import canary_record
from tap_sqs_logins.privacy.guard import MaskingMapper, check_pii_is_masked
from tap_sqs_logins.privacy.map_outcomes import LOADER_FIELDS, OUTCOME_FIELDS, maps_reading_logins
from tap_sqs_logins.testing import rsa_key_pair

LOGGER = logging.getLogger("test-pii-guard-properties")
PUBLIC_KEY = rsa_key_pair()[1]
MASKING = {
    "masked_ip": "mask(ip)",
    "masked_device_id": "mask(device_id)",
    "ip": "__NULL__",
    "device_id": "__NULL__",
}
DERIVED = {"__source__": "logins", "__else__": None, "message_id": "message_id"}
PII = ("ip", "device_id")
stream_patterns = st.sampled_from(
    ["logins", "*", "log*", "login?", "l[a-z]gins", "[!x]ogins", "*s", "?ogins", "LOGINS", "other"]
)
# Expressions reading a raw field ({f} is ip or device_id), directly or not.
RAW_READS = [
    "{f}",
    "self",
    "record['{f}']",
    "_['{f}']",
    "_.get('{f}')",
    "record.get('{f}', '')",
    "record['{f}'[:1] + '{f}'[1:]]",
    "str(record)",
    "json.dumps(_, default=str)",
    "f'{{{f}}}'",
    "f'{{record}}'",
    "[c for c in ({f} or '')]",
    "[v for k, v in _.items()]",
    "{{k: v for k, v in record.items()}}",
    "md5({f} or '')",
    "sha256(str({f}))",
    "({f} or '')[::-1]",
    "({f} or 'x').upper()",
    "mask({f}) + ({f} or '')",
    "seal({f} + '')",
    "mask(self)",
    "mask({f}, '{f}')",
    "getattr(record, '{f}')",
    "__builtins__",
    "mask({f}).__class__",
    "str({f}).count('1') % 2 == 0",
    "int(({f} or '0.0.0.0').split('.')[-1]) // 2**3 % 2 == 1",
    "({f} or '').startswith('1')",
    "'{f}' in str(_)",
    "[mask for mask in [str]][0]({f})",
]
SAFE_READS = [
    "mask({f})",
    "seal({f})",
    "(mask({f}) or '')[:10]",
    "mask({f}) != mask(user_id)",
    "user_id",
    "message_id",
    "(user_id or '').upper()",
    "f'{{user_id}}-{{locale}}'",
    "__stream_name__",
    "json.dumps(config)",
    "'constant'",
    "device_type == 'ios'",
    "str(receive_count)",
]
fields = st.sampled_from(PII)
raw_reads = st.builds(str.format, st.sampled_from(RAW_READS), f=fields)
safe_reads = st.builds(str.format, st.sampled_from(SAFE_READS), f=fields)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """One read, or two combined by an operator, a condition or an f-string."""
    reads = st.one_of(raw_reads, safe_reads)
    first, second = draw(reads), draw(reads)
    shape = draw(
        st.sampled_from(
            ["{a}", "str({a}) + str({b})", "{a} if {b} else None", "f'{{{a}}}'", "({a}, {b})"]
        )
    )
    return shape.format(a=first, b=second)


filters = st.one_of(raw_reads, safe_reads, expressions(), st.sampled_from(["True", "locale"]))
property_names = st.sampled_from(
    [
        "ip",
        "device_id",
        "masked_ip",
        "copy",
        "user_id",
        "message_id",
        "rejection_reason",
        "dead_letter_message_id",
        "receipt_handle",
        "__leak__",
        "__alias__",
    ]
)
values = st.one_of(expressions(), st.sampled_from([None, "__NULL__"]))
key_properties = st.one_of(
    st.none(),
    st.lists(
        st.sampled_from(["message_id", "user_id", "ip", "device_id", "masked_ip"]), max_size=2
    ),
)


@st.composite
def map_specs(draw: st.DrawFn) -> dict[str, Any]:
    """One map: properties, and any of the SDK's options."""
    spec: dict[str, Any] = dict(draw(st.dictionaries(property_names, values, max_size=2)))
    if draw(st.booleans()):
        spec = {**draw(st.sampled_from([MASKING, DERIVED])), **spec}
    if draw(st.booleans()):
        spec["__source__"] = draw(stream_patterns)
    if draw(st.booleans()):
        spec["__alias__"] = draw(st.one_of(expressions(), st.just("copy_of_logins")))
    if draw(st.booleans()):
        spec["__else__"] = draw(st.sampled_from([None, "__NULL__"]))
        if draw(st.booleans()):
            spec.setdefault("message_id", "message_id")
    if draw(st.booleans()):
        spec["__filter__"] = draw(filters)
    if draw(st.integers(0, 3)) == 0:
        spec["__key_properties__"] = draw(key_properties)
    return spec


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """A tap configuration whose maps mix the masking map with generated ones."""
    maps: dict[str, Any] = {}
    if draw(st.booleans()):
        maps["logins"] = dict(MASKING)
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.one_of(stream_patterns, st.sampled_from(["copy", "sealed", "x"])))
        maps[name] = (
            draw(map_specs())
            if draw(st.integers(0, 5))
            else draw(st.sampled_from([None, "__NULL__"]))
        )
    if draw(st.integers(0, 4)) == 0:
        maps["__else__"] = draw(st.sampled_from([None, "__NULL__"]))
    return {
        "stream_maps": maps,
        "allow_raw_pii": False,
        "mask_key": "unit-test-key-0123456789",
        "seal_public_key": PUBLIC_KEY,
        "acknowledgement": draw(st.sampled_from(["after_state", "loader", "on_emit"])),
    }


@st.composite
def near_safe_configs(draw: st.DrawFn) -> dict[str, Any]:
    """The masking map and derived streams, each with one generated option or property."""
    maps: dict[str, Any] = {"logins": dict(MASKING)}
    for name in draw(st.lists(st.sampled_from(["d", "e", "*", "log*"]), max_size=2, unique=True)):
        option = draw(st.sampled_from(["__filter__", "__alias__", "copy", "__key_properties__"]))
        value = draw(key_properties if option == "__key_properties__" else filters)
        maps[name] = {**DERIVED, option: value}
    return {
        "stream_maps": maps,
        "allow_raw_pii": False,
        "mask_key": "unit-test-key-0123456789",
        "seal_public_key": PUBLIC_KEY,
        "acknowledgement": draw(st.sampled_from(["after_state", "loader", "on_emit"])),
    }


any_configs = st.one_of(configs(), near_safe_configs())


def accepted(config: dict[str, Any]) -> bool:
    """Whether the tap starts with ``config``."""
    try:
        check_pii_is_masked(copy.deepcopy(config), LOGGER)
    except Exception:  # refused, or refused by the SDK itself
        event("refused")
        return False
    event("accepted")
    return True


def mapper_of(config: dict[str, Any], *, constant_functions: bool = False) -> MaskingMapper:
    """The tap's mapper for ``config``; with ``mask()`` and ``seal()`` constant if asked."""
    mapper = MaskingMapper(plugin_config=copy.deepcopy(config), logger=LOGGER)
    if constant_functions:
        mapper.mask = lambda field, value: "MASKED"
        mapper.seal = lambda value: "SEALED"
    mapper.register_raw_stream_schema("logins", login_schema(config), ["message_id"])
    return mapper


def emitted(mapper: MaskingMapper, record: dict[str, Any]) -> list[Any]:
    """What each stream emits for one record: its name and row, None, or the error."""
    outputs: list[Any] = []
    for stream_map in mapper.stream_maps["logins"]:
        try:
            output: object = stream_map.transform(copy.deepcopy(record))
        except Exception as error:
            output = f"error: {type(error).__name__}"
        outputs.append((stream_map.stream_alias, output))
    return outputs


# Values of ip and device_id that flip many a test of them (parity, a last octet, a prefix).
RAW_VALUES = [None, "", "1", "10.0.0.8", "::1", "AB-12", "x" * 41]
raw_values = st.one_of(st.sampled_from(RAW_VALUES), st.text(max_size=20))


@st.composite
def records(draw: st.DrawFn, config: dict[str, Any]) -> dict[str, Any]:
    """A ``logins`` record: a valid login or a quarantined message, fields often null."""
    record = canary_record(config)
    for field in ("user_id", "locale", "device_type", "app_version"):
        record[field] = draw(st.sampled_from([record[field], None, "", "ios"]))
    if draw(st.booleans()):
        record |= {"ip": None, "device_id": None, "rejection_reason": "not a login"}
    return record | {"dead_letter_message_id": "dl-1", "queue_url": "q", "receipt_handle": "h"}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=any_configs, data=st.data())
def test_an_accepted_config_emits_nothing_derived_from_raw_pii(
    config: dict[str, Any], data: st.DataObject
) -> None:
    if not accepted(config):
        return
    mapper = mapper_of(config, constant_functions=True)
    record = data.draw(records(config))
    drawn = data.draw(st.lists(st.tuples(raw_values, raw_values), max_size=3))
    pairs = [*zip(RAW_VALUES, reversed(RAW_VALUES), strict=True), *drawn]
    expected = json.dumps(emitted(mapper, record), default=str)
    for ip, device_id in pairs:
        output = emitted(mapper, {**record, "ip": ip, "device_id": device_id})
        assert json.dumps(output, default=str) == expected, config


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=any_configs, data=st.data())
def test_an_accepted_config_keeps_a_logins_row_with_its_outcome(
    config: dict[str, Any], data: st.DataObject
) -> None:
    if not accepted(config):
        return
    loader = config["acknowledgement"] == "loader"
    kept = (*OUTCOME_FIELDS, *(LOADER_FIELDS if loader else ()))
    own, *derived = mapper_of(config).stream_maps["logins"]
    assert not isinstance(own, RemoveRecordTransform), config
    for record in data.draw(st.lists(records(config), min_size=1, max_size=4)):
        row = own.transform(dict(record))
        assert row is not None, config
        assert {f: row.get(f) for f in kept} == {f: record[f] for f in kept}, config
        for stream_map in derived if loader else []:
            if not isinstance(stream_map, RemoveRecordTransform):
                output = stream_map.transform(dict(record)) or {}
                assert output.get("message_id") == record["message_id"], config


def test_the_generated_maps_reach_every_option() -> None:
    """The generators above do produce each option the SDK evaluates (not a vacuous test)."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None)
    @given(config=configs())
    def collect(config: dict[str, Any]) -> None:
        for _, spec in maps_reading_logins(config["stream_maps"]):
            if isinstance(spec, dict):
                seen.update(key for key in spec if key.startswith("__"))
        seen.update(key for key in config["stream_maps"] if key.startswith("__"))

    collect()
    assert {"__filter__", "__key_properties__", "__alias__", "__source__", "__else__"} <= seen


PLACES = {
    "a property": lambda read: {"logins": {**MASKING, "copy": read}},
    "a derived property": lambda read: {"logins": MASKING, "d": {**DERIVED, "copy": read}},
    "a derived __filter__": lambda read: {"logins": MASKING, "d": {**DERIVED, "__filter__": read}},
    "__alias__ beside __source__": lambda read: {
        "logins": MASKING,
        "d": {**DERIVED, "__alias__": read},
    },
}


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("field", PII)
@pytest.mark.parametrize("read", RAW_READS)
def test_every_raw_read_is_refused_wherever_the_sdk_evaluates_it(
    read: str, field: str, place: str
) -> None:
    config = {
        "stream_maps": PLACES[place](read.format(f=field)),
        "allow_raw_pii": False,
        "mask_key": "unit-test-key-0123456789",
        "seal_public_key": PUBLIC_KEY,
    }
    with pytest.raises(ConfigValidationError) as error:
        check_pii_is_masked(config, LOGGER)
    assert all(line.startswith("stream_maps") for line in error.value.errors[:1])
