"""Stream maps that can call ``mask()`` and ``seal()``, and the guard that keeps raw PII in.

The guard follows the SDK's own rules (``singer_sdk.mapper``): a map reads ``logins`` when
its source (its key, or its ``__source__``) equals ``logins`` or matches it as an
``fnmatch`` pattern; only the SDK's option names are special, every other key of a map is
an output property. On top of reading the configuration, it runs the configured mapper
over a canary login and refuses if any trace of the canary's ``ip`` or ``device_id``
comes out of any stream.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.mapper import CustomStreamMap, PluginMapper

from tap_sqs_logins.canary import canary_leaks
from tap_sqs_logins.fields import login_schema
from tap_sqs_logins.masking import Pseudonymizer
from tap_sqs_logins.sealing import Sealer
from tap_sqs_logins.streams import LoginsStream

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Mapping, Sequence

STREAM = LoginsStream.name
PII_FIELDS = ("ip", "device_id")
# Names through which an expression can read a raw field (singer_sdk.mapper, ``_eval``).
RAW_NAMES = {*PII_FIELDS, "record", "_"}
DROPPED = (None, "__NULL__")
PROTECTING = {"mask": "mask_key", "seal": "seal_public_key"}  # safe output, needed setting
# Options the SDK pops from every map; ``__source__`` too, and ``__alias__`` only when
# there is no ``__source__``. Any other key (``__leak__``) is an output property.
OPTIONS = {"__filter__", "__key_properties__", "__else__", "__source__"}
FIX = (
    "map ip and device_id to __NULL__ and emit masked_ip: mask(ip) and "
    "masked_device_id: mask(device_id) in stream_maps (see README), or set allow_raw_pii to true"
)


class MaskingMapper(PluginMapper):
    """The SDK's inline mapper, with ``mask(value)`` and ``seal(value)`` for expressions."""

    def __init__(self, plugin_config: dict[str, Any], logger: logging.Logger) -> None:
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


def build_mapper(config: Mapping[str, Any], logger: logging.Logger) -> MaskingMapper:
    """Return the mapper of ``config`` with ``logins`` registered, leaving ``config`` as is.

    The SDK removes ``__else__`` from the ``stream_maps`` it is given, so each mapper
    gets its own copy.
    """
    mapper = MaskingMapper(plugin_config=copy.deepcopy(dict(config)), logger=logger)
    mapper.register_raw_stream_schema(STREAM, login_schema(config), list(LoginsStream.primary_keys))
    return mapper


def check_pii_is_masked(config: Mapping[str, Any], logger: logging.Logger) -> None:
    """Refuse a configuration that would emit raw ``ip`` or ``device_id``.

    Raises:
        ConfigValidationError: Naming the setting to fix.
    """
    if config.get("batch_config"):
        msg = "batch_config is not supported: BATCH files skip stream maps (raw ip, device_id)"
        raise ConfigValidationError(msg, errors=[msg + "; remove batch_config"])
    maps = list(_maps_reading_logins(config.get("stream_maps") or {}))
    _check_keys_for_calls(config, maps)
    if config["allow_raw_pii"]:
        return
    problems = [problem for name, spec in maps for problem in _leaks(name, spec)]
    if not _has_primary_map(config.get("stream_maps") or {}, maps):
        problems.append(f"stream_maps has no map for '{STREAM}'")
    if not problems:
        mapper = build_mapper(config, logger)
        problems = canary_leaks(mapper.stream_maps[STREAM], config)
    if problems:
        raise ConfigValidationError(
            "Raw personal data would leave the tap", errors=[*problems, FIX]
        )


def _maps_reading_logins(stream_maps: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, spec in stream_maps.items():
        if name.startswith("__"):
            continue  # the SDK allows only __else__ here, and refuses the rest
        source = spec["__source__"] if isinstance(spec, dict) and "__source__" in spec else name
        if source == STREAM or (isinstance(source, str) and fnmatch.fnmatch(STREAM, source)):
            yield name, spec


def _has_primary_map(stream_maps: Mapping[str, Any], maps: list[tuple[str, Any]]) -> bool:
    """Whether the raw stream is replaced: by its own map, or dropped by ``__else__``."""
    primary = [spec for _, spec in maps if not (isinstance(spec, dict) and "__source__" in spec)]
    return bool(primary) or stream_maps.get("__else__", "") in DROPPED


def _properties(spec: Mapping[str, Any]) -> dict[str, Any]:
    options = OPTIONS if "__source__" in spec else {*OPTIONS, "__alias__"}
    return {key: value for key, value in spec.items() if key not in options}


def _leaks(name: str, spec: Any) -> list[str]:
    if not isinstance(spec, dict):
        return []  # None or __NULL__ drops the stream; the SDK refuses anything else
    problems = []
    drops_the_rest = spec.get("__else__", "") in DROPPED
    properties = _properties(spec)
    for field in PII_FIELDS:
        if properties.get(field, None if drops_the_rest else "") not in DROPPED:
            problems.append(f"stream_maps.{name}.{field} is not __NULL__")
    for prop, expression in properties.items():
        if isinstance(expression, str) and expression not in DROPPED:
            if _reads_raw(expression, self_is_raw=prop in PII_FIELDS):
                problems.append(
                    f"stream_maps.{name}.{prop} reads a raw field outside mask() or seal()"
                )
    return problems


def _parse(expression: str) -> ast.Module | None:
    try:
        return ast.parse(expression)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _reads_raw(expression: str, *, self_is_raw: bool) -> bool:
    tree = _parse(expression)
    if tree is None:
        return True  # the SDK refuses it too; never pass what cannot be read
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


def _check_keys_for_calls(config: Mapping[str, Any], maps: list[tuple[str, Any]]) -> None:
    expressions = [
        value
        for _, spec in maps
        if isinstance(spec, dict)
        for value in (*_properties(spec).values(), spec.get("__filter__"))
        if isinstance(value, str)
    ]
    called = {
        node.func.id
        for tree in map(_parse, expressions)
        if tree is not None
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    for function, setting in PROTECTING.items():
        if function in called and not config.get(setting):
            variable = f"TAP_SQS_LOGINS_{setting.upper()}"
            raise ConfigValidationError(
                f"{setting} is not set",
                errors=[
                    f"stream_maps call {function}() but {setting} is not set: set the "
                    f"environment variable {variable} (or {setting} in the config file)"
                ],
            )


def _no_key(value: str | None) -> str | None:
    msg = "mask() needs mask_key: set TAP_SQS_LOGINS_MASK_KEY"
    raise ConfigValidationError(msg)


def _no_public_key(value: str | None) -> str | None:
    msg = "seal() needs seal_public_key: set TAP_SQS_LOGINS_SEAL_PUBLIC_KEY"
    raise ConfigValidationError(msg)
