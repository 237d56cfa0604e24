"""Stream maps may not make a received message vanish: ``logins`` keeps one row per message.

Every received message is deleted from SQS once its run is acknowledged (``after_state``,
``on_emit``), or once the loader has committed its ``logins`` row (``loader``: sqs-ack).
A map that dropped a message's row would have it deleted undelivered, or received again
until the queue's retention drops it. So, by the SDK's rules (a map reads ``logins`` when
its key, or its ``__source__``, matches it; the last such key without ``__source__`` is
the stream's own map):

- ``logins`` has its own map, and nothing drops it (``logins: __NULL__``, a matching
  wildcard, or ``__else__: __NULL__`` without a map for it);
- that map has no ``__filter__``, keeps ``message_id`` as the key, and passes through
  unchanged the fields that tell the outcome (``OUTCOME_FIELDS``, and with ``loader`` the
  ``queue_url`` and ``receipt_handle`` it deletes with);
- with ``loader``, each stream derived from ``logins`` (``__source__``) has no
  ``__filter__`` and passes ``message_id`` through: sqs-ack deletes a message only once
  every derived stream holds its row.

A derived stream may filter under ``after_state`` and ``on_emit``: ``logins`` holds every
message there.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from tap_sqs_logins.fields import STREAM
from tap_sqs_logins.settings import LOADER

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

KEY = "message_id"
DROPPED = (None, "__NULL__")
OUTCOME_FIELDS = (KEY, "rejection_reason", "dead_letter_message_id")
LOADER_FIELDS = ("queue_url", "receipt_handle")
SOURCE, FILTER, ELSE, KEY_PROPERTIES = "__source__", "__filter__", "__else__", "__key_properties__"


def maps_reading_logins(stream_maps: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yield the maps that read ``logins``, in the order the SDK applies them."""
    for name, spec in stream_maps.items():
        if name.startswith("__"):
            continue  # the SDK allows only __else__ here, and refuses the rest
        source = spec[SOURCE] if isinstance(spec, dict) and SOURCE in spec else name
        if source == STREAM or (isinstance(source, str) and fnmatch.fnmatch(STREAM, source)):
            yield name, spec


def is_derived(spec: Any) -> bool:
    """Whether a map makes another stream from ``logins`` (``__source__``)."""
    return isinstance(spec, dict) and SOURCE in spec


def outcome_problems(config: Mapping[str, Any]) -> list[str]:
    """Return one line per way the stream maps could leave a message without an outcome."""
    stream_maps = config.get("stream_maps") or {}
    maps = list(maps_reading_logins(stream_maps))
    own = [(name, spec) for name, spec in maps if not is_derived(spec)]
    loader = config.get("acknowledgement") == LOADER
    if not own:
        if stream_maps.get(ELSE, "") in DROPPED:
            return [f"stream_maps.{ELSE} drops the '{STREAM}' stream: {_LOST}; add a map for it"]
        return []
    name, spec = own[-1]  # the SDK applies the last one
    if not isinstance(spec, dict):
        return [f"stream_maps.{name} drops the '{STREAM}' stream: {_LOST}; map it instead"]
    problems = _kept_problems(name, spec, OUTCOME_FIELDS + (LOADER_FIELDS if loader else ()))
    if spec.get(KEY_PROPERTIES, [KEY]) != [KEY]:
        problems.append(f"stream_maps.{name}.{KEY_PROPERTIES} must stay [{KEY}] (or be unset)")
    for name, spec in maps:
        if loader and is_derived(spec):
            problems += [
                f"{line}: with acknowledgement loader, sqs-ack deletes a message only once "
                "every stream derived from logins holds its row"
                for line in _kept_problems(name, spec, (KEY,))
            ]
    return problems


_LOST = "its messages would be acknowledged without a row, or received again until they expire"


def _kept_problems(name: str, spec: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    problems = [
        f"stream_maps.{name}.{field} must be kept as it is ({field}: {field})"
        for field in fields
        if not _passes(spec, field)
    ]
    if spec.get(FILTER) is not None:  # the SDK reads a null filter as none
        problems.insert(0, f"stream_maps.{name}.{FILTER} drops rows of messages: {_LOST}")
    return problems


def _passes(spec: dict[str, Any], field: str) -> bool:
    """Whether a map outputs ``field`` exactly as the record holds it."""
    if field in spec:
        return bool(spec[field] == field)
    if spec.get(ELSE, "") not in DROPPED:
        return True  # every field not named is kept
    return field in (spec.get(KEY_PROPERTIES, [KEY]) or [])
