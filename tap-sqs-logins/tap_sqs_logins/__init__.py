"""Singer tap for user-login events on an AWS SQS queue."""
