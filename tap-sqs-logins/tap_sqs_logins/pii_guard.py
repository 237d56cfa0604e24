"""Stream maps that can call ``mask()``, and the check that raw PII never leaves the tap."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.mapper import CustomStreamMap, PluginMapper

from tap_sqs_logins.masking import Pseudonymizer

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

STREAM = "logins"
PII_FIELDS = ("ip", "device_id")
# Names through which an expression can read a raw field.
RAW_NAMES = {*PII_FIELDS, "record", "_"}
DROPPED = (None, "__NULL__")


class MaskingMapper(PluginMapper):
    """The SDK's inline mapper, with ``mask(value)`` among the expression functions."""

    def __init__(self, plugin_config: dict[str, Any], logger: Any) -> None:
        super().__init__(plugin_config=plugin_config, logger=logger)
        key = plugin_config.get("mask_key")
        self.mask = Pseudonymizer(key, plugin_config["mask_key_version"]) if key else _no_key

    def register_raw_stream_schema(
        self, stream_name: str, schema: dict[str, Any], key_properties: Sequence[str] | None
    ) -> None:
        """Register a stream as the SDK does, then give its expressions ``mask()``."""
        super().register_raw_stream_schema(stream_name, schema, key_properties)
        for stream_map in self.stream_maps.get(stream_name, []):
            if isinstance(stream_map, CustomStreamMap):
                stream_map.expr_evaluator.functions["mask"] = self.mask


def check_pii_is_masked(config: Mapping[str, Any]) -> None:
    """Refuse a configuration that would emit raw ``ip`` or ``device_id``.

    Raises:
        ConfigValidationError: Naming the setting to fix.
    """
    maps = _maps_reading_logins(config.get("stream_maps") or {})
    if not config["allow_raw_pii"]:
        problems = [problem for name, spec in maps.items() for problem in _leaks(name, spec)]
        if not maps:
            problems.append(f"stream_maps has no map for '{STREAM}'")
        if problems:
            raise ConfigValidationError(
                "Raw personal data would leave the tap",
                errors=[
                    *problems,
                    "map ip and device_id to __NULL__ and emit masked_ip: mask(ip) and "
                    "masked_device_id: mask(device_id) in stream_maps (see README), "
                    "or set allow_raw_pii to true",
                ],
            )
    if any("mask(" in str(value) for spec in maps.values() for value in spec.values()):
        if not config.get("mask_key"):
            raise ConfigValidationError(
                "mask_key is not set",
                errors=[
                    "stream_maps call mask() but mask_key is not set: set the environment "
                    "variable TAP_SQS_LOGINS_MASK_KEY (or mask_key in the config file)"
                ],
            )


def _maps_reading_logins(stream_maps: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    readers = {}
    for name, spec in stream_maps.items():
        if spec in DROPPED:
            continue
        source = spec.get("__source__", name) if isinstance(spec, dict) else name
        if source == STREAM:
            readers[name] = spec if isinstance(spec, dict) else {}
    return readers


def _leaks(name: str, spec: Mapping[str, Any]) -> list[str]:
    problems = []
    for field in PII_FIELDS:
        if field not in spec or spec[field] not in DROPPED:
            problems.append(f"stream_maps.{name}.{field} is not __NULL__")
    for prop, expression in spec.items():
        if isinstance(expression, str) and not prop.startswith("__") and expression not in DROPPED:
            if _reads_raw(expression, self_is_raw=prop in PII_FIELDS):
                problems.append(f"stream_maps.{name}.{prop} reads a raw field outside mask()")
    return problems


def _reads_raw(expression: str, *, self_is_raw: bool) -> bool:
    tree = ast.parse(expression, mode="eval")
    masked = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "mask"
        for arg in node.args
    }
    raw = RAW_NAMES | ({"self"} if self_is_raw else set())
    return any(
        isinstance(node, ast.Name) and node.id in raw and id(node) not in masked
        for node in ast.walk(tree)
    )


def _no_key(value: str | None) -> str | None:
    msg = "mask() needs mask_key: set TAP_SQS_LOGINS_MASK_KEY"
    raise ConfigValidationError(msg)
