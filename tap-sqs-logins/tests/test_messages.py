"""Parsing message bodies: valid logins pass, everything else gets a value-free reason."""

from __future__ import annotations

import json

import pytest

from tap_sqs_logins.bodies.messages import Rejected, parse_login

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
        ("null", "not a login: JSON null instead of an object"),
        ('["199.172.111.135"]', "not a login: JSON array instead of an object"),
        (body(user_id="u" * 129), "user_id: longer than 128"),
        (body(device_type="d" * 33), "device_type: longer than 32"),
        (body(locale="l" * 33), "locale: longer than 32"),
        (body(user_id="a\x00b"), "user_id: contains a NUL"),
        (body(ip="199.172.\x00111.135"), "ip: contains a NUL"),
        (body(device_id="593-\ud800"), "device_id: contains a NUL or lone surrogate"),
        (body(locale="\udfff"), "locale: contains a NUL or lone surrogate"),
        (body(app_version="latest"), "app_version: not a version"),
        (body(app_version="1234567890.1"), "app_version: not a version"),
        (body(app_version="1.1234567890"), "app_version: not a version"),
        (body(app_version="\u0662.3"), "app_version: not a version"),  # Arabic-Indic 2
        (body(app_version="\uff13.0"), "app_version: not a version"),  # full-width 3
        (body(app_version="2.3.0\n"), "app_version: not a version"),
        (body(app_version=" 2.3"), "app_version: not a version"),
        (body(app_version="2..3"), "app_version: not a version"),
        (body(app_version=2.3), "app_version: number instead of a string"),
        (body(ip={"v4": "199.172.111.135"}), "ip: object instead of a string"),
        (body(user_id=True), "user_id: boolean instead of a string"),
        (body(user_id=["u"]), "user_id: array instead of a string"),
        (body(user_id=" "), "user_id: empty or blank"),
        (body(device_type="\t\n"), "device_type: empty or blank"),
        (body(user_id=""), "user_id: empty or blank"),
        (body(device_type=...), "not a login: missing device_type"),
        (body(user_id=None), "not a login: missing user_id"),
        ('{"a": NaN}', "not JSON: NaN and Infinity"),
        (body()[:-1] + ', "x": -Infinity}', "not JSON: NaN and Infinity"),
        (body()[:-1] + ', "ip": "1.2.3.4"}', "not JSON: an object repeats a key"),
        ('{"a": {"b": 1, "b": 2}}', "not JSON: an object repeats a key"),
        ("1" * 5000, "not a login: a number too long to read"),
        (body()[:-1] + ', "n": ' + "9" * 10_000 + "}", "not a login: a number too long"),
        ("[" * 100_000 + "]" * 100_000, "not a login: nested too deeply to read"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "not a login: nested too deeply"),
        ("\ud800", "not JSON"),
        ("\x00", "not JSON"),
    ],
)
def test_invalid_bodies_are_rejected_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(Rejected, match=reason.replace("(", r"\(")):
        parse_login(raw)


def test_integers_are_read_as_strings() -> None:
    login = parse_login(body(user_id=42, app_version=7, device_type=1))
    assert (login["user_id"], login["app_version"], login["device_type"]) == ("42", "7", "1")


def test_extra_fields_of_a_complete_login_are_ignored() -> None:
    assert parse_login(body(**{"\ud800": "\x00", "199.172.111.135": 1})) == LOGIN


@pytest.mark.parametrize(
    "keys",
    [["199.172.111.135"], ["foo", "bar"], ["\ud800", "\x00", "593-47-5928", "a" * 500]],
)
def test_unexpected_keys_are_counted_never_named(keys: list[str]) -> None:
    with pytest.raises(Rejected) as error:
        parse_login(json.dumps(dict.fromkeys(keys, "x")))
    count = len(keys)
    assert str(error.value) == (
        "not a login: missing user_id, app_version, device_type; "
        f"{count} unexpected field{'s' if count > 1 else ''}"
    )


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
