"""The longest wait between two ticks of a cron expression (standard library only).

A schedule is stale when no run succeeded for longer than it should ever take to come around:
the Dagster staleness sensor and the cron lines both size their default threshold from it.
Understands the five-field crontab syntax Meltano stores (`*`, numbers, names, `a-b`, `/step`,
lists; when day of month and day of week are both restricted, either may match).
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

FIELDS = (  # (lowest, highest, names) of minute, hour, day of month, month, day of week
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    (0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
HORIZON_DAYS = 8 * 366 + 2  # `0 0 29 2 *` can skip a leap year (2096 -> 2104)


def _number(text: str, lowest: int, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + lowest
    if not text.isdigit():
        msg = f"cron field value {text!r} is not a number"
        raise ValueError(msg)
    return int(text)


def field_values(text: str, index: int) -> frozenset[int]:
    """The values one field of a cron expression allows (day of week 7 is Sunday, 0)."""
    lowest, highest, names = FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        span, _, step = item.partition("/")
        if span == "*":
            start, end = lowest, highest
        else:
            first, _, last = span.partition("-")
            start = _number(first, lowest, names)
            end = _number(last, lowest, names) if last else (highest if step else start)
        if not lowest <= start <= end <= highest:
            msg = f"cron field {text!r} is out of range {lowest}-{highest}"
            raise ValueError(msg)
        values.update(range(start, end + 1, _number(step, 1, ()) if step else 1))
    if index == 4 and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


def longest_gap(cron: str, today: date | None = None) -> timedelta:
    """The longest time between two consecutive ticks of `cron` (UTC) over the next 8 years."""
    fields = cron.split()
    if len(fields) != 5:  # the five crontab fields
        msg = f"not a five-field cron expression: {cron!r}"
        raise ValueError(msg)
    minutes, hours, days, months, weekdays = (field_values(f, i) for i, f in enumerate(fields))
    times = sorted(h * 60 + m for h in hours for m in minutes)  # minutes after midnight
    widest = max((b - a for a, b in pairwise(times)), default=0)
    either = not fields[2].startswith("*") and not fields[4].startswith("*")  # as cron does
    start = today or date.today()
    previous_last: int | None = None  # minute of the previous matching day's last tick
    for offset in range(HORIZON_DAYS):
        day = start + timedelta(days=offset)
        weekday = (day.weekday() + 1) % 7
        by_date, by_weekday = day.day in days, weekday in weekdays
        if day.month not in months or not (
            (by_date or by_weekday) if either else (by_date and by_weekday)
        ):
            continue
        if previous_last is not None:
            widest = max(widest, offset * 1440 + times[0] - previous_last)
        previous_last = offset * 1440 + times[-1]
    if previous_last is None:
        msg = f"cron expression {cron!r} never fires"
        raise ValueError(msg)
    return timedelta(minutes=widest or HORIZON_DAYS * 1440)


def longest_gap_seconds(cron: str) -> float | None:
    """`longest_gap` in seconds; None for an expression this module does not understand."""
    try:
        return longest_gap(cron).total_seconds()
    except ValueError:
        return None
