"""The tap: settings, its one stream, and stream maps with ``mask()`` and ``seal()``."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

import click
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.plugin_base import JSONSchemaValidator

from tap_sqs_logins.config_files import make_private
from tap_sqs_logins.privacy.guard import MaskingMapper, check_pii_is_masked
from tap_sqs_logins.privacy.masking import check_key
from tap_sqs_logins.settings import SETTINGS
from tap_sqs_logins.singer_output import SingerWriter
from tap_sqs_logins.streams import LoginsStream

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.plugin_base import _ConfigInput


# The maps when stream_maps is not set: ip and device_id leave the tap only masked.
DEFAULT_STREAM_MAPS = {
    "logins": {
        "masked_ip": "mask(ip)",
        "masked_device_id": "mask(device_id)",
        "ip": "__NULL__",
        "device_id": "__NULL__",
    }
}
NO_KEY = (
    "mask_key is not set: the default stream maps mask ip and device_id with it; set "
    "TAP_SQS_LOGINS_MASK_KEY (or mask_key in the config file)"
)
ENV_PREFIX = "TAP_SQS_LOGINS_"
TRUTHY = ("true", "1", "yes", "on")  # as the SDK reads a boolean variable


class TapSqsLogins(Tap):
    """Reads user-login events from an SQS queue."""

    name = "tap-sqs-logins"
    # The SDK adds its built-in settings (stream_maps, ...) to this dict in place.
    config_jsonschema = SETTINGS.to_dict()
    # No BATCH: batch files skip stream maps, so they would hold raw ip and device_id.
    # No ACTIVATE_VERSION: a run emits new messages, not a whole table replacing the last one.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        c
        for c in Tap.capabilities
        if c not in {PluginCapabilities.BATCH, TapCapabilities.ACTIVATE_VERSION}
    ]
    message_writer_class = SingerWriter  # msgspec: less CPU per record than simplejson

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        """Make the ``--config`` files private (they hold ``mask_key``), then read them."""
        make_private(value, cls.logger)
        return super().cb_config(ctx, param, value)

    def discover_streams(self) -> list[LoginsStream]:
        """Return the tap's one stream."""
        return [LoginsStream(self)]

    @classmethod
    def invoke(  # type: ignore[override]  # the SDK narrows PluginBase.invoke too
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        state: IO[str] | None = None,
        catalog: IO[str] | None = None,
    ) -> None:
        """Run as the SDK does; a refused configuration ends on one line naming the settings.

        Meltano shows only the last line of a failed ``config test``: the SDK's own last
        line, "Config validation failed", names nothing.

        Raises:
            click.exceptions.Exit: With status 1 if the configuration is refused.
        """
        try:
            super().invoke(
                about=about, about_format=about_format, config=config, state=state, catalog=catalog
            )
        except ConfigValidationError as error:
            cls.logger.error("Config validation failed: %s", "; ".join(error.errors) or error)
            raise click.exceptions.Exit(1) from None

    def setup_mapper(self) -> None:
        """Refuse maps that would leak raw PII; set up maps with ``mask()`` and ``seal()``.

        Without ``stream_maps`` the tap masks with ``DEFAULT_STREAM_MAPS``.
        """
        config = copy.deepcopy(dict(self.config))  # the SDK edits stream_maps in place
        if config.get("stream_maps") is None:
            if not config.get("mask_key"):
                msg = "mask_key is not set"
                raise ConfigValidationError(msg, errors=[NO_KEY])
            config["stream_maps"] = copy.deepcopy(DEFAULT_STREAM_MAPS)
        check_pii_is_masked(config, self.logger)
        self._mapper = MaskingMapper(plugin_config=config, logger=self.logger)
        self.mapper.register_raw_streams_from_catalog(self.catalog)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate as the SDK does, plus ``mask_key`` strength, never echoing a secret.

        Raises:
            ConfigValidationError: Naming each setting to fix.
        """
        errors = super()._validate_config(raise_errors=False)
        errors = _checked_key(self._config, errors, self.config_jsonschema["properties"])
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors


def load_settings(
    config_files: Sequence[str | Path] = (), environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the tap's settings as a run resolves them, defaults applied.

    Args:
        config_files: JSON config files, later ones winning (``--config``).
        environ: Where the ``TAP_SQS_LOGINS_*`` variables win over the files; by default the
            process environment. Meltano's dotted keys of object settings (``{"logins.ip":
            ...}`` in ``TAP_SQS_LOGINS_STREAM_MAPS``) are nested again.

    Raises:
        ConfigValidationError: Naming each setting to fix, never echoing a secret.
    """
    schema = TapSqsLogins.config_jsonschema
    TapSqsLogins.append_builtin_config(schema)  # the SDK's own settings: stream_maps, ...
    config: dict[str, Any] = {}
    for path in config_files:
        config.update(json.loads(Path(path).read_text()))
    config.update(_environment(schema["properties"], os.environ if environ is None else environ))
    errors = [_validation_error(error) for error in JSONSchemaValidator(schema).iter_errors(config)]
    if errors := _checked_key(config, errors, schema["properties"]):
        raise ConfigValidationError("Config validation failed", errors=errors)
    return config


def _environment(properties: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings set by ``TAP_SQS_LOGINS_*`` variables, read by their types as the SDK does."""
    config: dict[str, Any] = {}
    for name, schema in properties.items():
        value = environ.get(ENV_PREFIX + name.upper())
        if value is None:
            continue
        types = schema.get("type", ())
        if "integer" in types:
            config[name] = int(value)
        elif "boolean" in types:
            config[name] = value.lower() in TRUTHY
        elif "object" in types:
            config[name] = _nested(json.loads(value))
        elif "array" in types:
            config[name] = json.loads(value)
        else:
            config[name] = value
    return config


def _nested(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """Undo Meltano's dotted keys of an object setting: ``{"a.b": 1}`` is ``{"a": {"b": 1}}``."""
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        *parents, last = key.split(".")
        inner = nested
        for parent in parents:
            inner = inner.setdefault(parent, {})
        inner[last] = value
    return nested


def _validation_error(error: Any) -> str:
    """As the SDK words a schema error: the message, then where in the config."""
    where = f" in config[{']['.join(repr(index) for index in error.path)}]" if error.path else ""
    return f"{error.message}{where}"


def _checked_key(
    config: Mapping[str, Any], errors: list[str], properties: Mapping[str, Any]
) -> list[str]:
    """Return ``errors`` with ``mask_key``'s strength first if weak, secrets hidden."""
    key = config.get("mask_key")
    try:
        if key is not None:
            check_key(key)
    except ValueError as error:
        errors = [str(error), *errors]
    return [_redact(line, config, properties) for line in errors]


def _redact(text: str, config: Mapping[str, Any], properties: Mapping[str, Any]) -> str:
    """Hide secret values where jsonschema quotes them (``'…' is too short``)."""
    for name, value in config.items():
        if properties.get(name, {}).get("secret") and value:
            text = text.replace(repr(value), "(secret)")
    return text


if __name__ == "__main__":
    TapSqsLogins.cli()
