"""The sample message generator: deterministic, reference-shaped, with its quirks."""

from __future__ import annotations

import json
import re
from collections import Counter

from localenv.sample import FOREIGN_MESSAGE, sample_bodies

KEYS = ["user_id", "app_version", "device_type", "ip", "locale", "device_id"]
PATTERNS = {
    "user_id": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    "app_version": r"\d\.\d{1,2}|\d\.\d\.\d",
    "device_type": r"android|ios",
    "ip": r"(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}",
    "device_id": r"\d{3}-\d{2}-\d{4}",
}


def logins(bodies: list[str]) -> list[dict[str, str | None]]:
    """Return the decoded login messages, leaving out foreign ones."""
    return [message for message in map(json.loads, bodies) if "user_id" in message]


def test_same_seed_same_bodies_other_seed_other_bodies() -> None:
    assert sample_bodies() == sample_bodies()
    assert sample_bodies(seed=1) == sample_bodies(seed=1)
    assert sample_bodies(seed=1) != sample_bodies(seed=2)


def test_hundred_bodies_with_one_foreign_message_where_the_reference_has_it() -> None:
    messages = [json.loads(body) for body in sample_bodies()]
    assert len(messages) == 100
    assert [i for i, message in enumerate(messages) if "user_id" not in message] == [12]
    assert messages[12] == FOREIGN_MESSAGE


def test_foreign_message_can_be_left_out() -> None:
    assert len(logins(sample_bodies(50, foreign_index=None))) == 50
    assert len(logins(sample_bodies(10))) == 10


def test_every_login_has_the_reference_keys_and_formats() -> None:
    for login in logins(sample_bodies(1000)):
        assert list(login) == KEYS
        for key, pattern in PATTERNS.items():
            assert re.fullmatch(pattern, str(login[key])), (key, login[key])
        assert login["locale"] is None or re.fullmatch(r"[A-Z]{2}", login["locale"])


def test_quirk_proportions() -> None:
    sample = logins(sample_bodies(2000))
    null_locales = sum(login["locale"] is None for login in sample) / len(sample)
    three_part = sum(str(login["app_version"]).count(".") == 2 for login in sample) / len(sample)
    android = sum(login["device_type"] == "android" for login in sample) / len(sample)
    assert 0.25 < null_locales < 0.35
    assert 0.35 < three_part < 0.55
    assert 0.45 < android < 0.55
    assert any(re.fullmatch(r"\d\.\d\d", str(login["app_version"])) for login in sample)


def test_some_ips_and_device_ids_repeat_in_the_default_sample() -> None:
    sample = logins(sample_bodies())
    for key in ("ip", "device_id"):
        repeats = [value for value, n in Counter(login[key] for login in sample).items() if n > 1]
        assert 1 <= len(repeats) <= 10, key
