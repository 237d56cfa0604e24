"""Optional sealed copies of personal data: encrypted to a public key, opened only elsewhere.

The pipeline holds only the public key, so it can seal but never unseal. ``seal(value)``
is RSA-OAEP with SHA-256 and returns base64 text (randomised: equal inputs give
different outputs, so sealed values reveal nothing, not even duplicates). The holder of
the private key recovers originals with ``tap-sqs-logins-unseal``.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MIN_KEY_BITS = 2048
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


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
        """Return ``value`` sealed as base64; ``None`` stays ``None``."""
        if value is None:
            return None
        return base64.b64encode(self._key.encrypt(value.encode(), OAEP)).decode()


def unseal(private_key_pem: bytes, sealed: str) -> str:
    """Recover the original of one sealed value with the private key."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        msg = "the private key is not an RSA key"
        raise ValueError(msg)
    return key.decrypt(base64.b64decode(sealed), OAEP).decode()


def main() -> None:
    """Print the original of each sealed value given as argument or on standard input."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--private-key", type=Path, required=True, help="PEM file, unencrypted")
    parser.add_argument("values", nargs="*", help="sealed values; default: one per input line")
    args = parser.parse_args()
    pem = args.private_key.read_bytes()
    for sealed in args.values or (line.strip() for line in sys.stdin if line.strip()):
        print(unseal(pem, sealed))
