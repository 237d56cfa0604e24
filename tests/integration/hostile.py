"""Hostile SQS bodies, class by class, each with the verdict the job must reach.

Every class of issue 7 gets several generated members. A body is *valid* when it is a JSON object
whose login fields fit user_logins (tests/integration/test_hostile_input.py checks that exactly
those are delivered); every other body must be quarantined, never crash a run. Raw ip and
device_id values are unique per body so that a leak anywhere can be traced.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

DLQ_MAX_SIZE = 1024  # the dead-letter queue's MaximumMessageSize in the tests (SQS minimum)
COPYABLE = 700  # poison bodies up to this many bytes fit DLQ_MAX_SIZE with their attributes


@dataclass
class Corpus:
    """Bodies sorted by the verdict the job must reach, and the personal data they carry."""

    valid: list[str] = field(default_factory=list)
    poison: list[str] = field(default_factory=list)
    too_large_for_dlq: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    _serial: int = 0

    def ip(self) -> str:
        self._serial += 1
        value = f"203.0.{113 + self._serial // 250}.{self._serial % 250}"
        self.secrets.add(value)
        return value

    def device_id(self) -> str:
        self._serial += 1
        value = f"9{self._serial:02d}-{self._serial % 97:02d}-{7000 + self._serial}"
        self.secrets.add(value)
        return value

    def login(self, **changes: object) -> dict[str, object]:
        login: dict[str, object] = {
            "user_id": f"user-{self._serial}",
            "app_version": "2.3.0",
            "device_type": "android",
            "ip": self.ip(),
            "locale": "RU",
            "device_id": self.device_id(),
        }
        login.update(changes)
        return login


def hostile_corpus(seed: int = 7) -> Corpus:
    """About 120 bodies across every class of issue 7, valid edge cases included."""
    rng = random.Random(seed)  # noqa: S311 - test data
    corpus = Corpus()
    add_valid_edges(corpus)
    add_unstorable_characters(corpus, rng)
    add_numbers_and_nesting(corpus)
    add_bad_versions(corpus)
    add_wrong_shapes(corpus)
    add_pii_in_keys(corpus)
    corpus.poison.append('{"ip": "%s", "note": "%s"' % (corpus.ip(), "x" * 3000))  # noqa: UP031
    sizes = {body: len(body.encode("utf-8", "surrogatepass")) for body in corpus.poison}
    assert not [size for size in sizes.values() if COPYABLE < size < 2 * DLQ_MAX_SIZE]
    corpus.too_large_for_dlq = [body for body in corpus.poison if sizes[body] > COPYABLE]
    corpus.poison = [body for body in corpus.poison if sizes[body] <= COPYABLE]
    return corpus


def add_valid_edges(corpus: Corpus) -> None:
    """Logins at the edge of user_logins' columns: they must be delivered."""
    for changes in (
        {"user_id": "u" * 128},
        {"user_id": "\U0001f600" * 128},  # 128 characters outside the BMP
        {"device_type": "d" * 32, "locale": "l" * 32},
        {"locale": None, "ip": None, "device_id": None},
        {"app_version": "007.1"},
        {"app_version": "999999999.0.1"},
        {"device_id": "0" * 5000},  # longer than RSA-OAEP can seal in one block
        {"user_id": 'tab\tand newline\n and quote " ok'},
    ):
        corpus.valid.append(json.dumps(corpus.login(**changes)))


def add_unstorable_characters(corpus: Corpus, rng: random.Random) -> None:
    """NUL and lone surrogates, which PostgreSQL text cannot hold, in login keys and values."""
    for bad in ("\x00", "\ud800", "\udfff", "\udc80", "a\x00b", "\ud83d"):
        for name in ("user_id", "device_type", "locale", "app_version", "ip", "device_id"):
            corpus.poison.append(json.dumps(corpus.login(**{name: f"v{bad}{rng.random()}"})))
        login = corpus.login()
        login[f"user_id{bad}"] = login.pop("user_id")
        corpus.poison.append(json.dumps(login))


def add_numbers_and_nesting(corpus: Corpus) -> None:
    """Integers of thousands of digits and arrays nested 100,000 deep."""
    huge = "9" * 5000
    corpus.poison += [
        huge,
        json.dumps(corpus.login(app_version="X")).replace('"X"', huge),
        json.dumps(corpus.login(user_id="X")).replace('"X"', huge),
        "[" * 100_000 + "]" * 100_000,
        json.dumps(corpus.login(ip="X")).replace('"X"', "[" * 50_000 + "]" * 50_000),
        json.dumps(corpus.login(app_version="X")).replace('"X"', "NaN"),
        json.dumps(corpus.login(app_version="X")).replace('"X"', "1e999"),
    ]


def add_bad_versions(corpus: Corpus) -> None:
    """Versions the SQL could not cast: non-ASCII digits, trailing newline, overflow, junk."""
    for version in (
        "\u0662.3",  # ARABIC-INDIC DIGIT TWO
        "\uff13.1",  # FULLWIDTH DIGIT THREE
        "2.3\n",
        "2.3 ",
        " 2.3",
        "+2.3",
        "-1.0",
        "2.",
        ".2",
        "1e3",
        "2,3",
        "",
        "1234567890.1",
        "latest",
    ):
        corpus.poison.append(json.dumps(corpus.login(app_version=version)))


def add_wrong_shapes(corpus: Corpus) -> None:
    """Foreign messages, JSON that is not an object, bad JSON, duplicate keys, wrong types."""
    corpus.poison += [
        '{"foo": "oops_wrong_msg_type", "bar": "123"}',
        "null",
        "[]",
        '"just a string"',
        "true",
        "{",
        "{}",
        '{"user_id": "a", "user_id": "b", "app_version": "1.0", "device_type": "ios"}',
        json.dumps(corpus.login(user_id=["list"])),
        json.dumps(corpus.login(user_id={"nested": corpus.ip()})),
        json.dumps(corpus.login(user_id=True)),
        json.dumps(corpus.login(user_id=1.5)),
        json.dumps(corpus.login(user_id="   ")),
        json.dumps(corpus.login(user_id="u" * 129)),
        json.dumps(corpus.login(device_type="d" * 33)),
        json.dumps(corpus.login(locale="l" * 33)),
        json.dumps(corpus.login(ip={"v4": corpus.ip()})),
    ]


def add_pii_in_keys(corpus: Corpus) -> None:
    """Bodies whose key names are personal data: no reason, log or attribute may quote them."""
    for _ in range(3):
        address, device = corpus.ip(), corpus.device_id()
        corpus.poison.append(json.dumps({address: {"device": device}}))
        corpus.poison.append(json.dumps({address: 1, device: 2, "user_id": "x"}))
