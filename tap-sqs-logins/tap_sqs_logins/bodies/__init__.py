"""Judging a message body: a login, an envelope around one, or a rejection with its reason."""
