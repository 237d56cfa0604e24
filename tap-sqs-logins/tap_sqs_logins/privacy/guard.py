"""Stream maps that can call ``mask()`` and ``seal()``, and the guard that keeps raw PII in.

The guard follows the SDK's own rules (``singer_sdk.mapper``): a map reads ``logins`` when
its source (its key, or its ``__source__``) equals ``logins`` or matches it as an
``fnmatch`` pattern; only the SDK's option names are special, every other key of a map is
an output property. What the SDK takes from a map, and what the guard checks:

- a property expression and ``__filter__`` are evaluated over the record: each may read
  only what ``map_expressions`` allows (``ip`` and ``device_id`` only as ``mask(ip)``,
  ``seal(ip)``). A filter's verdict is output too: it shows in which rows exist;
- ``__key_properties__`` names fields copied from the raw record: never ``ip`` or
  ``device_id``;
- a property ``ip`` or ``device_id`` must be ``__NULL__`` (or dropped by ``__else__``);
- ``__source__`` is a stream-name pattern, ``__else__`` only ``__NULL__``, and
  ``__alias__`` (without ``__source__``) is evaluated over ``__stream_name__`` alone;
  ``stream_map_config`` and ``faker_config`` give ``config`` and ``fake``, neither of which
  holds the record;
- ``map_outcomes``: no map may leave a received message without an outcome.

On top of reading the configuration, it runs the configured mapper over a canary login and
refuses if any trace of the canary's ``ip`` or ``device_id`` comes out of any stream.
"""

from __future__ import annotations

import ast
import copy
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError, MapExpressionError, StreamMapConfigError
from singer_sdk.mapper import CustomStreamMap, PluginMapper

from tap_sqs_logins.fields import STREAM, login_schema
from tap_sqs_logins.privacy.canary import canary_leaks
from tap_sqs_logins.privacy.map_expressions import (
    MASK,
    call_problem,
    calls,
    masked_field,
    parse,
    reading_problem,
)
from tap_sqs_logins.privacy.map_faults import guard_maps
from tap_sqs_logins.privacy.map_outcomes import (
    DROPPED,
    FILTER,
    KEY_PROPERTIES,
    is_derived,
    maps_reading_logins,
    outcome_problems,
)
from tap_sqs_logins.privacy.masking import Pseudonymizer
from tap_sqs_logins.privacy.sealing import Sealer
from tap_sqs_logins.streams import LoginsStream

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping, Sequence

PII_FIELDS = ("ip", "device_id")
PROTECTING = {"mask": "mask_key", "seal": "seal_public_key"}  # safe output, needed setting
# Options the SDK pops from every map; ``__source__`` too, and ``__alias__`` only when
# there is no ``__source__``. Any other key (``__leak__``) is an output property.
OPTIONS = {FILTER, KEY_PROPERTIES, "__else__", "__source__"}
FIX = (
    "map ip and device_id to __NULL__ and emit masked_ip: mask(ip) and "
    "masked_device_id: mask(device_id) in stream_maps (see README), or set allow_raw_pii to true"
)


class MaskingMapper(PluginMapper):
    """The SDK's inline mapper, with ``mask(field)`` and ``seal(value)`` for expressions."""

    def __init__(self, plugin_config: dict[str, Any], logger: logging.Logger) -> None:
        super().__init__(plugin_config=plugin_config, logger=logger)
        key = plugin_config.get("mask_key")
        public_key = plugin_config.get("seal_public_key")
        try:
            self.mask: Callable[[str, Any], str | None] = (
                Pseudonymizer(key, plugin_config.get("mask_key_version")) if key else _no_key
            )
            self.seal = Sealer(public_key) if public_key else _no_public_key
        except ValueError as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from None

    def register_raw_stream_schema(
        self, stream_name: str, schema: dict[str, Any], key_properties: Sequence[str] | None
    ) -> None:
        """Register a stream as the SDK does, give its expressions our functions, guard them.

        A map that raises over a record quarantines its message (``map_faults``).
        """
        super().register_raw_stream_schema(stream_name, schema, key_properties)
        for stream_map in self.stream_maps.get(stream_name, []):
            if isinstance(stream_map, CustomStreamMap):
                evaluator = stream_map.expr_evaluator
                evaluator.functions["seal"] = self.seal
                evaluator.nodes[ast.Call] = MaskCalls(evaluator.nodes, self.mask)
        if stream_name == STREAM:
            guard_maps(self.stream_maps[stream_name], self.stream_maps_dict, self.logger)


class MaskCalls:
    """Evaluates ``mask(<field>)`` with the field as its hash's domain, other calls as before.

    It takes simpleeval's place for ``ast.Call`` nodes: only the syntax tree says which
    field ``mask()`` is given.
    """

    def __init__(self, nodes: dict[type, Callable[[Any], Any]], mask: Callable[..., Any]) -> None:
        self._nodes = nodes
        self._call = nodes[ast.Call]
        self._mask = mask

    def __call__(self, node: ast.Call) -> Any:
        """Evaluate one call."""
        field = masked_field(node) if getattr(node.func, "id", None) == MASK else None
        if field is None:
            return self._call(node)
        return self._mask(field, self._nodes[ast.Name](node.args[0]))


