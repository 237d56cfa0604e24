"""Acknowledge on SQS what target-postgres commits: the loader of the tap-sqs-logins job."""

__version__ = "0.2.0"
