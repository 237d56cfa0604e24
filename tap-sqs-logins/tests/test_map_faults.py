"""Stream maps that pass the start-up check but raise over some logins stop nothing.

The tap runs against an in-process SQS with generated logins and maps whose expressions
raise over some of them (a division by zero, ``int()`` of a junk version, an index past a
short user id, a missing key), in ``logins`` itself or in a derived stream.
Every message ends delivered, or quarantined with a reason naming the property and the
exception's type (copied to the dead-letter queue, or left for redrive); no raw ``ip`` or
``device_id`` appears in the output or the logs.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_sqs_logins.bodies.envelopes import judge_body
from tap_sqs_logins.bodies.messages import Rejected
from tap_sqs_logins.testing import MASK_KEY, MASKING_MAPS, REGION, in_process_sqs, records, run_tap

if TYPE_CHECKING:
    from collections.abc import Callable

# Each raises over some logins, and passes the start-up check: neither the canary (locale
# RU, version 2.3.0, a 36-character user id, android) nor a quarantined one (null fields).
RAISING = [
    "1 // (locale != 'US')",
    "int((app_version or '0').split('.')[0])",
    "(user_id or 'x' * 40)[20]",
    "{'android': 1, 'ios': 2, None: 0}[device_type]",
]
FEW_RUNS = settings(  # each example runs the tap
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
REASON = re.compile(r"stream_maps\.(logins|derived)\.(p\d) raised [A-Za-z]+Error")

logins = st.fixed_dictionaries(
    {
        "user_id": st.text("abc123-", min_size=1, max_size=40),
        "app_version": st.sampled_from(["2.3.0", "10", "x.1", " "]),
        "device_type": st.sampled_from(["android", "ios", "web"]),
        "locale": st.sampled_from(["US", "RU", None]),
        "ip": st.ip_addresses(v=4).map(str),
        "device_id": st.from_regex(r"[0-9]{3}-[0-9]{2}-[0-9]{4}", fullmatch=True),
    }
)


def is_login(login: dict[str, Any]) -> bool:
    try:
        judge_body(json.dumps(login), unwrap_sns=False)
    except Rejected:
        return False
    return True


def tap_config(queue: str, journal: str, **settings: Any) -> dict[str, Any]:
    """What every run here sets, for ``queue``, and ``settings``."""
    return {
        "queue_url": queue,
        "journal_dir": journal,
        "region": REGION,
        "wait_time_seconds": 0,
        "mask_key": MASK_KEY,
        **settings,
    }


def queue_of(sqs: Any, sent: list[dict[str, Any]]) -> str:
    """A new queue holding ``sent`` as JSON bodies."""
    queue = str(sqs.create_queue(QueueName="logins")["QueueUrl"])
    for login in sent:
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(login))
    return queue


def raises(expression: str, login: dict[str, Any]) -> bool:
    try:
        eval(expression, {}, dict(login))  # noqa: S307 - the test's own expressions
    except Exception:
        return True
    return False


@st.composite
def map_configs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """stream_maps with raising properties in logins and/or a derived stream."""
    placed: dict[str, list[str]] = {"logins": [], "derived": []}
    maps: dict[str, Any] = {
        "logins": dict(MASKING_MAPS["logins"]),
        "derived": {"__source__": "logins", "__else__": None, "message_id": "message_id"},
    }
    chosen = draw(st.lists(st.sampled_from(RAISING), min_size=1, max_size=3, unique=True))
    for number, expression in enumerate(chosen):
        stream = draw(st.sampled_from(["logins", "derived"]))
        maps[stream][f"p{number}"] = expression
        placed[stream].append(expression)
    return maps, placed


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    maps=map_configs(),
    sent=st.lists(logins, min_size=1, max_size=6),
    loader=st.booleans(),
    dead_letters=st.booleans(),
)
def test_a_map_raising_over_some_logins_quarantines_them_and_stops_nothing(
    maps: tuple[dict[str, Any], dict[str, list[str]]],
    sent: list[dict[str, Any]],
    *,
    loader: bool,
    dead_letters: bool,
    tmp_path_factory: Any,
) -> None:
    stream_maps, placed = maps
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger().addHandler(handler)
    try:
        with in_process_sqs() as sqs:
            queue = sqs.create_queue(QueueName="logins")["QueueUrl"]
            dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
            ids = [
                sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(login))["MessageId"]
                for login in sent
            ]
            config = tap_config(
                queue,
                str(tmp_path_factory.mktemp("journal")),
                stream_maps=stream_maps,
                acknowledgement="loader" if loader else "after_state",
                **({"dead_letter_queue_url": dead} if dead_letters else {}),
            )
            out = run_tap(config)
            copies = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10)
    finally:
        logging.getLogger().removeHandler(handler)

    rows = {row["message_id"]: row for row in records(out)}
    assert sorted(rows) == sorted(ids)  # one logins row per message
    for message_id, login in zip(ids, sent, strict=True):
        row = rows[message_id]
        failing = [e for expressions in placed.values() for e in expressions if raises(e, login)]
        if not is_login(login):  # the tap's own verdict comes first
            assert row["rejection_reason"] is not None, row
        elif not failing:
            assert row["rejection_reason"] is None, row
            continue
        else:
            assert REASON.fullmatch(row["rejection_reason"]), row["rejection_reason"]
        assert row.get("user_id") is None and row.get("masked_ip") is None, row
        assert (row["dead_letter_message_id"] is not None) == dead_letters, row
    quarantined = sum(row["rejection_reason"] is not None for row in rows.values())
    assert len(copies.get("Messages", [])) == (quarantined if dead_letters else 0)
    derived = {row["message_id"] for row in records(out, "derived")}
    assert derived == set(ids)  # sqs-ack deletes only once the derived stream has a row

    text = json.dumps(out) + log.getvalue()
    for login in sent:
        assert login["ip"] not in text and login["device_id"] not in text


def evaluations(
    stream_maps: dict[str, Any], sent: list[dict[str, Any]], journal: str
) -> tuple[Counter[tuple[str, str]], list[dict[str, Any]]]:
    """How often the tap evaluated each stream's expressions over `sent`, and its output."""
    from singer_sdk.mapper import CustomStreamMap

    evaluated: Counter[tuple[str, str]] = Counter()
    original = CustomStreamMap._eval

    def counted(self: CustomStreamMap, expr: str, *args: Any, **kwargs: Any) -> Any:
        evaluated[self.stream_alias, expr] += 1
        return original(self, expr, *args, **kwargs)

    CustomStreamMap._eval = counted  # type: ignore[method-assign]
    try:
        with in_process_sqs() as sqs:
            out = run_tap(tap_config(queue_of(sqs, sent), journal, stream_maps=stream_maps))
    finally:
        CustomStreamMap._eval = original  # type: ignore[method-assign]
    return evaluated, out


