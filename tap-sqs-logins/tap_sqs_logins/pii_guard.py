"""Stream maps that can call ``mask()``, and the check that raw PII never leaves the tap."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.mapper import CustomStreamMap, PluginMapper

from tap_sqs_logins.masking import Pseudonymizer
from tap_sqs_logins.sealing import Sealer

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

STREAM = "logins"
PII_FIELDS = ("ip", "device_id")
# Names through which an expression can read a raw field.
RAW_NAMES = {*PII_FIELDS, "record", "_"}
DROPPED = (None, "__NULL__")
PROTECTING = {"mask", "seal"}  # functions whose output is safe to emit


class MaskingMapper(PluginMapper):
    """The SDK's inline mapper, with ``mask(value)`` and ``seal(value)`` for expressions."""

    def __init__(self, plugin_config: dict[str, Any], logger: Any) -> None:
        super().__init__(plugin_config=plugin_config, logger=logger)
        key = plugin_config.get("mask_key")
        public_key = plugin_config.get("seal_public_key")
        try:
            self.functions = {
                "mask": Pseudonymizer(key, plugin_config["mask_key_version"]) if key else _no_key,
                "seal": Sealer(public_key) if public_key else _no_public_key,
            }
        except ValueError as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from None

    def register_raw_stream_schema(
        self, stream_name: str, schema: dict[str, Any], key_properties: Sequence[str] | None
    ) -> None:
        """Register a stream as the SDK does, then give its expressions our functions."""
        super().register_raw_stream_schema(stream_name, schema, key_properties)
        for stream_map in self.stream_maps.get(stream_name, []):
            if isinstance(stream_map, CustomStreamMap):
                stream_map.expr_evaluator.functions.update(self.functions)


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
    expressions = [str(value) for spec in maps.values() for value in spec.values()]
    for function, setting in (("mask", "mask_key"), ("seal", "seal_public_key")):
        if any(f"{function}(" in text for text in expressions) and not config.get(setting):
            variable = f"TAP_SQS_LOGINS_{setting.upper()}"
            raise ConfigValidationError(
                f"{setting} is not set",
                errors=[
                    f"stream_maps call {function}() but {setting} is not set: set the "
                    f"environment variable {variable} (or {setting} in the config file)"
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
    drops_the_rest = "__else__" in spec and spec["__else__"] in DROPPED
    for field in PII_FIELDS:
        if spec.get(field, None if drops_the_rest else "") not in DROPPED:
            problems.append(f"stream_maps.{name}.{field} is not __NULL__")
    for prop, expression in spec.items():
        if isinstance(expression, str) and not prop.startswith("__") and expression not in DROPPED:
            if _reads_raw(expression, self_is_raw=prop in PII_FIELDS):
                problems.append(
                    f"stream_maps.{name}.{prop} reads a raw field outside mask() or seal()"
                )
    return problems


def _reads_raw(expression: str, *, self_is_raw: bool) -> bool:
    tree = ast.parse(expression, mode="eval")
    masked = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in PROTECTING
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


def _no_public_key(value: str | None) -> str | None:
    msg = "seal() needs seal_public_key: set TAP_SQS_LOGINS_SEAL_PUBLIC_KEY"
    raise ConfigValidationError(msg)