def build_mapper(config: Mapping[str, Any], logger: logging.Logger) -> MaskingMapper:
    """Return the mapper of ``config`` with ``logins`` registered, leaving ``config`` as is.

    The SDK removes ``__else__`` from the ``stream_maps`` it is given, so each mapper
    gets its own copy.

    Raises:
        ConfigValidationError: If the SDK refuses the maps; the message names stream_maps.
    """
    try:
        mapper = MaskingMapper(plugin_config=copy.deepcopy(dict(config)), logger=logger)
        mapper.register_raw_stream_schema(
            STREAM, login_schema(config), list(LoginsStream.primary_keys)
        )
    except (StreamMapConfigError, MapExpressionError, NotImplementedError) as error:
        msg = f"stream_maps: {error}"
        raise ConfigValidationError(msg, errors=[msg]) from None
    return mapper


def check_pii_is_masked(config: Mapping[str, Any], logger: logging.Logger) -> None:
    """Refuse a configuration that would emit raw ``ip`` or ``device_id``, or lose a message.

    Raises:
        ConfigValidationError: Naming the setting to fix.
    """
    if config.get("batch_config"):
        msg = "batch_config is not supported: BATCH files skip stream maps (raw ip, device_id)"
        raise ConfigValidationError(msg, errors=[msg + "; remove batch_config"])
    stream_maps = config.get("stream_maps") or {}
    maps = list(maps_reading_logins(stream_maps))
    fields = list(login_schema(config)["properties"])
    _check_calls(config, maps, fields)
    lost = outcome_problems(config)
    leaks = [] if config["allow_raw_pii"] else _leaks_of(maps, fields)
    if not lost and not leaks and not config["allow_raw_pii"]:
        leaks = canary_leaks(build_mapper(config, logger).stream_maps[STREAM], config)
    if leaks:
        msg = "Raw personal data would leave the tap"
        raise ConfigValidationError(msg, errors=[*leaks, *lost, FIX])
    if lost:
        msg = "stream_maps would leave received messages without an outcome"
        raise ConfigValidationError(msg, errors=lost)


def _leaks_of(maps: list[tuple[str, Any]], fields: list[str]) -> list[str]:
    """What the maps read or keep of raw PII, by their configuration alone."""
    problems = [problem for name, spec in maps for problem in _leaks(name, spec, fields)]
    if not any(not is_derived(spec) for _, spec in maps):
        problems.append(f"stream_maps has no map for '{STREAM}'")
    return problems


def _properties(spec: Mapping[str, Any]) -> dict[str, Any]:
    options = OPTIONS if "__source__" in spec else {*OPTIONS, "__alias__"}
    return {key: value for key, value in spec.items() if key not in options}


def _expressions(maps: list[tuple[str, Any]]) -> list[tuple[str, str, str | None]]:
    """Each expression the SDK evaluates over the record: (where, text, what self is)."""
    found: list[tuple[str, str, str | None]] = []
    for name, spec in maps:
        if not isinstance(spec, dict):
            continue
        for prop, expression in _properties(spec).items():
            if isinstance(expression, str) and expression not in DROPPED:
                found.append((f"stream_maps.{name}.{prop}", expression, prop))
        if isinstance(spec.get(FILTER), str):
            found.append((f"stream_maps.{name}.{FILTER}", spec[FILTER], None))
    return found


def _leaks(name: str, spec: Any, fields: list[str]) -> list[str]:
    if not isinstance(spec, dict):
        return []  # None or __NULL__ drops the stream; the SDK refuses anything else
    problems = []
    drops_the_rest = spec.get("__else__", "") in DROPPED
    properties = _properties(spec)
    for field in PII_FIELDS:
        if properties.get(field, None if drops_the_rest else "") not in DROPPED:
            problems.append(f"stream_maps.{name}.{field} is not __NULL__")
    keys = spec.get(KEY_PROPERTIES) or []
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        problems.append(f"stream_maps.{name}.{KEY_PROPERTIES} is not a list of field names")
    elif raw := [key for key in keys if key in PII_FIELDS]:
        problems.append(f"stream_maps.{name}.{KEY_PROPERTIES} names {', '.join(raw)}")
    for where, expression, self_is in _expressions([(name, spec)]):
        tree = parse(expression)
        problem = (
            "is not one expression"
            if tree is None
            else reading_problem(tree, fields, PII_FIELDS, self_is=self_is)
        )
        if problem:
            problems.append(f"{where} {problem}")
    return problems


def _check_calls(config: Mapping[str, Any], maps: list[tuple[str, Any]], fields: list[str]) -> None:
    """Refuse a malformed ``mask()``/``seal()`` call, or one without its key."""
    trees = [(where, parse(expression)) for where, expression, _ in _expressions(maps)]
    if malformed := [
        f"{where} {problem}"
        for where, tree in trees
        if tree is not None and (problem := call_problem(tree, fields))
    ]:
        raise ConfigValidationError("stream_maps call mask() or seal() wrongly", errors=malformed)
    called = {call.func.id for _, tree in trees if tree is not None for call in calls(tree)}  # type: ignore[attr-defined]
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


def _no_key(field: str, value: Any) -> str | None:
    msg = "mask() needs mask_key: set TAP_SQS_LOGINS_MASK_KEY"
    raise ConfigValidationError(msg)


def _no_public_key(value: str | None) -> str | None:
    msg = "seal() needs seal_public_key: set TAP_SQS_LOGINS_SEAL_PUBLIC_KEY"
    raise ConfigValidationError(msg)
