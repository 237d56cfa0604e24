"""The optional sealed copy: only the private key's holder recovers the originals."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from singer_sdk.exceptions import ConfigValidationError

from tap_sqs_logins.privacy.sealing import OAEP, Sealer, unseal
from tap_sqs_logins.testing import MASKING_MAPS, records, rsa_key_pair, run_tap

SEALED_MAP = {
    "__source__": "logins",
    "__else__": "__NULL__",
    "__key_properties__": ["message_id"],
    "message_id": "message_id",
    "sealed_ip": "seal(ip)",
    "sealed_device_id": "seal(device_id)",
}


@pytest.fixture(scope="module")
def key_pair() -> tuple[bytes, str]:
    return rsa_key_pair()


def test_sealed_values_open_only_with_the_private_key(key_pair: tuple[bytes, str]) -> None:
    private, public = key_pair
    sealed = Sealer(public)("199.172.111.135") or ""
    assert "199.172" not in sealed
    assert unseal(private, sealed) == "199.172.111.135"
    assert Sealer(public)("199.172.111.135") != sealed  # randomised: hides duplicates


@pytest.mark.parametrize("length", [0, 1, 190, 191, 10_000, 300_000])
def test_values_of_any_length_are_sealed_and_opened(
    key_pair: tuple[bytes, str], length: int
) -> None:
    private, public = key_pair
    value = ("593-47-5928-ü€😀" * (length // 15 + 1))[:length]
    sealed = Sealer(public)(value) or ""
    assert sealed.startswith("v2:") and "593-47" not in sealed
    assert unseal(private, sealed) == value


def test_a_value_without_the_v2_format_is_refused(key_pair: tuple[bytes, str]) -> None:
    private, public = key_pair
    key = serialization.load_pem_public_key(public.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    bare = base64.b64encode(key.encrypt(b"10.1.2.3", OAEP)).decode()  # RSA-OAEP, no format
    with pytest.raises(ValueError, match="not a sealed value: expected v2:"):
        unseal(private, bare)


def test_an_altered_or_malformed_sealed_value_is_refused(key_pair: tuple[bytes, str]) -> None:
    private, public = key_pair
    version, wrapped, nonce, _ = (Sealer(public)("10.1.2.3") or "").split(":")
    altered = ":".join([version, wrapped, nonce, base64.b64encode(b"x" * 24).decode()])
    for sealed in (altered, "v3:a:b:c", "v2:a:b", "v2:AAAA:AAAA:AAAA"):
        with pytest.raises(ValueError):
            unseal(private, sealed)


def test_a_weak_or_malformed_public_key_is_refused() -> None:
    for bad in (rsa_key_pair(1024)[1], "not a key"):
        with pytest.raises(ValueError, match="seal_public_key must be a PEM RSA public key"):
            Sealer(bad)


def test_the_tap_emits_a_sealed_stream_apart_from_logins(
    sqs: Any, queue_url: str, config: dict[str, Any], key_pair: tuple[bytes, str]
) -> None:
    private, public = key_pair
    login = {
        "user_id": "u1",
        "app_version": "1.0",
        "device_type": "ios",
        "ip": "10.1.2.3",
        "locale": None,
        "device_id": "111-22-3333",
    }
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(login))
    config.update(seal_public_key=public, stream_maps={**MASKING_MAPS, "sealed_logins": SEALED_MAP})
    messages = run_tap(config)
    schema = next(m for m in messages if m["type"] == "SCHEMA" and m["stream"] == "sealed_logins")
    assert schema["key_properties"] == ["message_id"]
    sealed = next(r for r in records(messages, "sealed_logins"))
    assert set(sealed) == {"message_id", "sealed_ip", "sealed_device_id"}
    assert unseal(private, sealed["sealed_ip"]) == "10.1.2.3"
    assert unseal(private, sealed["sealed_device_id"]) == "111-22-3333"
    assert "10.1.2.3" not in json.dumps(records(messages, "logins"))


def test_seal_without_a_public_key_is_refused(
    sqs: Any, queue_url: str, config: dict[str, Any]
) -> None:
    config["stream_maps"] = {**MASKING_MAPS, "sealed_logins": SEALED_MAP}
    with pytest.raises(ConfigValidationError, match="seal_public_key is not set"):
        run_tap(config)


UNSEAL = Path(sys.executable).parent / "tap-sqs-logins-unseal"


def unseal_command(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run the documented command from a scrubbed environment."""
    env = {"HOME": os.environ.get("HOME", "/"), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(UNSEAL), *args], input=stdin, capture_output=True, env=env, check=False, timeout=60
    )


@pytest.fixture(scope="module")
def private_key_file(key_pair: tuple[bytes, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "private.pem"
    path.write_bytes(key_pair[0])
    return path


def test_unseal_reports_each_bad_value_and_opens_the_rest(
    key_pair: tuple[bytes, str], private_key_file: Path
) -> None:
    public = key_pair[1]
    version, wrapped, nonce, _ = (Sealer(public)("10.9.8.7") or "").split(":")
    altered = ":".join([version, wrapped, nonce, base64.b64encode(b"x" * 24).decode()])
    lines = [
        Sealer(public)("10.1.2.3"),
        "not sealed at all",
        altered,
        Sealer(rsa_key_pair()[1])("10.5.5.5"),  # another key's
        "",
        Sealer(public)("593-47-5928"),
        "v2:a:b",
    ]
    stdin = "\n".join(line or "" for line in lines).encode() + b"\n\xff\xfe\n"
    result = unseal_command("--private-key", str(private_key_file), stdin=stdin)
    assert result.returncode == 1
    out = result.stdout.decode().split("\n")
    assert out[:8] == ["10.1.2.3", "", "", "", "", "593-47-5928", "", ""]
    errors = result.stderr.decode()
    assert [line.split(":")[0] for line in errors.splitlines()[:-1]] == [
        "line 2",
        "line 3",
        "line 4",
        "line 7",
        "line 8",
    ]
    assert "5 of the values did not open" in errors.splitlines()[-1]
    assert "Traceback" not in errors and "10.9.8.7" not in errors and "10.5.5.5" not in errors
    assert "PRIVATE KEY" not in errors and key_pair[0].decode().splitlines()[1] not in errors


def test_unseal_values_as_arguments_exit_zero_when_all_open(
    key_pair: tuple[bytes, str], private_key_file: Path
) -> None:
    values = [Sealer(key_pair[1])(v) or "" for v in ("a", "b")]
    result = unseal_command("--private-key", str(private_key_file), *values)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"a\nb\n", b"")
    result = unseal_command("--private-key", str(private_key_file), values[0], "x", values[1])
    assert result.returncode == 1 and result.stdout == b"a\n\nb\n"
    assert result.stderr.decode().startswith("argument 2: not a sealed value")


@pytest.mark.parametrize("content", [None, b"not a key", b"PUBLIC"])
def test_unseal_refuses_a_bad_key_file_naming_the_option(
    key_pair: tuple[bytes, str], tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(key_pair[1].encode() if content == b"PUBLIC" else content)
    result = unseal_command("--private-key", str(path), "v2:AAAA:AAAA:AAAA")
    assert result.returncode == 2 and result.stdout == b""
    assert f"--private-key {path}: " in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()
