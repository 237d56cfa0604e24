"""Deterministic sample login messages shaped like the reference queue.

Like the reference, each body is a JSON object with user_id, app_version ("0.96", "2.3.0"),
device_type, ip, locale (about 30% null) and device_id ("NNN-NN-NNNN"), and one body is a
foreign message at the 13th position. Unlike the reference, some ip and device_id values
repeat (the same device or network logging in again) so duplicate masked values show up.
"""

from __future__ import annotations

import json
import random
import uuid

FOREIGN_MESSAGE = {"foo": "oops_wrong_msg_type", "bar": "123"}
FOREIGN_INDEX = 12
DEFAULT_SEED = 20240601
NULL_LOCALE_RATE = 0.3
REPEAT_RATE = 0.1
LOCALES = {
    "ID": 9,
    "CN": 9,
    "RU": 7,
    "FR": 7,
    "PT": 4,
    "PH": 3,
    "BR": 2,
    "KR": 2,
    "DE": 2,
    "VN": 2,
    "US": 1,
    "CA": 1,
    "MX": 1,
    "PE": 1,
    "KE": 1,
    "NG": 1,
    "PL": 1,
    "CZ": 1,
    "UA": 1,
    "GR": 1,
}


def sample_bodies(
    count: int = 100, seed: int = DEFAULT_SEED, foreign_index: int | None = FOREIGN_INDEX
) -> list[str]:
    """Generate SQS message bodies.

    Args:
        count: Number of bodies.
        seed: Seed of the random generator; the same seed gives the same bodies.
        foreign_index: Position of the one foreign (non-login) message, None for none.

    Returns:
        JSON strings, one per message.
    """
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    logins: list[dict[str, str | None]] = []
    bodies = []
    for index in range(count):
        if index == foreign_index:
            bodies.append(json.dumps(FOREIGN_MESSAGE))
            continue
        login = _login(rng, logins)
        logins.append(login)
        bodies.append(json.dumps(login))
    return bodies


def _login(rng: random.Random, earlier: list[dict[str, str | None]]) -> dict[str, str | None]:
    """Return one login; its ip and device_id may repeat ones from `earlier`."""
    ip: str | None
    device_id: str | None
    ip = f"{rng.randint(1, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
    device_id = f"{rng.randint(0, 999):03d}-{rng.randint(0, 99):02d}-{rng.randint(0, 9999):04d}"
    if earlier and rng.random() < REPEAT_RATE:
        ip = rng.choice(earlier)["ip"]
    if earlier and rng.random() < REPEAT_RATE:
        device_id = rng.choice(earlier)["device_id"]
    locale = None
    if rng.random() >= NULL_LOCALE_RATE:
        locale = rng.choices(list(LOCALES), weights=list(LOCALES.values()))[0]
    return {
        "user_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "app_version": _app_version(rng),
        "device_type": rng.choice(("android", "ios")),
        "ip": ip,
        "locale": locale,
        "device_id": device_id,
    }


def _app_version(rng: random.Random) -> str:
    """Return a version like the reference's: "3.7", "0.96" or "2.3.0", often major 0."""
    major = 0 if rng.random() < 0.35 else rng.randint(1, 9)
    if rng.random() < 0.45:
        return f"{major}.{rng.randint(0, 9)}.{rng.randint(0, 9)}"
    minor = str(rng.randint(0, 9)) if rng.random() < 0.4 else f"{rng.randint(0, 99):02d}"
    return f"{major}.{minor}"
