"""The job's loader: target-postgres, with the check before it and the acknowledgement beside it.

Meltano starts this in place of ``target-postgres``, with the same arguments. It starts the
real ``target-postgres``, checks the database and the tap's queues meanwhile, then feeds it
the tap's messages (its output, STATE included, goes straight to Meltano) and deletes from
SQS what it commits while it loads. Behind any other tap, or for ``--about`` and the like,
it is plain target-postgres.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import logging.config
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import psycopg
import yaml
from singer_sdk.exceptions import ConfigValidationError

from sqs_ack import acknowledge, dbt_handoff, preflight
from sqs_ack.derived import DerivedStreamError, derived_streams
from sqs_ack.segments import FEED_POLL_SECONDS, SegmentedTarget
from sqs_ack.target_settings import SettingError, TargetSettings
from sqs_ack.unloaded import READ_SECONDS, Unloaded, offer_again
from tap_sqs_logins import Heartbeat, QueueError, SqsQueue, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType


logger = logging.getLogger("sqs-ack")
# target-postgres itself, reading its input with msgspec (sqs_ack/msgspec_target.py), behind
# tap-sqs-logins (its msgspec writer); behind any other tap, plain target-postgres, whose json
# reader also takes what msgspec refuses (NaN, Infinity: Python's json.dumps writes them).
TARGET = Path(sys.executable).with_name("target-postgres-msgspec")
PLAIN_TARGET = Path(sys.executable).with_name("target-postgres")
# Meltano names the run's extractor in MELTANO_EXTRACTOR_NAMESPACE: the tap's own namespace, or
# for a variant `tap-sqs-logins--NAME` (inherit_from) its own derived one, tap_sqs_logins__name.
TAP_NAMESPACE = "tap_sqs_logins"
PR_SET_PDEATHSIG = 1


def main() -> None:
    """Run target-postgres with the check and the acknowledgement, or plainly."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config", action="append", type=Path, default=[])
    parser.add_argument("--tap-config", action="append", type=Path, default=[])
    known, rest = parser.parse_known_args()
    target_args = [arg for path in known.config for arg in ("--config", str(path))] + rest
    behind_the_tap = is_the_tap(os.environ.get("MELTANO_EXTRACTOR_NAMESPACE", ""))
    if not known.config or not (known.tap_config or behind_the_tap):
        dbt_handoff.forget()  # a note of an earlier load would not be about this one
        os.execv(PLAIN_TARGET, [str(PLAIN_TARGET), *target_args])  # noqa: S606 - the same venv's
    _setup_logging()
    # target-postgres starts while the check runs, and reads its input only once it passed.
    target = SegmentedTarget([str(TARGET), *target_args], _die_with_parent)
    _on_stop_signals(_stop)
    tap_config = _tap_config(known.tap_config)
    try:
        settings = TargetSettings.read(known.config)
        preflight.check_acknowledgement(tap_config)
        preflight.check_postgres(settings.conninfo)
        preflight.check_queues(tap_config)
        derived_streams(tap_config)
    except (SettingError, preflight.PreflightError, DerivedStreamError) as error:
        target.kill()
        logger.error("%s", error)
        offer_again(sys.stdin.buffer, tap_config)
        raise SystemExit(1) from None
    except Stopped:
        target.kill()
        offer_again(sys.stdin.buffer, tap_config, READ_SECONDS)  # Meltano stops the tap too
        raise
    sys.exit(_load_and_acknowledge(target, settings, tap_config))


def _setup_logging() -> None:
    """Log as target-postgres beside it does: by Meltano's ``SINGER_SDK_LOG_CONFIG``, else plainly.

    Meltano writes that file for every Singer plugin, with the SDK's JSON formatter when the
    plugin declares ``structured-logging`` (meltano.yml); it then parses each line at its level
    and renders it in its own ``--log-format``. Uncaught errors and warnings are logged too.
    """
    config_path = os.environ.get("SINGER_SDK_LOG_CONFIG")
    if config_path:
        logging.config.dictConfig(yaml.safe_load(Path(config_path).read_text()))
    else:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s | %(levelname)-8s | %(name)s | %(message)s"
        )
    logging.captureWarnings(capture=True)
    sys.excepthook = _log_uncaught


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    logger.error("stopped by %s: %s", kind.__name__, error, exc_info=(kind, error, traceback))


