"""Masking and guarding PII: keyed pseudonyms, sealing, the stream-map guard and its canary."""
