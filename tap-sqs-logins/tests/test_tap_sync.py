"""The tap against an in-process SQS: records, masking, quarantine, limits, errors."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_sqs_logins.privacy.masking import Pseudonymizer
from tap_sqs_logins.testing import LOGIN, MASK_KEY, MASKING_MAPS, records, run_tap


def send(sqs: Any, queue_url: str, *bodies: str) -> None:
    for item in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=item)


def test_valid_logins_leave_masked_with_sqs_metadata(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    send(sqs, queue_url, json.dumps(LOGIN), json.dumps({**LOGIN, "user_id": "other"}))
    out = records(run_tap(config))
    assert len(out) == 2
    first = out[0]
    assert first["user_id"] == LOGIN["user_id"] and first["app_version"] == "2.3.0"
    mask = Pseudonymizer(MASK_KEY)
    assert first["masked_ip"] == out[1]["masked_ip"] == mask("ip", LOGIN["ip"])
    assert first["masked_device_id"] == mask("device_id", LOGIN["device_id"])
    assert first["message_id"] and first["sent_at"]
    assert "ip" not in first and "device_id" not in first
    assert "receipt_handle" not in first and "queue_url" not in first  # only for a loader


def test_schema_has_masked_fields_and_no_raw_ones(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    schema = next(m for m in run_tap(config) if m["type"] == "SCHEMA")
    assert {"masked_ip", "masked_device_id"} <= schema["schema"]["properties"].keys()
    assert not {"ip", "device_id"} & schema["schema"]["properties"].keys()
    assert schema["key_properties"] == ["message_id"]


def test_no_raw_pii_anywhere_in_the_output(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    send(sqs, queue_url, json.dumps(LOGIN), json.dumps({**LOGIN, "user_id": "u" * 200}))
    text = json.dumps(run_tap(config))
    assert LOGIN["ip"] not in text and LOGIN["device_id"] not in text


def test_poison_messages_are_kept_with_a_reason(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    send(
        sqs,
        queue_url,
        '{"foo": "oops_wrong_msg_type", "bar": "123"}',
        "{bad json",
        json.dumps(LOGIN),
    )
    out = sorted(records(run_tap(config)), key=lambda r: r.get("rejection_reason") or "")
    assert [r.get("rejection_reason") for r in out] == [
        None,
        "not JSON (line 1, column 2)",
        "not a login: missing user_id, app_version, device_type; 2 unexpected fields",
    ]
    assert out[1]["masked_ip"] is None and out[1]["user_id"] is None


def test_poison_goes_to_the_dead_letter_queue(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    dlq = sqs.create_queue(QueueName="login-dlq")["QueueUrl"]
    send(sqs, queue_url, "{bad json")
    out = records(run_tap({**config, "dead_letter_queue_url": dlq}))
    dead = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert dead[0]["Body"] == "{bad json"
    assert dead[0]["MessageId"] == out[0]["dead_letter_message_id"]
    assert dead[0]["MessageAttributes"]["source_message_id"]["StringValue"] == out[0]["message_id"]


def test_reading_does_not_delete(sqs: Any, queue_url: str, config: dict[str, Any]) -> None:
    send(sqs, queue_url, json.dumps(LOGIN))
    run_tap(config)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_max_messages_caps_a_run(sqs: Any, queue_url: str, config: dict[str, Any]) -> None:
    send(sqs, queue_url, *[json.dumps(LOGIN)] * 25)
    assert len(records(run_tap({**config, "max_messages": 13}))) == 13
    assert len(records(run_tap(config))) == 12


def test_missing_queue_names_the_setting(sqs: Any, config: dict[str, Any]) -> None:
    config["queue_url"] = config["queue_url"].replace("login-queue", "no-such-queue")
    with pytest.raises(FatalAPIError, match="does not exist: check queue_url"):
        run_tap(config)


def test_unreachable_endpoint_names_the_setting(sqs: Any, config: dict[str, Any]) -> None:
    config["endpoint_url"] = "http://127.0.0.1:9"
    with pytest.raises(
        FatalAPIError, match=r"cannot reach http://127\.0\.0\.1:9 .*check endpoint_url"
    ):
        run_tap(config)


def test_missing_key_is_refused(sqs: Any, queue_url: str, config: dict[str, Any]) -> None:
    del config["mask_key"]
    with pytest.raises(ConfigValidationError, match="mask_key is not set"):
        run_tap(config)


def test_debug_logs_never_show_raw_pii(
    sqs: Any, queue_url: str, config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    send(
        sqs, queue_url, json.dumps(LOGIN), json.dumps({**LOGIN, "user_id": None}), "{" + LOGIN["ip"]
    )
    caplog.set_level(logging.DEBUG)
    assert len(records(run_tap(config))) == 3
    assert "DEBUG" in caplog.text
    assert LOGIN["ip"] not in caplog.text and LOGIN["device_id"] not in caplog.text


@pytest.mark.parametrize(
    ("maps", "setting"),
    [
        ({**MASKING_MAPS, "*": {}}, "stream_maps.*.ip is not __NULL__"),
        ({**MASKING_MAPS, "raw": {"__source__": "login?"}}, "stream_maps.raw.ip is not __NULL__"),
        ({"logins": {**MASKING_MAPS["logins"], "__leak__": "ip"}}, "logins.__leak__ reads ip"),
        (
            {"logins": {**MASKING_MAPS["logins"], "__filter__": "locale"}},
            "stream_maps.logins.__filter__ drops rows",
        ),
        ({**MASKING_MAPS, "*": None}, "stream_maps.* drops the 'logins' stream"),
        (
            {
                **MASKING_MAPS,
                "bits": {
                    "__source__": "logins",
                    "__else__": None,
                    "message_id": "message_id",
                    "__filter__": "'1' in (device_id or '')",
                },
            },
            "stream_maps.bits.__filter__ reads device_id outside mask() or seal()",
        ),
    ],
)
def test_the_tap_refuses_leaky_maps_at_start_up(
    sqs: Any, queue_url: str, config: dict[str, Any], maps: dict[str, Any], setting: str
) -> None:
    send(sqs, queue_url, json.dumps(LOGIN))
    with pytest.raises(ConfigValidationError) as error:
        run_tap({**config, "stream_maps": maps})
    assert any(setting in line for line in error.value.errors)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_the_tap_refuses_batch_messages(sqs: Any, queue_url: str, config: dict[str, Any]) -> None:
    batch = {"encoding": {"format": "jsonl"}, "storage": {"root": "file:///tmp/batches"}}
    with pytest.raises(ConfigValidationError, match="batch_config"):
        run_tap({**config, "batch_config": batch})


def test_no_activate_version_even_when_asked(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    """A run emits new messages, not a whole table: a target would drop earlier runs' rows."""
    send(sqs, queue_url, json.dumps(LOGIN))
    out = run_tap({**config, "emit_activate_version_messages": True})
    assert len(records(out)) == 1
    assert not [m for m in out if m["type"] == "ACTIVATE_VERSION"]


def test_discovery_and_about_need_no_key_or_queue() -> None:
    from tap_sqs_logins.tap import TapSqsLogins

    # As `--discover` builds it: the SDK validates no config for a static catalog.
    tap = TapSqsLogins(config={"stream_maps": {"*": {}}}, setup_mapper=False, validate_config=False)
    assert [s.tap_stream_id for s in tap.catalog.streams] == ["logins"]


def test_a_filtered_derived_stream_leaves_every_message_a_logins_row(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    """Filtering happens beside logins, never in it: each message keeps its row and outcome."""
    ios = {**LOGIN, "device_type": "ios"}
    send(sqs, queue_url, json.dumps(LOGIN), json.dumps(ios), "not json", json.dumps(ios))
    derived = {"__source__": "logins", "__else__": None, "message_id": "message_id"}
    config["stream_maps"] = {
        **MASKING_MAPS,
        "ios_logins": {**derived, "__filter__": "device_type == 'ios'"},
    }
    messages = run_tap(config)
    rows = records(messages)
    assert len(rows) == 4 and len({row["message_id"] for row in rows}) == 4
    assert sum(bool(row["rejection_reason"]) for row in rows) == 1
    assert len(records(messages, "ios_logins")) == 2