def is_the_tap(namespace: str) -> bool:
    """Whether Meltano's extractor namespace is tap-sqs-logins's or one of its variants'."""
    return namespace == TAP_NAMESPACE or namespace.startswith(f"{TAP_NAMESPACE}__")


def _tap_config(paths: list[Path]) -> Mapping[str, Any]:
    """The tap's settings: ``--tap-config`` files, or its variables behind it in Meltano."""
    try:
        config: Mapping[str, Any] = load_settings(paths)
    except ConfigValidationError as error:
        _fail(f"tap-sqs-logins settings: {'; '.join(error.errors)}")
    return config


def _load_and_acknowledge(
    target: SegmentedTarget, settings: TargetSettings, tap_config: Mapping[str, Any]
) -> int:
    """Feed target-postgres its input, acknowledging while it loads; return its exit status.

    Until its outcome is committed, a heartbeat keeps each message passed on hidden. If
    target-postgres or the acknowledgement fails, every message passed on whose outcome is
    not committed is offered back to SQS at once.
    """
    unloaded = Unloaded()
    feed = threading.Thread(target=target.feed, args=(sys.stdin.fileno(), unloaded.watch))
    feed.daemon = True
    feed.start()
    try:  # from here on, records are passed on: a stop or failure offers them back
        source = SqsQueue(tap_config, tap_config["queue_url"])
        heartbeat = Heartbeat(
            source,
            lambda: unloaded.handles(source.queue_url),
            tap_config["visibility_timeout"],
            tap_config["receive_concurrency"],
            logger,
        )
        with heartbeat:  # it stops before anything is offered back
            outcomes = acknowledge.follow(settings, tap_config, target.running, unloaded.settled)
    except Stopped:
        # The tap may have ended already (it offers back only what it has not sent).
        target.kill()
        target.wait()
        _offer_back(feed, unloaded, tap_config)
        raise
    except (QueueError, DerivedStreamError, psycopg.Error) as error:
        target.wait()
        _offer_back(feed, unloaded, tap_config)
        first_line = (str(error).strip() or type(error).__name__).splitlines()[0]
        _fail(f"acknowledgement stopped, messages stay on the queue: {first_line}")
    logger.info(
        "Acknowledged staged messages: %s.",
        ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "none",
    )
    status = target.wait()
    if status != 0:
        _offer_back(feed, unloaded, tap_config)
    else:
        dbt_handoff.leave(settings)
    return status


def _offer_back(feed: threading.Thread, unloaded: Unloaded, tap_config: Mapping[str, Any]) -> None:
    """Once the feed has stopped, make the messages not committed visible again.

    A stop meanwhile (Ctrl-C while a failed load is offered back) is logged, not obeyed: the
    run ends right after, and cutting this short would leave the messages hidden.
    """
    _on_stop_signals(_stopping)
    feed.join(READ_SECONDS + 2 * FEED_POLL_SECONDS)
    if offered := unloaded.offer_again(tap_config):
        logger.warning(
            "target-postgres did not commit %d messages it was sent: offered back to SQS.",
            offered,
        )


class Stopped(SystemExit):
    """SIGTERM or SIGINT: stop at once, as a Singer SDK plugin does (exit status 0)."""


def _stop(signum: int, _: object) -> NoReturn:
    """Stop at once on SIGTERM or SIGINT.

    While loading, target-postgres is stopped first and what it did not commit is offered
    back to SQS; before that (the check), the tap's run offers back what it received.
    """
    logger.info("Stopping on %s.", signal.Signals(signum).name)
    # Ctrl-C signals the whole process group and Meltano then sends SIGTERM too: a second
    # signal must not cut short the offer-back (bounded: READ_SECONDS and SQS's timeouts).
    _on_stop_signals(_stopping)
    raise Stopped(0)


def _on_stop_signals(handler: Callable[[int, Any], None]) -> None:
    """Handle SIGTERM and SIGINT (Ctrl-C, `docker stop`, Meltano's stop) with ``handler``."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)


def _stopping(signum: int, _: object) -> None:
    """A signal once stopping: the offer-back goes on."""
    logger.info("Already stopping: %s ignored.", signal.Signals(signum).name)


def _die_with_parent() -> None:
    """Have Linux stop target-postgres if this process dies first (elsewhere: no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _fail(message: str) -> NoReturn:
    logger.error("%s", message)
    raise SystemExit(1)
