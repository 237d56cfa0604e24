"""The embedded default: local SQS and PostgreSQL for `make run` and the tests.

When the reference Docker set-up (LocalStack on :4566, postgres on :5432) is not running,
`python -m localenv up` starts a moto SQS server and a private PostgreSQL in their place.
"""

from __future__ import annotations


class LocalEnvError(RuntimeError):
    """A local service could not be found or started; the message names the setting to fix."""
