"""The plugin definition, meltano.yml, the README's settings table and ``--about`` agree."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml
from meltano.core.plugin.base import PluginDefinition, PluginType

from tests.harness.project import REPO

TAP_DIR = REPO / "tap-sqs-logins"
DEFINITION = yaml.safe_load((TAP_DIR / "tap-sqs-logins.yml").read_text())
PROJECT = yaml.safe_load((REPO / "meltano.yml").read_text())
EXTRACTOR = next(p for p in PROJECT["plugins"]["extractors"] if p["name"] == "tap-sqs-logins")
SHARED = ("label", "namespace", "executable", "capabilities", "settings_group_validation")


def _script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "settings_table", TAP_DIR / "scripts" / "settings_table.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def about() -> dict[str, Any]:
    command = [sys.executable, "-m", "tap_sqs_logins.tap", "--about", "--format=json"]
    about: dict[str, Any] = json.loads(
        subprocess.run(command, check=True, capture_output=True).stdout
    )
    return about


def test_capabilities_are_the_true_ones_everywhere(about: dict[str, Any]) -> None:
    assert "batch" not in about["capabilities"]
    assert "activate-version" not in about["capabilities"]
    assert "structured-logging" in about["capabilities"]
    assert DEFINITION["capabilities"] == about["capabilities"] == EXTRACTOR["capabilities"]


def test_every_setting_is_declared_with_label_kind_and_the_tap_description(
    about: dict[str, Any],
) -> None:
    properties = about["settings"]["properties"]
    settings = {s["name"]: s for s in DEFINITION["settings"]}
    assert list(settings) == list(properties)
    for name, prop in properties.items():
        setting = settings[name]
        kind = next(t for t in prop["type"] if t != "null")
        secret = prop.get("secret", False)
        assert setting["label"], name
        if "enum" in prop:  # a choice: Meltano offers the tap's values
            assert setting["kind"] == "options", name
            assert [option["value"] for option in setting["options"]] == prop["enum"], name
        else:
            assert setting["kind"] == ("password" if secret else kind), name
        assert setting.get("sensitive", False) == secret, name
        assert setting["description"] == prop["description"], name
    required = {name for group in DEFINITION["settings_group_validation"] for name in group}
    assert required <= set(properties)


def test_each_setting_shows_the_taps_default_as_its_value(about: dict[str, Any]) -> None:
    """As Hub definitions do: `value:` is the default Meltano shows and passes."""
    for setting in DEFINITION["settings"]:
        prop = about["settings"]["properties"][setting["name"]]
        assert setting.get("value") == prop.get("default"), setting["name"]


def test_the_definition_shows_a_usage_example_with_only_queue_url_and_mask_key() -> None:
    usage = DEFINITION["usage"]
    assert "queue_url" in usage and "mask_key" in usage
    assert "stream_maps" not in usage  # the tap masks by default


def test_pip_url_pins_the_release_tag_of_the_package_version() -> None:
    """The tag a release creates (`git tag v<version>`, CHANGELOG) is the one users install."""
    version = re.search(
        r'^__version__ = "([^"]+)"$',
        (TAP_DIR / "tap_sqs_logins" / "__init__.py").read_text(),
        re.MULTILINE,
    )
    assert version
    assert f"@v{version[1]}#subdirectory=" in DEFINITION["pip_url"]
    assert f"## [{version[1]}]" in (TAP_DIR / "CHANGELOG.md").read_text()


def test_meltano_yml_declares_the_same_plugin() -> None:
    assert EXTRACTOR["settings"] == DEFINITION["settings"]
    for key in SHARED:
        assert EXTRACTOR[key] == DEFINITION[key], key


def test_meltano_reads_the_definition_and_it_installs_from_a_git_subdirectory() -> None:
    plugin = PluginDefinition(PluginType.EXTRACTORS, **DEFINITION).find_variant()
    assert {s.name for s in plugin.settings if s.is_redacted} == {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_assume_role_external_id",
        "mask_key",
    }
    assert plugin.pip_url.startswith("git+https://")
    assert plugin.pip_url.endswith("#subdirectory=tap-sqs-logins")


def test_the_readme_settings_table_is_generated_from_about() -> None:
    script = _script()
    readme = script.README.read_text()
    assert script.with_table(readme, script.settings_table()) == readme, (
        "run python tap-sqs-logins/scripts/settings_table.py"
    )