@FEW_RUNS
@given(sent=st.lists(logins, min_size=1, max_size=8), derived=st.booleans())
def test_each_expression_is_evaluated_once_per_record(
    sent: list[dict[str, Any]], *, derived: bool, tmp_path_factory: Any
) -> None:
    """The check before a record is written and the SDK's mapping share one evaluation."""
    stream_maps: dict[str, Any] = {"logins": dict(MASKING_MAPS["logins"])}
    if derived:
        stream_maps["derived"] = {
            "__source__": "logins",
            "__else__": None,
            "message_id": "message_id",
            "ip_of": "mask(ip)",
        }
    journal = str(tmp_path_factory.mktemp("journal"))
    startup, _ = evaluations(stream_maps, [], journal)  # the start-up check's canaries

    evaluated, out = evaluations(stream_maps, sent, journal)

    assert len(records(out)) == len(sent)
    per_record = {key: evaluated[key] - startup[key] for key in evaluated}
    expressions = [("logins", "mask(ip)"), ("logins", "mask(device_id)")]
    expressions += [("derived", "message_id"), ("derived", "mask(ip)")] if derived else []
    assert per_record == dict.fromkeys(expressions, len(sent))


def sync_with_catalog(
    config: dict[str, Any], edit: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    """Run the tap in-process with its discovered catalog as ``edit`` leaves it; its records."""
    from tap_sqs_logins.tap import TapSqsLogins

    catalog = TapSqsLogins(config=config).catalog_dict
    edit(catalog["streams"][0])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        TapSqsLogins(config=config, catalog=catalog).sync_all()
    return records([json.loads(line) for line in out.getvalue().splitlines()])


def deselect(*breadcrumb: str) -> Callable[[dict[str, Any]], None]:
    def edit(stream: dict[str, Any]) -> None:
        stream["metadata"].append({"breadcrumb": list(breadcrumb), "metadata": {"selected": False}})

    return edit


@FEW_RUNS
@given(sent=st.lists(logins, min_size=1, max_size=8), deselect_locale=st.booleans())
def test_each_record_is_conformed_once_and_deselected_fields_stay_out(
    sent: list[dict[str, Any]], *, deselect_locale: bool, tmp_path_factory: Any
) -> None:
    """The SDK's conformance runs once per record, before the map check and the maps.

    A property deselected in the catalog, which the SDK drops from the record after the
    check, is not in the output either.
    """
    from singer_sdk.helpers import _typing
    from singer_sdk.helpers.conform import TypeConformanceLevel

    passes = 0
    original = _typing._conform_record_data_types

    def counted(record: Any, schema: Any, level: Any, parent: Any) -> Any:
        nonlocal passes
        passes += parent is None and level != TypeConformanceLevel.NONE
        return original(record, schema, level, parent)

    _typing._conform_record_data_types = counted  # type: ignore[assignment]
    try:
        with in_process_sqs() as sqs:
            config = tap_config(queue_of(sqs, sent), str(tmp_path_factory.mktemp("journal")))

            def edit(stream: dict[str, Any]) -> None:
                nonlocal passes
                passes = 0  # from the run on
                if deselect_locale:
                    deselect("properties", "locale")(stream)

            written = sync_with_catalog(config, edit)
    finally:
        _typing._conform_record_data_types = original

    assert len(written) == len(sent)
    quarantined = sum(not is_login(login) for login in sent)
    assert passes == len(sent) + quarantined  # a quarantined record again, once emptied
    for record in written:
        assert ("locale" in record) is not deselect_locale
        assert isinstance(record["sent_at"], str)
        assert datetime.fromisoformat(record["sent_at"]).tzinfo is not None
        assert not {"ip", "device_id"} & record.keys()
        assert {"masked_ip", "masked_device_id"} <= record.keys()


def test_a_catalog_without_the_outcome_fields_still_quarantines(tmp_path: Any) -> None:
    """The stream reads a rejection from its own record, whatever the catalog keeps of it."""

    fields = ("rejection_reason", "dead_letter_message_id")

    def trim(stream: dict[str, Any]) -> None:
        for field in fields:
            stream["schema"]["properties"].pop(field)
        stream["metadata"] = [
            m for m in stream["metadata"] if not {*m["breadcrumb"][-1:]} & {*fields}
        ]

    with in_process_sqs() as sqs:
        queue = sqs.create_queue(QueueName="logins")["QueueUrl"]
        dead = sqs.create_queue(QueueName="logins-dead")["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="not json {")
        config = tap_config(queue, str(tmp_path), dead_letter_queue_url=dead)
        written = sync_with_catalog(config, trim)
        copied = sqs.receive_message(QueueUrl=dead).get("Messages", [])

    assert len(written) == 1
    assert not {"rejection_reason", "dead_letter_message_id"} & written[0].keys()
    assert [message["Body"] for message in copied] == ["not json {"]


def test_a_deselected_nested_field_is_not_read_by_a_map(tmp_path: Any) -> None:
    """The SDK drops it in place before mapping; the map check's memo does not keep it."""
    with in_process_sqs() as sqs:
        queue = sqs.create_queue(QueueName="logins")["QueueUrl"]
        login = {"user_id": "u-1", "app_version": "2.3.0", "device_type": "android"}
        sqs.send_message(
            QueueUrl=queue,
            MessageBody=json.dumps({**login, "ip": "199.172.111.135", "device_id": "593-47-5928"}),
            MessageAttributes={"trace": {"DataType": "String", "StringValue": "t-1"}},
        )
        trace = "(message_attributes or {}).get('trace')"
        config = tap_config(
            queue,
            str(tmp_path),
            include_message_attributes=True,
            stream_maps={"logins": {**MASKING_MAPS["logins"], "trace": trace}},
        )
        (record,) = sync_with_catalog(
            config, deselect("properties", "message_attributes", "properties", "trace")
        )

    assert "trace" not in (record["message_attributes"] or {})
    assert record["trace"] is None
