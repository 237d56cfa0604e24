"""The project's test harness: services, a user's shell, Meltano jobs, the orchestrators.

tests/conftest.py registers its fixtures and the markers they imply; the tap's own helpers
(an in-process SQS, sample logins, hostile bodies) ship with the tap as
``tap_sqs_logins.testing``.
"""
