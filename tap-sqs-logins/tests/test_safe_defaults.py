"""Safe defaults: masking without stream_maps, poison kept for the redrive policy, a warning
when no state comes back, no local queue inside the tap, and a config test that receives
nothing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends
from singer_sdk.exceptions import ConfigValidationError

from tap_sqs_logins.acknowledging.modes import BOOKMARK
from tap_sqs_logins.privacy.masking import Pseudonymizer
from tap_sqs_logins.settings import SETTINGS
from tap_sqs_logins.tap import DEFAULT_STREAM_MAPS
from tap_sqs_logins.testing import LOGIN, MASK_KEY, REGION, in_process_sqs, records, run_tap

if TYPE_CHECKING:
    from pathlib import Path

MASK = Pseudonymizer(MASK_KEY)
SQS_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xD7FF), max_size=60)
LOGINS = st.fixed_dictionaries(
    {
        "user_id": st.uuids().map(str),
        "app_version": st.sampled_from(["2.3.0", "0.96", "10.1"]),
        "device_type": st.sampled_from(["android", "ios"]),
        "ip": st.one_of(st.none(), st.ip_addresses().map(str), SQS_TEXT),
        "locale": st.one_of(st.none(), st.sampled_from(["FR", "DE"])),
        "device_id": st.one_of(st.none(), SQS_TEXT),
    }
)
# Bodies no judge takes for a login: not JSON, foreign JSON, a login missing its user.
POISON = st.one_of(
    SQS_TEXT.map(lambda text: "not json: " + text),
    st.dictionaries(st.sampled_from(["foo", "bar"]), SQS_TEXT).map(json.dumps),
    st.just(json.dumps({k: v for k, v in LOGIN.items() if k != "user_id"})),
)
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def minimal_config(queue_url: str, tmp_path: Path) -> dict[str, Any]:
    """What a user sets: the queue and the key (the journal in the test's directory)."""
    return {
        "queue_url": queue_url,
        "mask_key": MASK_KEY,
        "region": REGION,
        "wait_time_seconds": 0,
        "journal_dir": str(tmp_path / "journal"),
    }


def on_queue(url: str) -> dict[str, str]:
    """The messages still on the queue, visible or not: {message id: body}."""
    queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].get_queue(url.rsplit("/", 1)[1])
    return {message.id: message.body for message in queue._messages}


def send_all(sqs: Any, url: str, bodies: list[str]) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)


def last_bookmark(messages: list[dict[str, Any]]) -> dict[str, Any]:
    state = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    return {"bookmarks": {"logins": {BOOKMARK: state["bookmarks"]["logins"][BOOKMARK]}}}


@SLOW
@given(logins=st.lists(LOGINS, min_size=1, max_size=12))
def test_without_stream_maps_ip_and_device_id_leave_only_masked(
    tmp_path_factory: pytest.TempPathFactory, logins: list[dict[str, Any]]
) -> None:
    with in_process_sqs() as sqs:
        url = sqs.create_queue(QueueName="login-queue")["QueueUrl"]
        send_all(sqs, url, [json.dumps(login) for login in logins])
        out = run_tap(minimal_config(url, tmp_path_factory.mktemp("journal")))

    [schema] = [m["schema"] for m in out if m["type"] == "SCHEMA"]
    assert {"ip", "device_id"}.isdisjoint(schema["properties"])
    got = sorted(
        ((r["user_id"], r["masked_ip"], r["masked_device_id"]) for r in records(out)), key=str
    )
    want = sorted(
        (
            (lg["user_id"], MASK("ip", lg["ip"]), MASK("device_id", lg["device_id"]))
            for lg in logins
        ),
        key=str,
    )
    assert got == want
    assert all({"ip", "device_id"}.isdisjoint(record) for record in records(out))


def test_the_default_maps_are_the_documented_masking() -> None:
    assert DEFAULT_STREAM_MAPS == {
        "logins": {
            "masked_ip": "mask(ip)",
            "masked_device_id": "mask(device_id)",
            "ip": "__NULL__",
            "device_id": "__NULL__",
        }
    }


@pytest.mark.parametrize("maps", [{}, {"logins": {"masked_ip": "mask(ip)"}}, {"*": {}}])
def test_a_users_own_maps_still_go_through_the_pii_guard(
    queue_url: str, tmp_path: Path, maps: dict[str, Any]
) -> None:
    with pytest.raises(ConfigValidationError, match="Raw personal data"):
        run_tap({**minimal_config(queue_url, tmp_path), "stream_maps": maps})


