"""meltano.yml, the tap and the other steps agree on settings and defaults."""

from __future__ import annotations

from pathlib import Path

import yaml

from tap_sqs_logins.settings import SETTINGS

REPO = Path(__file__).parents[2]
PROJECT = yaml.safe_load((REPO / "meltano.yml").read_text())


def plugin(kind: str, name: str) -> dict:
    return next(p for p in PROJECT["plugins"][kind] if p["name"] == name)


def test_meltano_declares_every_tap_setting_and_secrets_are_sensitive() -> None:
    declared = {s["name"]: s for s in plugin("extractors", "tap-sqs-logins")["settings"]}
    schema = SETTINGS.to_dict()["properties"]
    assert set(schema) <= set(declared)
    for name, prop in schema.items():
        assert declared[name].get("sensitive", False) == prop.get("secret", False), name


def test_the_job_chains_tap_target_and_transform() -> None:
    job = next(j for j in PROJECT["jobs"] if j["name"] == "sqs-logins-to-postgres")
    assert job["tasks"] == ["tap-sqs-logins target-postgres dbt-postgres:build"]
    assert any(s["job"] == job["name"] for s in PROJECT["schedules"])


def test_no_secret_is_committed_outside_the_dev_demo_password() -> None:
    sensitive = {
        (plugin["name"], setting["name"])
        for kind in PROJECT["plugins"].values()
        for plugin in kind
        for setting in plugin.get("settings", [])
        if setting.get("sensitive")
    }
    committed = {
        (environment["name"], plugin["name"], name)
        for environment in PROJECT["environments"]
        for kind in environment.get("config", {}).get("plugins", {}).values()
        for plugin in kind
        for name in plugin.get("config", {})
        if (plugin["name"], name) in sensitive
    }
    assert committed == {("dev", "target-postgres", "password")}
