"""Acknowledging: the modes that delete from SQS, the receipt journal, the dead-letter queue."""
