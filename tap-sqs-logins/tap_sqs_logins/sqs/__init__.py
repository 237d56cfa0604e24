"""SQS I/O: the client, the AWS session, batches of ten, receiving, heartbeats, in-flight budget."""
