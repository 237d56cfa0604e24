"""The Singer SDK's standard tap tests, against moto's in-process SQS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_sqs_logins.tap import TapSqsLogins
from tap_sqs_logins.testing import MASK_KEY, MASKING_MAPS, REGION, in_process_sqs, sample_logins

if TYPE_CHECKING:
    from collections.abc import Iterator

QUEUE = "core-login-queue"
LOGINS = 40
CONFIG = {
    "queue_url": f"https://sqs.{REGION}.amazonaws.com/123456789012/{QUEUE}",
    "region": REGION,
    "wait_time_seconds": 0,
    "visibility_timeout": 30,
    "mask_key": MASK_KEY,
    "stream_maps": MASKING_MAPS,
}

TapTestClass = get_tap_test_class(
    tap_class=TapSqsLogins,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=2 * LOGINS),
)


class TestTapSqsLogins(TapTestClass):  # type: ignore[misc,valid-type]  # built at runtime
    """The standard suite; the tap leaves what it reads in flight, so each sync gets fresh logins.

    The runner syncs once for the class (``runner``) and again in ``stream_connections``.
    """

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def queue(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
        """The class's queue on moto, holding logins (and one foreign message) for the sync."""
        with in_process_sqs() as sqs, pytest.MonkeyPatch.context() as patch:
            journal = tmp_path_factory.mktemp("journal")  # the runner reads the environment
            patch.setenv("TAP_SQS_LOGINS_JOURNAL_DIR", str(journal))
            url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
            assert url == CONFIG["queue_url"]
            send(sqs, url)
            yield sqs, url

    @pytest.fixture
    def resource(self, queue: tuple[Any, str]) -> Iterator[None]:
        """Refill the queue when an earlier sync left no message visible."""
        sqs, url = queue
        visible = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        if visible == "0":
            send(sqs, url)
        yield


def send(sqs: Any, url: str) -> None:
    for body in sample_logins(LOGINS, foreign_index=12):
        sqs.send_message(QueueUrl=url, MessageBody=body)
