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
import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag
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


def unseal(private_key_pem: bytes, sealed: str) -> str:
    """Recover the original of one sealed value (either format) with the private key.

    Raises:
        ValueError: If the key is not an RSA private key or the value is malformed.
    """
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        msg = "the private key is not an RSA key"
        raise ValueError(msg)
    version, *parts = sealed.split(":")
    if not parts:  # the first format: the value itself, RSA-OAEP
        return key.decrypt(base64.b64decode(sealed), OAEP).decode()
    if version != VERSION or len(parts) != 3:
        msg = f"not a sealed value: expected {VERSION}:<key>:<nonce>:<ciphertext>"
        raise ValueError(msg)
    wrapped, nonce, ciphertext = (base64.b64decode(part) for part in parts)
    try:
        return AESGCM(key.decrypt(wrapped, OAEP)).decrypt(nonce, ciphertext, AAD).decode()
    except InvalidTag:
        msg = "the sealed value does not open with this key (altered, or another key's)"
        raise ValueError(msg) from None


def main() -> None:
    """Print the original of each sealed value given as argument or on standard input."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--private-key", type=Path, required=True, help="PEM file, unencrypted")
    parser.add_argument("values", nargs="*", help="sealed values; default: one per input line")
    args = parser.parse_args()
    pem = args.private_key.read_bytes()
    for sealed in args.values or (line.strip() for line in sys.stdin if line.strip()):
        print(unseal(pem, sealed))
