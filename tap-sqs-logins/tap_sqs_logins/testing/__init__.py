"""Test helpers shipped with the tap, as ``singer_sdk.testing`` ships the SDK's.

They need the ``testing`` extra (``pip install 'tap-sqs-logins[testing]'``). A test suite
takes the fixtures (``sqs``, ``queue_url``, ``config``) by importing them into its
``conftest.py``; hostile bodies are in ``tap_sqs_logins.testing.hostile``.
"""

from __future__ import annotations

from tap_sqs_logins.testing.harness import (
    FOREIGN_MESSAGE,
    LOGIN,
    MASK_KEY,
    MASKING_MAPS,
    REGION,
    config,
    envelope,
    in_process_sqs,
    queue_url,
    records,
    run_tap,
    sample_logins,
    sqs,
)
from tap_sqs_logins.testing.keys import rsa_key_pair

__all__ = [
    "FOREIGN_MESSAGE",
    "LOGIN",
    "MASKING_MAPS",
    "MASK_KEY",
    "REGION",
    "config",
    "envelope",
    "in_process_sqs",
    "queue_url",
    "records",
    "rsa_key_pair",
    "run_tap",
    "sample_logins",
    "sqs",
]
