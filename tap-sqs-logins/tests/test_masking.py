"""The keyed pseudonym: one per address and field, bound to its key, never an unkeyed hash."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError

from tap_sqs_logins.privacy.masking import Pseudonymizer, canonical_ip, key_id
from tap_sqs_logins.tap import TapSqsLogins

KEY = "unit-test-key-0123456789"
MASK = Pseudonymizer(KEY)
ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
addresses = st.one_of(ipv4, ipv6)


def spellings(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> st.SearchStrategy[str]:
    """Textual forms that name ``address``; each is normalised to one mask."""
    if isinstance(address, ipaddress.IPv4Address):
        number, octets = int(address), address.packed
        mapped = ipaddress.IPv6Address(0xFFFF << 32 | number)
        return st.sampled_from(
            [
                str(address),
                str(number),
                hex(number),
                hex(number).upper().replace("X", "x"),
                f"{octets[0]}.{octets[1]}.{int.from_bytes(octets[2:], 'big')}",
                f"{octets[0]}.{int.from_bytes(octets[1:], 'big')}",
                ".".join(hex(octet) for octet in octets),
                f"::ffff:{address}",
                f"::FFFF:{address}",
                mapped.exploded,
                mapped.compressed.upper(),
            ]
        )
    groups = address.exploded.split(":")
    return st.sampled_from(
        [
            address.compressed,
            address.exploded,
            address.exploded.upper(),
            ":".join(group.lstrip("0") or "0" for group in groups),
            ":".join(group.lstrip("0").upper() or "0" for group in groups),
        ]
    )


@given(address=addresses, data=st.data())
def test_every_spelling_of_an_address_masks_alike(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, data: st.DataObject
) -> None:
    spelled = data.draw(spellings(address))
    assert MASK("ip", spelled) == MASK("ip", str(address))


@given(first=addresses, second=addresses)
def test_different_addresses_mask_differently(
    first: ipaddress.IPv4Address | ipaddress.IPv6Address,
    second: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    def host(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> object:
        mapped = getattr(address, "ipv4_mapped", None)
        return mapped or address

    if host(first) != host(second):
        assert MASK("ip", str(first)) != MASK("ip", str(second))


@given(value=st.text(max_size=60), field=st.sampled_from(["user_id", "device_id", "locale"]))
def test_fields_are_separate_domains(value: str, field: str) -> None:
    assert MASK("ip", value) != MASK(field, value)
    assert MASK(field, value) == Pseudonymizer(KEY)(field, value)


@given(value=st.text(max_size=60), field=st.sampled_from(["ip", "device_id", "user_id"]))
def test_other_fields_and_non_addresses_are_hashed_as_they_are(value: str, field: str) -> None:
    if field == "ip" and _is_address(value):
        return
    message = b"\0".join(
        [b"tap-sqs-logins mask m2", field.encode(), value.encode("utf-8", "surrogatepass")]
    )
    digest = hmac.new(KEY.encode(), message, hashlib.sha256).hexdigest()
    assert MASK(field, value) == f"m2:{key_id(KEY)}:{digest}"


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(re.fullmatch(r"[0-9a-fA-FxX.]+", value))
    return True


@pytest.mark.parametrize(
    ("spelled", "canonical"),
    [
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("::ffff:c000:0201", "192.0.2.1"),
        ("3221225985", "192.0.2.1"),
        ("0xC0000201", "192.0.2.1"),
        ("192.0.513", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1%eth0"),  # the zone names an interface: kept
        ("::192.0.2.1", "::c000:201"),  # IPv4-compatible (deprecated), not IPv4-mapped
        ("010.0.0.1", "010.0.0.1"),  # octal to inet_aton(), decimal to people: as is
        ("192.168.1.256", "192.168.1.256"),
        ("4294967296", "4294967296"),
        (" 192.0.2.1", " 192.0.2.1"),
        ("not an address", "not an address"),
        ("9" * 5000, "9" * 5000),
    ],
)
def test_which_spellings_are_normalised(spelled: str, canonical: str) -> None:
    assert canonical_ip(spelled) == canonical


def test_mask_format_is_m2_key_id_then_hex_and_fits_the_column() -> None:
    masked = MASK("ip", "593-47-5928") or ""
    assert re.fullmatch(rf"m2:{key_id(KEY)}:[0-9a-f]{{64}}", masked)
    assert len(masked) == 76


def test_the_hash_input_is_format_field_and_value() -> None:
    message = b"tap-sqs-logins mask m2\0device_id\0abc"
    digest = hmac.new(KEY.encode(), message, hashlib.sha256).hexdigest()
    assert MASK("device_id", "abc") == f"m2:{key_id(KEY)}:{digest}"


def test_a_rotated_key_changes_the_key_id_and_every_mask() -> None:
    old, new = MASK("ip", "1.2.3.4") or "", Pseudonymizer(KEY + "-rotated")("ip", "1.2.3.4") or ""
    assert old.rsplit(":", 1)[0] != new.rsplit(":", 1)[0] and old != new


def test_the_key_version_is_bound_to_its_key() -> None:
    assert Pseudonymizer(KEY, key_id(KEY))("ip", "1.2.3.4") == MASK("ip", "1.2.3.4")
    for label, key in [("v2", KEY), (key_id(KEY), KEY + "-rotated")]:
        with pytest.raises(ValueError, match=r"mask_key_version is .* but mask_key has the id"):
            Pseudonymizer(key, label)


def test_the_tap_refuses_a_key_version_of_another_key() -> None:
    config = {
        "queue_url": "http://localhost:4566/000000000000/login-queue",
        "mask_key": KEY + "-rotated",
        "mask_key_version": key_id(KEY),
        "stream_maps": {"logins": {"masked_ip": "mask(ip)", "ip": None, "device_id": None}},
    }
    with pytest.raises(ConfigValidationError) as error:
        TapSqsLogins(config=config)
    assert "mask_key_version" in error.value.errors[0]
    assert KEY not in " ".join(error.value.errors)


def test_null_stays_null() -> None:
    assert MASK("ip", None) is None


def test_mask_is_not_an_unkeyed_hash() -> None:
    masked = MASK("ip", "1.2.3.4") or ""
    assert hashlib.sha256(b"1.2.3.4").hexdigest() not in masked


@pytest.mark.parametrize(
    "key",
    [
        "short",
        " " * 16,
        " " * 40,
        " unit-test-key-0123456789",
        "unit-test-key-0123456789\n",
        "a" * 64,
        "abcdefg" * 4,  # 7 different characters
        "0123456789abcde",  # 15 characters
        1234567890123456789,
    ],
)
def test_weak_keys_are_refused_naming_the_setting_never_the_key(key: object) -> None:
    with pytest.raises(ValueError, match=r"mask_key \(TAP_SQS_LOGINS_MASK_KEY\) must be") as error:
        Pseudonymizer(key)  # type: ignore[arg-type]
    assert not str(key).strip() or str(key).strip() not in str(error.value)


@pytest.mark.parametrize("key", [" " * 16, "abcdefg" * 4, "k3y-s3cr3t"])
def test_the_tap_refuses_a_weak_key_without_echoing_it(key: str) -> None:
    with pytest.raises(ConfigValidationError) as error:
        TapSqsLogins(config={"mask_key": key, "stream_maps": {}, "allow_raw_pii": True})
    text = " ".join([str(error.value), *error.value.errors])
    assert "TAP_SQS_LOGINS_MASK_KEY" in text
    assert repr(key) not in text and (not key.strip() or key not in text)


def test_schema_errors_never_echo_a_secret() -> None:
    config = {"mask_key": KEY, "aws_secret_access_key": ["not-a-string-secret"]}
    with pytest.raises(ConfigValidationError) as error:
        TapSqsLogins(config=config)
    assert error.value.errors and "not-a-string-secret" not in " ".join(error.value.errors)


def test_repr_never_shows_the_key() -> None:
    assert KEY not in repr(MASK)
