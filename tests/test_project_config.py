"""meltano.yml, the tap and the other steps agree on settings and defaults."""

from __future__ import annotations

from typing import Any

import yaml

from tap_sqs_logins.settings import SETTINGS
from tests.harness.project import REPO

PROJECT = yaml.safe_load((REPO / "meltano.yml").read_text())
POSTGRES_EXTRACTOR = "tap-sqs-logins--postgres"  # the job's: acknowledgement loader (sqs-ack)


def plugin(kind: str, name: str) -> dict[str, Any]:
    return next(p for p in PROJECT["plugins"][kind] if p["name"] == name)


def test_meltano_declares_every_tap_setting_and_secrets_are_sensitive() -> None:
    declared = {s["name"]: s for s in plugin("extractors", "tap-sqs-logins")["settings"]}
    schema = SETTINGS.to_dict()["properties"]
    assert set(schema) <= set(declared)
    for name, prop in schema.items():
        assert declared[name].get("sensitive", False) == prop.get("secret", False), name


def test_the_job_chains_tap_target_and_transform() -> None:
    job = next(j for j in PROJECT["jobs"] if j["name"] == "sqs-logins-to-postgres")
    [task] = job["tasks"]
    extractor, loader, transform = task.split()
    assert (extractor, loader) == (POSTGRES_EXTRACTOR, "target-postgres")
    assert transform == "dbt-postgres:transform"  # models, then their data tests
    command = plugin("utilities", "dbt-postgres")["commands"]["transform"]["args"].split()
    # only unit tests left out; dbt only when a staged row awaits it (test_dbt_if_pending.py)
    assert command == ["--if-pending", "build", "--exclude-resource-type", "unit_test"]
    assert any(s["job"] == job["name"] for s in PROJECT["schedules"])


def test_loader_mode_only_for_the_postgres_job() -> None:
    """The base extractor keeps the tap's after_state; the job's variant lets sqs-ack delete."""
    base = plugin("extractors", "tap-sqs-logins")
    variant = plugin("extractors", POSTGRES_EXTRACTOR)
    assert "acknowledgement" not in base.get("config", {})
    assert SETTINGS.to_dict()["properties"]["acknowledgement"]["default"] == "after_state"
    assert variant["inherit_from"] == "tap-sqs-logins"
    assert variant["config"] == {"acknowledgement": "loader", "visibility_timeout": 300}


def test_a_killed_loader_mode_run_hides_its_messages_for_less_than_any_schedule_interval() -> None:
    """Nothing waits for the next run in loader mode: heartbeats hide only while it lives."""
    variant = plugin("extractors", POSTGRES_EXTRACTOR)["config"]
    for schedule in PROJECT["schedules"]:
        interval = int(schedule["interval"].split()[0].removeprefix("*/")) * 60
        assert variant["visibility_timeout"] <= interval / 3, schedule["name"]


def test_masking_and_local_addresses_are_not_repeated_in_meltano_yml() -> None:
    """The tap's default maps mask; the local queue is the dev environment's, not the tap's."""
    base = plugin("extractors", "tap-sqs-logins")
    assert "stream_maps" not in base.get("config", {})
    assert "default" not in SETTINGS.to_dict()["properties"]["queue_url"]
    tap_config: dict[str, dict[str, Any]] = {
        environment["name"]: next(
            (
                p.get("config", {})
                for p in environment["config"]["plugins"].get("extractors", [])
                if p["name"] == "tap-sqs-logins"
            ),
            {},
        )
        for environment in PROJECT["environments"]
    }
    assert tap_config["dev"]["queue_url"] == "http://localhost:4566/000000000000/login-queue"
    assert tap_config["dev"]["endpoint_url"] == "http://localhost:4566"
    assert "queue_url" not in tap_config["prod"] and "endpoint_url" not in tap_config["prod"]


def test_the_default_visibility_timeout_outlasts_each_schedule_interval_plus_a_run() -> None:
    """What after_state needs (its messages stay hidden until the next run deletes them)."""
    default = SETTINGS.to_dict()["properties"]["visibility_timeout"]["default"]
    for schedule in PROJECT["schedules"]:
        minute, *rest = schedule["interval"].split()
        assert minute.startswith("*/") and rest == ["*"] * 4, "a schedule of another form"
        interval = int(minute.removeprefix("*/")) * 60
        assert default >= 2 * interval, schedule["name"]  # a run may last up to an interval


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


def test_both_plugins_install_the_same_copy_of_the_tap() -> None:
    """A copy (Meltano caches the extractor's catalog), reinstalled for both at once (Makefile)."""
    extractor = plugin("extractors", "tap-sqs-logins")["pip_url"].split()
    loader = plugin("loaders", "target-postgres")["pip_url"].split()
    assert extractor == ["./tap-sqs-logins"]
    assert loader[loader.index("./tap-sqs-logins") - 1] != "-e"  # not editable
    makefile = (REPO / "Makefile").read_text()
    rule = makefile.split(".meltano/.installed: .meltano/.plugins $(TAP_SOURCES)\n")[1]
    recipe = rule.split("\n\n")[0]
    assert "--plugin-type extractor tap-sqs-logins" in recipe
    assert "--plugin-type loader target-postgres" in recipe
