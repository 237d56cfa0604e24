"""Parsing message bodies: valid logins pass, everything else gets a value-free reason."""

from __future__ import annotations

import json

import pytest

from tap_sqs_logins.messages import Rejected, parse_login

LOGIN = {
    "user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae",
    "app_version": "2.3.0",
    "device_type": "android",
    "ip": "199.172.111.135",
    "locale": "RU",
    "device_id": "593-47-5928",
}


def body(**changes: object) -> str:
    data = {**LOGIN, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def test_a_valid_login_keeps_every_field() -> None:
    assert parse_login(body()) == LOGIN


@pytest.mark.parametrize("version", ["0.96", "3.7", "2.3.0", "10", "1.2.3.4"])
def test_two_and_three_part_versions_are_valid(version: str) -> None:
    assert parse_login(body(app_version=version))["app_version"] == version


def test_null_locale_ip_and_device_id_are_allowed() -> None:
    login = parse_login(body(locale=None, ip=None, device_id=None))
    assert login["locale"] is None and login["ip"] is None and login["device_id"] is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"foo": "oops_wrong_msg_type", "bar": "123"}', "not a login: missing user_id"),
        ("{not json", "not JSON"),
        ("", "not JSON"),
        ("null", "not a login: JSON NoneType"),
        ('["199.172.111.135"]', "not a login: JSON list"),
        (body(user_id="u" * 129), "user_id: longer than 128"),
        (body(device_type="d" * 33), "device_type: longer than 32"),
        (body(locale="l" * 33), "locale: longer than 32"),
        (body(user_id="a\x00b"), "user_id: contains a NUL"),
        (body(ip="199.172.\x00111.135"), "ip: contains a NUL"),
        (body(app_version="latest"), "app_version: not a version"),
        (body(app_version="1234567890.1"), "app_version: not a version"),
        (body(ip={"v4": "199.172.111.135"}), "ip: dict instead of a string"),
        (body(user_id=True), "user_id: bool instead of a string"),
        (body(user_id=" "), "user_id: empty"),
        (body(device_type=...), "not a login: missing device_type"),
    ],
)
def test_invalid_bodies_are_rejected_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(Rejected, match=reason.replace("(", r"\(")):
        parse_login(raw)


@pytest.mark.parametrize(
    "raw",
    [
        body(ip={"v4": "199.172.111.135"}),
        body(user_id="x" * 200, ip="199.172.111.135"),
        '{"ip": "199.172.111.135", "device_id": "593-47-5928"}',
        '{"ip": "199.172.111.135", "device_id": "593-47-5928"',
    ],
)
def test_reasons_never_repeat_values(raw: str) -> None:
    with pytest.raises(Rejected) as error:
        parse_login(raw)
    assert "199.172" not in str(error.value) and "593-47" not in str(error.value)
