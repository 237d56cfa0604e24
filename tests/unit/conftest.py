"""The tap's test fixtures (tap-sqs-logins/tests/tap_harness.py), for the project's unit tests."""

from __future__ import annotations

from tap_harness import config, queue_url, sqs

__all__ = ["config", "queue_url", "sqs"]
