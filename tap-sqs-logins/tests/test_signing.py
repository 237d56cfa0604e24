"""The lean calls' SigV4 headers are botocore's (``SigV4Auth``), over generated requests."""

from __future__ import annotations

import string
from datetime import datetime
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from hypothesis import given
from hypothesis import strategies as st

from tap_sqs_logins.sqs import signing
from tap_sqs_logins.sqs.signing import RequestSigner

SPACED = st.text(" \taB1-_.~!$'()*+,;:@/=", max_size=20)  # runs of blanks to trim
PATH_SEGMENT = st.text(string.ascii_letters + string.digits + "-_.~%!$'()*+,;=:@ ", max_size=12)

urls = st.builds(
    lambda scheme, host, port, segments, query: (
        f"{scheme}://{host}{'' if port is None else f':{port}'}/{'/'.join(segments)}"
        + (f"?{'&'.join(f'{k}={v}' for k, v in query)}" if query else "")
    ),
    st.sampled_from(["http", "https"]),
    st.sampled_from(
        ["localhost", "127.0.0.1", "[::1]", "sqs.eu-west-1.amazonaws.com", "SQS.Local"]
    ),
    st.sampled_from([None, 80, 443, 4566]),
    st.lists(PATH_SEGMENT, max_size=3),
    st.lists(
        st.tuples(st.text(string.ascii_lowercase, min_size=1, max_size=4), PATH_SEGMENT), max_size=3
    ),
)
credentials = st.builds(
    ReadOnlyCredentials,
    st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=20),
    st.text(string.printable.strip(), min_size=1, max_size=40),
    st.none() | st.text(string.ascii_letters + "+/= \t", min_size=1, max_size=60),
)
headers = st.fixed_dictionaries(
    {
        "X-Amz-Target": st.sampled_from(
            ["AmazonSQS.ReceiveMessage", "AmazonSQS.DeleteMessageBatch"]
        ),
        "Content-Type": st.just("application/x-amz-json-1.0"),
        "x-amzn-query-mode": SPACED,
        "User-Agent": SPACED,
    }
)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))


@given(
    url=urls,
    region=st.sampled_from(["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"]),
    credentials=credentials,
    headers=headers,
    body=st.binary(max_size=200),
    now=moments,
    later=moments,
)
def test_headers_are_botocores(
    url: str,
    region: str,
    credentials: ReadOnlyCredentials,
    headers: dict[str, str],
    body: bytes,
    now: datetime,
    later: datetime,
) -> None:
    """The same signer gives botocore's headers on each call, across days and secrets."""
    signer = RequestSigner(url, region)
    for moment, keys in (
        (now, credentials),
        (later, credentials),
        (later, credentials._replace(secret_key="other")),
    ):
        with pytest.MonkeyPatch.context() as patch:
            for module in (signing, __import__("botocore.auth").auth):
                patch.setattr(module, "get_current_datetime", lambda moment=moment: moment)
            ours = signer.headers(keys, headers, body)
            request = AWSRequest("POST", url, data=body, headers=dict(headers))
            SigV4Auth(keys, "sqs", region).add_auth(request)
        theirs: dict[str, Any] = dict(request.headers.items())
        assert ours == theirs
