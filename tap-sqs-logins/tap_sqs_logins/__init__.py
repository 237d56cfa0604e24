"""Singer tap for user-login events on an AWS SQS queue."""

__version__ = "0.3.0"
