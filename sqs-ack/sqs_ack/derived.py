"""The streams the tap's stream maps derive from ``logins``, as the SDK's mapper builds them.

A message may be deleted from SQS only when every stream derived from it (such as a sealed
copy, ``sealed_logins: {__source__: logins}``) has committed a row with its message id.
The SDK's own ``PluginMapper`` resolves the maps, so wildcards, ``__source__``,
``__alias__`` and ``__else__`` mean here exactly what they mean in the tap.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import MapExpressionError, StreamMapConfigError
from singer_sdk.mapper import PluginMapper, RemoveRecordTransform

from sqs_ack.target_settings import PLAIN_NAME, PLAIN_NAME_RULE
from tap_sqs_logins import LoginsStream, login_schema

if TYPE_CHECKING:
    from collections.abc import Mapping

KEY = "message_id"


class DerivedStreamError(ValueError):
    """The stream maps produce an output the acknowledgement cannot check."""


def derived_streams(config: Mapping[str, Any]) -> list[str]:
    """Return the names of the tables the maps write from ``logins``, besides ``logins``.

    Raises:
        DerivedStreamError: If ``logins`` is renamed or removed, or a derived stream has
            no ``message_id`` or a name target-postgres would not use as its table name
            unchanged; the message names ``stream_maps``.
    """
    maps_config = {"stream_maps": copy.deepcopy(dict(config.get("stream_maps") or {}))}
    for option in ("stream_map_config", "faker_config"):
        if option in config:
            maps_config[option] = copy.deepcopy(config[option])
    name = LoginsStream.name
    try:
        mapper = PluginMapper(plugin_config=maps_config, logger=logging.getLogger(__name__))
        mapper.register_raw_stream_schema(name, login_schema(config), [KEY])
    except (StreamMapConfigError, MapExpressionError) as error:
        raise DerivedStreamError(f"stream_maps: {error}") from None
    primary, *others = mapper.stream_maps[name]
    if isinstance(primary, RemoveRecordTransform) or primary.stream_alias != name:
        msg = f"stream_maps: the '{name}' stream must be kept under its own name"
        raise DerivedStreamError(msg)
    derived = [m for m in others if not isinstance(m, RemoveRecordTransform)]
    for stream_map in derived:
        if not PLAIN_NAME.fullmatch(stream_map.stream_alias):
            msg = (
                f"stream_maps: the stream {stream_map.stream_alias!r} derived from '{name}' "
                "cannot be checked: target-postgres splits stream names on '.' and '-' into "
                f"schema and table; name it with {PLAIN_NAME_RULE}"
            )
            raise DerivedStreamError(msg)
        if KEY not in stream_map.transformed_schema.get("properties", {}):
            msg = (
                f"stream_maps: the stream '{stream_map.stream_alias}' derived from '{name}' "
                f"has no {KEY}, so the acknowledgement cannot tell which messages it holds: "
                f"add '{KEY}: {KEY}' to it"
            )
            raise DerivedStreamError(msg)
    return [stream_map.stream_alias for stream_map in derived]
