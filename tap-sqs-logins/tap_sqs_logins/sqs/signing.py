"""SigV4 for the lean calls: the headers botocore's ``SigV4Auth`` adds, for a quarter of its CPU.

Every lean request is a POST of a JSON body to one endpoint URL, so what the signature
needs of the URL (canonical path and query, the host) is worked out once per endpoint, and
the signing key once per day and secret. The rest follows ``SigV4Auth.add_auth`` step by
step (its blacklist of unsigned headers, the trimmed header values, the payload's SHA-256,
botocore's clock); tests check the result against it over generated requests.
"""

from __future__ import annotations

import hmac
from hashlib import sha256
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SIGV4_TIMESTAMP, _host_from_url
from botocore.compat import get_current_datetime
from botocore.utils import normalize_url_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from botocore.credentials import ReadOnlyCredentials

UNSIGNED = frozenset(SIGNED_HEADERS_BLACKLIST)


class RequestSigner:
    """Signs POST requests to one endpoint URL for one region and service."""

    def __init__(self, url: str, region: str, service: str = "sqs") -> None:
        """Work out the URL's canonical path, query and host (as ``SigV4Auth`` does)."""
        parts = urlsplit(url)
        self._path = quote(normalize_url_path(parts.path), safe="/~")
        pairs = sorted(pair.partition("=")[::2] for pair in parts.query.split("&") if parts.query)
        self._query = "&".join(f"{key}={value}" for key, value in pairs)
        self._host = _host_from_url(url)
        self._scope = f"{region}/{service}/aws4_request"
        self._region, self._service = region, service
        self._key: tuple[str, str, bytes] = ("", "", b"")  # secret, day, signing key

    def headers(
        self, credentials: ReadOnlyCredentials, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """Return ``headers`` with ``X-Amz-Date``, any session token, and ``Authorization``."""
        timestamp = get_current_datetime().strftime(SIGV4_TIMESTAMP)
        signed = {**headers, "X-Amz-Date": timestamp}
        if credentials.token:
            signed["X-Amz-Security-Token"] = credentials.token
        canonical = {
            name.lower(): " ".join(value.split())
            for name, value in signed.items()
            if name.lower() not in UNSIGNED
        }
        canonical.setdefault("host", self._host)
        names = sorted(canonical)
        signed_names = ";".join(names)
        request = "\n".join(
            [
                "POST",
                self._path,
                self._query,
                "".join(f"{name}:{canonical[name]}\n" for name in names),
                signed_names,
                sha256(body).hexdigest(),
            ]
        )
        scope = f"{timestamp[:8]}/{self._scope}"
        to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{sha256(request.encode()).hexdigest()}"
        signature = hmac.new(
            self._signing_key(credentials.secret_key, timestamp[:8]), to_sign.encode(), sha256
        ).hexdigest()
        signed["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return signed

    def _signing_key(self, secret: str, day: str) -> bytes:
        cached_secret, cached_day, key = self._key
        if cached_secret == secret and cached_day == day:
            return key
        key = f"AWS4{secret}".encode()
        for part in (day, self._region, self._service, "aws4_request"):
            key = hmac.new(key, part.encode(), sha256).digest()
        self._key = (secret, day, key)
        return key
