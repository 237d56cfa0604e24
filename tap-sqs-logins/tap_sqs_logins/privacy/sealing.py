"""Optional sealed copies of personal data: encrypted to a public key, opened only elsewhere.

The pipeline holds only the public key, so it can seal but never unseal. ``seal(value)``
encrypts a value of any length: a fresh AES-256-GCM key encrypts the value, and RSA-OAEP
with SHA-256 wraps that key. A sealed value reads ``v2:<wrapped key>:<nonce>:<ciphertext>``
(each part base64), and is randomised: equal inputs give different outputs, so sealed
values reveal nothing, not even duplicates. The holder of the private key recovers
originals with ``tap-sqs-logins-unseal``, which also opens the older pure RSA-OAEP values
(plain base64, values of at most 190 bytes).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MIN_KEY_BITS = 2048
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
VERSION = "v2"
AAD = b"tap-sqs-logins seal v2"  # binds the ciphertext to this format


class Sealer:
    """Encrypts strings to one RSA public key."""

    def __init__(self, public_key_pem: str) -> None:
        """Load the public key.

        Raises:
            ValueError: If it is not an RSA public key of at least 2048 bits.
        """
        msg = f"seal_public_key must be a PEM RSA public key of at least {MIN_KEY_BITS} bits"
        try:
            key = serialization.load_pem_public_key(public_key_pem.encode())
        except ValueError:
            raise ValueError(msg) from None
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_KEY_BITS:
            raise ValueError(msg)
        self._key = key

    def __call__(self, value: str | None) -> str | None:
        """Return ``value`` sealed (``v2:…``); ``None`` stays ``None``."""
        if value is None:
            return None
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        ciphertext = AESGCM(data_key).encrypt(nonce, str(value).encode(), AAD)
        parts = (self._key.encrypt(data_key, OAEP), nonce, ciphertext)
        return ":".join([VERSION, *(base64.b64encode(part).decode() for part in parts)])


def load_private_key(private_key_pem: bytes) -> rsa.RSAPrivateKey:
    """Load the private key that opens sealed values.

    Raises:
        ValueError: If it is not an unencrypted PEM RSA private key (never quoting it).
    """
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        msg = "not an unencrypted PEM RSA private key"
        raise ValueError(msg)
    return key


def unseal(private_key: bytes | rsa.RSAPrivateKey, sealed: str) -> str:
    """Recover the original of one sealed value with the private key.

    Raises:
        ValueError: If the key is not an RSA private key, or the value does not open with
            it; the reason never quotes the key or an original.
    """
    if isinstance(private_key, bytes):
        private_key = load_private_key(private_key)
    version, *parts = sealed.split(":")
    if version != VERSION or len(parts) != 3:
        msg = f"not a sealed value: expected {VERSION}:<key>:<nonce>:<ciphertext>"
        raise ValueError(msg)
    wrapped, nonce, ciphertext = (_base64(part) for part in parts)
    try:
        data = AESGCM(private_key.decrypt(wrapped, OAEP)).decrypt(nonce, ciphertext, AAD)
    except (ValueError, InvalidTag):
        msg = "the sealed value does not open with this key (altered, or another key's)"
        raise ValueError(msg) from None
    try:
        return data.decode()
    except UnicodeDecodeError:
        msg = "the sealed value opens, but not to UTF-8 text"
        raise ValueError(msg) from None


def _base64(part: str) -> bytes:
    try:
        return base64.b64decode(part, validate=True)
    except binascii.Error:
        msg = "not a sealed value: a part is not base64"
        raise ValueError(msg) from None


def main() -> None:
    """Print the original of each sealed value given as argument or on standard input.

    Output line N belongs to input value N: a value that does not open prints an empty
    line, and its number and reason (never a key or an original) go to standard error; the
    exit status is then 1. A blank input line prints a blank line.
    """
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--private-key", type=Path, required=True, help="PEM file, unencrypted")
    parser.add_argument("values", nargs="*", help="sealed values; default: one per input line")
    args = parser.parse_args()
    try:
        key = load_private_key(args.private_key.read_bytes())
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) else error
        parser.exit(2, f"{parser.prog}: --private-key {args.private_key}: {reason}\n")
    where = "argument" if args.values else "line"
    values = args.values or sys.stdin.buffer
    failed = sum(not _print_opened(key, value, f"{where} {n}") for n, value in enumerate(values, 1))
    if failed:
        parser.exit(1, f"{parser.prog}: {failed} of the values did not open\n")


def _print_opened(key: rsa.RSAPrivateKey, value: str | bytes, where: str) -> bool:
    """Print one value's original (or an empty line); return whether it opened."""
    try:
        text = value if isinstance(value, str) else value.decode()
        print(unseal(key, text.strip()) if text.strip() else "", flush=True)
    except ValueError as error:
        reason = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else error
        print(flush=True)
        print(f"{where}: {reason}", file=sys.stderr, flush=True)
        return False
    return True