def test_without_a_key_the_tap_names_mask_key(queue_url: str, tmp_path: Path) -> None:
    config = minimal_config(queue_url, tmp_path)
    del config["mask_key"]
    with pytest.raises(ConfigValidationError) as error:
        run_tap(config)
    assert "TAP_SQS_LOGINS_MASK_KEY" in " ".join(error.value.errors)


@pytest.mark.parametrize(
    ("missing", "named"), [("mask_key", "TAP_SQS_LOGINS_MASK_KEY"), ("queue_url", "queue_url")]
)
def test_the_cli_ends_a_refused_config_on_a_line_naming_the_setting(
    tmp_path: Path, missing: str, named: str
) -> None:
    config = {"queue_url": "http://127.0.0.1:1/000000000000/q", "mask_key": MASK_KEY}
    del config[missing]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "tap_sqs_logins.tap", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "Config validation failed" in last and named in last, result.stderr


def test_queue_url_has_no_default_inside_the_tap() -> None:
    queue_url = SETTINGS.to_dict()["properties"]["queue_url"]
    assert "default" not in queue_url
    assert "queue_url" in SETTINGS.to_dict()["required"]


@SLOW
@given(
    bodies=st.lists(st.one_of(LOGINS.map(json.dumps), POISON), min_size=1, max_size=12),
    mode=st.sampled_from(["after_state", "on_emit"]),
)
def test_without_a_dead_letter_queue_poison_stays_on_the_source_queue(
    tmp_path_factory: pytest.TempPathFactory, bodies: list[str], mode: str
) -> None:
    with in_process_sqs() as sqs:
        url = sqs.create_queue(QueueName="login-queue")["QueueUrl"]
        send_all(sqs, url, bodies)
        config = {**minimal_config(url, tmp_path_factory.mktemp("j")), "acknowledgement": mode}
        first = run_tap(config)
        run_tap(config, last_bookmark(first) if mode == "after_state" else None)
        left = on_queue(url)

    poison = {r["message_id"] for r in records(first) if r["rejection_reason"]}
    assert len(records(first)) == len(bodies)
    assert set(left) == poison  # exactly the poison, for the redrive policy
    assert all(r["dead_letter_message_id"] is None for r in records(first))


def test_with_a_dead_letter_queue_poison_is_copied_and_deleted(
    sqs: Any, queue_url: str, tmp_path: Path
) -> None:
    dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
    send_all(sqs, queue_url, ["not json", json.dumps(LOGIN)])
    config = {**minimal_config(queue_url, tmp_path), "dead_letter_queue_url": dead}
    first = run_tap(config)
    run_tap(config, last_bookmark(first))
    assert on_queue(queue_url) == {}
    assert list(on_queue(dead).values()) == ["not json"]


def test_no_state_but_journals_of_earlier_runs_warns_naming_the_state_capability(
    sqs: Any, queue_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = minimal_config(queue_url, tmp_path)
    send_all(sqs, queue_url, [json.dumps(LOGIN)])
    caplog.set_level(logging.WARNING)
    first = run_tap(config)
    assert "capabilities" not in caplog.text  # a first run has nothing to confirm

    run_tap(config, last_bookmark(first))  # the state came back: confirmed, no warning
    assert "capabilities" not in caplog.text

    send_all(sqs, queue_url, [json.dumps(LOGIN)])
    run_tap(config)
    run_tap(config)  # as under a plugin entry without `state`: Meltano passes none
    assert "add `state` to the extractor's capabilities" in caplog.text
    assert "1 journals of earlier runs" in caplog.text


def test_the_default_visibility_timeout_outlasts_a_15_minute_schedule_plus_a_run() -> None:
    assert SETTINGS.to_dict()["properties"]["visibility_timeout"]["default"] >= 2 * 15 * 60


PARENT = """
import os, subprocess, sys
env = dict(os.environ, MELTANO_EXTRACTOR_NAME="tap-sqs-logins")
code = "from tap_sqs_logins.config_test import under_meltano_config_test as t; print(t())"
print(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                     check=True).stdout.strip())
"""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["config", "test", "tap-sqs-logins"], "True"),
        (["--environment", "prod", "config", "test", "--plugin-type", "extractor"], "True"),
        (["run", "tap-sqs-logins", "target-jsonl"], "False"),
        (["invoke", "tap-sqs-logins"], "False"),
        (["config", "list", "test"], "False"),
    ],
)
def test_a_config_test_is_recognised_by_meltanos_command_line(
    argv: list[str], expected: str
) -> None:
    parent = subprocess.run(
        [sys.executable, "-c", PARENT, *argv], capture_output=True, text=True, check=True
    )
    assert parent.stdout.strip() == expected
