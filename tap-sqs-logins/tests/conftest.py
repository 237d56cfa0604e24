"""Fixtures of the tap's tests: an in-process SQS (moto), a queue on it, the tap's config."""

from __future__ import annotations

from tap_sqs_logins.testing import config, queue_url, sqs

__all__ = ["config", "queue_url", "sqs"]
