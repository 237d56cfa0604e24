"""A stream map that raises over one record quarantines that message and stops nothing.

The start-up check runs the maps over a canary login only: an expression may still raise
over another (``int(app_version)`` over a junk version, ``user_id[100]``, a division by
zero). Before a record is written, the stream runs every map of ``logins`` over it as the
SDK will (``map_failure``); if one raises, the message is quarantined like a body that is
no login: its login fields emptied, its reason naming the map's property and the
exception's type (never its text, which may quote the value), a dead-letter copy made or the
message left for redrive. When the SDK then maps that record, a map that still raises over
it (``GuardedTransform``) outputs only what the guard makes it keep unchanged: the outcome
fields (``map_outcomes``). Over a record it did not raise for, the SDK gets the output of that
check again when it maps an equal record: each expression is evaluated once per record.
"""

from __future__ import annotations

import ast
import copy
from typing import TYPE_CHECKING, Any, cast

from tap_sqs_logins.fields import STREAM
from tap_sqs_logins.privacy.map_outcomes import (
    DROPPED,
    FILTER,
    KEY,
    LOADER_FIELDS,
    OUTCOME_FIELDS,
    SOURCE,
    maps_reading_logins,
)

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Mapping

    from singer_sdk.mapper import CustomStreamMap, StreamMap

REASON = "rejection_reason"
OPTIONS = {FILTER, SOURCE, "__else__", "__key_properties__", "__alias__"}


class GuardedTransform:
    """A map's transform that, over a record it raises for, outputs the outcome fields only."""

    def __init__(
        self, stream_map: CustomStreamMap, name: str, spec: Mapping[str, Any], log: logging.Logger
    ) -> None:
        """Wrap ``stream_map``'s transform; ``name`` and ``spec`` are its ``stream_maps`` entry."""
        self._map = stream_map
        self._transform: Callable[[dict[str, Any]], dict[str, Any] | None] = (
            stream_map._transform_fn
        )
        self._name = name
        self._spec = spec
        self._logger = log
        self._checked: tuple[dict[str, Any], dict[str, Any] | None] | None = None

    def __call__(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Map ``record``; if the map raises, keep only its outcome fields."""
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] == record:
            return checked[1]  # the output ``failure`` had from an equal record
        try:
            return self._transform(record)
        except Exception as error:
            failure = self._failure(record, error)
        self._logger.warning(
            "%s over message %s: the row keeps only its outcome.", failure, record.get(KEY)
        )
        own = SOURCE not in self._spec
        kept = (*OUTCOME_FIELDS, *LOADER_FIELDS) if own else (KEY,)
        output = {field: record[field] for field in kept if field in record}
        if own and output.get(REASON) is None:
            output[REASON] = failure
        return output

    def failure(self, record: dict[str, Any]) -> str | None:
        """Return why the map raises over ``record`` (where, and the exception's type).

        If it does not, its output is kept for the SDK's mapping of that record, next.
        """
        self._checked = None
        try:
            output = self._transform(record)
        except Exception as error:
            return self._failure(record, error)
        self._checked = (_snapshot(record), output)
        return None

    def _failure(self, record: dict[str, Any], error: Exception) -> str:
        return f"{self._where(record)} raised {type(error).__name__}"

    def _where(self, record: dict[str, Any]) -> str:
        """The ``stream_maps.<stream>.<property>`` whose expression raises over ``record``."""
        for prop, expression in self._spec.items():
            if (prop in OPTIONS and prop != FILTER) or expression in DROPPED:
                continue
            if not isinstance(expression, str):
                continue
            try:
                parsed = cast("ast.Expr", ast.parse(expression).body[0])
                self._map._eval(expression, parsed, record, None if prop == FILTER else prop)
            except Exception:
                return f"stream_maps.{self._name}.{prop}"
        return f"stream_maps.{self._name}"


def _snapshot(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` that the SDK's dropping of deselected fields (in place) leaves as is."""
    return {
        key: copy.deepcopy(value) if isinstance(value, (dict, list)) else value
        for key, value in record.items()
    }


def guard_maps(
    stream_maps: Iterable[StreamMap],
    stream_maps_config: Mapping[str, Any],
    logger: logging.Logger,
) -> None:
    """Give each custom map of ``logins`` a ``GuardedTransform``.

    Args:
        stream_maps: The maps the SDK applies to ``logins``.
        stream_maps_config: The ``stream_maps`` setting they come from.
        logger: Where a map that raises while the SDK maps a record is reported.
    """
    entries = {_alias(name, spec): (name, spec) for name, spec in _specs(stream_maps_config)}
    for stream_map in stream_maps:
        entry = entries.get(stream_map.stream_alias)
        transform = getattr(stream_map, "_transform_fn", None)
        if entry and transform is not None and not isinstance(transform, GuardedTransform):
            guarded = GuardedTransform(stream_map, *entry, logger)  # type: ignore[arg-type]
            stream_map._transform_fn = guarded  # type: ignore[attr-defined]


def map_failure(stream_maps: Iterable[StreamMap], record: dict[str, Any]) -> str | None:
    """Return why the first map that raises over ``record`` does, or None if none does."""
    for stream_map in stream_maps:
        transform = getattr(stream_map, "_transform_fn", None)
        if isinstance(transform, GuardedTransform) and (failure := transform.failure(record)):
            return failure
    return None


def _specs(stream_maps: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for name, spec in maps_reading_logins(stream_maps):
        if isinstance(spec, dict):
            yield name, spec


def _alias(name: str, spec: Mapping[str, Any]) -> str:
    """The stream a map writes: its key, or without ``__source__`` ``logins`` or its alias."""
    return name if SOURCE in spec else str(spec.get("__alias__") or STREAM)
