"""The keyed pseudonym: deterministic per key, different across keys, versioned."""

from __future__ import annotations

import re

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_sqs_logins.masking import Pseudonymizer
from tap_sqs_logins.tap import TapSqsLogins

KEY = "unit-test-key-0123456789"


def test_equal_inputs_give_equal_masks_across_instances() -> None:
    assert Pseudonymizer(KEY, "v1")("199.172.111.135") == Pseudonymizer(KEY, "v1")(
        "199.172.111.135"
    )


def test_mask_format_is_version_key_id_then_hex_and_fits_the_column() -> None:
    masked = Pseudonymizer(KEY, "v7")("593-47-5928")
    assert re.fullmatch(r"v7\.[0-9a-f]{8}:[0-9a-f]{64}", masked or "")
    assert len(Pseudonymizer(KEY, "v" * 32)("593-47-5928") or "") <= 256


def test_a_rotated_key_is_visible_even_under_the_same_version_label() -> None:
    old = Pseudonymizer(KEY, "v1")("1.2.3.4") or ""
    new = Pseudonymizer(KEY + "-rotated", "v1")("1.2.3.4") or ""
    assert old.split(":")[0] != new.split(":")[0]
    assert old.split(":")[0] == (Pseudonymizer(KEY, "v1")("5.6.7.8") or "").split(":")[0]


@pytest.mark.parametrize(
    ("key_a", "version_a", "key_b", "version_b"),
    [(KEY, "v1", KEY + "x", "v1"), (KEY, "v1", KEY, "v2")],
)
def test_a_new_key_or_version_never_reproduces_old_masks(
    key_a: str, version_a: str, key_b: str, version_b: str
) -> None:
    assert Pseudonymizer(key_a, version_a)("1.2.3.4") != Pseudonymizer(key_b, version_b)("1.2.3.4")


def test_different_inputs_give_different_masks() -> None:
    mask = Pseudonymizer(KEY, "v1")
    assert mask("1.2.3.4") != mask("1.2.3.5")


def test_null_stays_null() -> None:
    assert Pseudonymizer(KEY, "v1")(None) is None


def test_mask_is_not_an_unkeyed_hash() -> None:
    import hashlib

    masked = Pseudonymizer(KEY, "v1")("1.2.3.4") or ""
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
        Pseudonymizer(key, "v1")  # type: ignore[arg-type]
    assert not str(key).strip() or str(key).strip() not in str(error.value)


@pytest.mark.parametrize("version", ["has space", "", "v1\n", "v" * 33])
def test_a_malformed_key_version_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match="mask_key_version must match"):
        Pseudonymizer(KEY, version)


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
    assert KEY not in repr(Pseudonymizer(KEY, "v1"))
