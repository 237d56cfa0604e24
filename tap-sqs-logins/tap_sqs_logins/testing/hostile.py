"""Hostile message bodies: Hypothesis strategies, a fixed corpus, Contract 1 checked apart.

The strategies' bodies come in classes: arbitrary text (lone surrogates and NUL included),
bytes decoded as UTF-8 with ``surrogateescape`` or ``surrogatepass``, random JSON, and
login-shaped JSON text whose fields and keys are hostile (huge integers, deep nesting, NaN,
duplicate keys, NUL and surrogates, non-ASCII digits, trailing newlines, long and blank
strings, IP-looking keys).

``hostile_corpus`` gives fixed bodies of every class of issue 7, each with the verdict the job
must reach: a body is *valid* when it is a JSON object whose login fields fit user_logins
(tests/test_hostile_input.py checks that exactly those are delivered); every other body must
be quarantined, never crash a run. Raw ip and device_id values are unique per body so that a
leak anywhere can be traced.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

FIELDS = ("user_id", "app_version", "device_type", "ip", "locale", "device_id")
HOSTILE_CHARACTERS = (
    "\x00",
    "\ud800",
    "\udbff",
    "\udc00",
    "\udfff",
    "\n",
    "\r",
    "\t",
    " ",
    "\u00a0",
    "\u2028",
    "\ufeff",
    "\x7f",
    "\x1b",
    '"',
    "\\",
    "\u0662",  # ARABIC-INDIC DIGIT TWO
    "\uff13",  # FULLWIDTH DIGIT THREE
    "\U0001d7d9",  # MATHEMATICAL DOUBLE-STRUCK DIGIT ONE
    "\u00e9",
    "\U0001f600",
)
characters = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone UTF-16 surrogates
    st.sampled_from(HOSTILE_CHARACTERS),
)
texts = st.text(characters, max_size=40)
ip_like = st.ip_addresses().map(str)
long_texts = st.builds(
    lambda c, n: c * n, st.sampled_from(["a", "é", "😀", " ", "1"]), st.integers(0, 3000)
)
huge_integers = st.integers(4301, 8000).map(lambda n: "9" * n)  # past int-digits limit
deep_nesting = st.integers(900, 120_000).map(lambda n: "[" * n + "]" * n)


def _dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    ip_like,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(texts | ip_like | st.sampled_from(FIELDS), children, max_size=4),
    max_leaves=12,
)
dumped_values = st.builds(_dumps, json_values, st.booleans())
# JSON text of one value, including what ``json.dumps`` never writes.
value_texts = st.one_of(
    dumped_values,
    dumped_values,
    dumped_values,
    huge_integers,
    deep_nesting,
    st.sampled_from(["NaN", "-Infinity", "Infinity", "1e400", "-0", "1.0e-400", '{"a":1,"a":2}']),
)

valid_versions = st.from_regex(r"[0-9]{1,9}(\.[0-9]{1,9}){0,3}", fullmatch=True)
bad_versions = st.one_of(
    st.from_regex(r"[0-9\u0660-\u0669\uff10-\uff19]{1,12}(\.[0-9]{0,12}){0,3}\n?", fullmatch=True),
    valid_versions.map(lambda v: v + "\n"),
    valid_versions.map(lambda v: " " + v),
    st.from_regex(r"[0-9]{10,20}(\.[0-9]{1,3})?", fullmatch=True),
)


def _visible(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(), min_size=min_size, max_size=max_size).filter(str.strip)


VALID = {
    "user_id": st.one_of(_visible(1, 128), st.uuids().map(str), st.integers(0, 10**20)),
    "app_version": st.one_of(valid_versions, st.integers(0, 999_999_999)),
    "device_type": st.one_of(_visible(1, 32), st.sampled_from(["android", "ios"])),
    "ip": st.one_of(ip_like, st.none(), st.text(st.characters(), max_size=300)),
    "locale": st.one_of(st.none(), st.text(st.characters(), max_size=32)),
    "device_id": st.one_of(st.none(), st.text(st.characters(), max_size=2000), ip_like),
}
HOSTILE = {
    "app_version": bad_versions,
    "user_id": long_texts,
    "device_type": long_texts,
    "locale": long_texts,
}


def valid_field_texts(name: str) -> st.SearchStrategy[str]:
    """JSON text of a valid value of one login field."""
    return st.builds(_dumps, VALID[name], st.booleans())


def hostile_field_texts(name: str) -> st.SearchStrategy[str]:
    """JSON text of a hostile value of one login field, of any class."""
    return st.one_of(
        value_texts,
        st.builds(_dumps, HOSTILE.get(name, texts), st.booleans()),
        st.builds(_dumps, texts.map(lambda t: t + "\x00"), st.booleans()),
        st.builds(_dumps, texts.map(lambda t: "\ud800" + t), st.booleans()),
    )


@st.composite
def login_bodies(draw: st.DrawFn, hostile_rate: float = 0.15) -> str:
    """A JSON object text shaped like a login; each part hostile at ``hostile_rate``."""
    odds = [True] * round(100 * hostile_rate) + [False] * round(100 * (1 - hostile_rate))

    def hostile() -> bool:
        return draw(st.sampled_from(odds))

    pairs = []
    for name in FIELDS:
        if hostile() and draw(st.booleans()):
            continue  # missing
        texts_of = hostile_field_texts if hostile() else valid_field_texts
        pairs.append((name, draw(texts_of(name))))
    if hostile():  # unexpected keys, some IP-looking, some repeating a field name
        keys = texts | ip_like | st.sampled_from(FIELDS)
        pairs += draw(st.lists(st.tuples(keys, value_texts), min_size=1, max_size=3))
    pairs = draw(st.permutations(pairs))
    ascii_keys = draw(st.booleans())
    text = "{" + ",".join(f"{_dumps(key, ascii_keys)}:{value}" for key, value in pairs) + "}"
    return text + (draw(st.sampled_from(["\n", " ", "\r\n", "x", "}"])) if hostile() else "")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape")


bodies = st.one_of(
    st.text(characters, max_size=200),
    st.binary(max_size=200).map(_decode),
    st.text(characters, max_size=60).map(lambda t: _decode(t.encode("utf-8", "surrogatepass"))),
    st.builds(_dumps, json_values, st.booleans()),
    value_texts,
    login_bodies(),
    login_bodies(),
    login_bodies(hostile_rate=0.6),
)

# Every reason the tap may give: rules, fixed field names and numbers, nothing else.
_FIELD = "(?:" + "|".join(FIELDS) + ")"
REASON = re.compile(
    r"not JSON \(line [0-9]+, column [0-9]+\)"
    r"|not JSON: (?:NaN and Infinity are not JSON numbers|an object repeats a key)"
    r"|not a login: (?:nested too deeply to read|a number too long to read"
    r"|JSON (?:null|array|string|number|boolean) instead of an object"
    rf"|missing {_FIELD}(?:, {_FIELD})*(?:; [0-9]+ unexpected fields?)?)"
    rf"|{_FIELD}: (?:contains a NUL or lone surrogate character, which PostgreSQL cannot store"
    r"|longer than [0-9]+ characters|empty or blank"
    r"|(?:object|array|number|boolean) instead of a string)"
    r"|app_version: not a version number like 2\.3\.0 \(ASCII digits, at most 9 each\)"
)
LONGEST_FIELD = max(map(len, FIELDS))
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def body_strings(body: str) -> list[str]:
    """The keys and string values of a body (or the body itself when it is not JSON)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return [body]
    found, stack = [], [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def quotes_the_body(reason: str, body: str) -> bool:
    """Whether the reason holds a run of a body's key or value longer than any field name."""
    size = LONGEST_FIELD + 1
    runs = {reason[i : i + size] for i in range(len(reason) - size + 1)}
    return any(run in text for text in body_strings(body) for run in runs)


def strings_in(value: Any) -> list[str]:
    """Every string (key or value) in a record."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_in(k), *strings_in(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return []


def is_deliverable(record: dict[str, Any]) -> bool:
    """Contract 1 for a record with no rejection reason, checked without the tap's code."""
    version = record["app_version"]
    parts = version.split(".") if isinstance(version, str) else [""]
    return (
        isinstance(record["user_id"], str)
        and 1 <= len(record["user_id"]) <= 128
        and bool(record["user_id"].strip())
        and isinstance(record["device_type"], str)
        and 1 <= len(record["device_type"]) <= 32
        and bool(record["device_type"].strip())
        and (record["locale"] is None or len(record["locale"]) <= 32)
        and all(1 <= len(part) <= 9 and set(part) <= set("0123456789") for part in parts)
        and int(parts[0]) < 2**31
        and not any(UNSTORABLE.search(text) for text in strings_in(record))
        and all(len(record.get(name) or "") <= 256 for name in ("masked_ip", "masked_device_id"))
    )


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
        """A new raw ip, kept in ``secrets``."""
        self._serial += 1
        value = f"203.0.{113 + self._serial // 250}.{self._serial % 250}"
        self.secrets.add(value)
        return value

    def device_id(self) -> str:
        """A new raw device_id, kept in ``secrets``."""
        self._serial += 1
        value = f"9{self._serial:02d}-{self._serial % 97:02d}-{7000 + self._serial}"
        self.secrets.add(value)
        return value

    def login(self, **changes: object) -> dict[str, object]:
        """A valid login with new raw ip and device_id, then ``changes``."""
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
    rng = random.Random(seed)
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
