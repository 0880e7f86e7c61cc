"""ISO 8601 durations from the market files, as calendar durations: P2Y is two calendar years
(CASL's "two years" from a purchase ends on the same date two years on, not 730.5 days later),
P6M six calendar months. dateutil's relativedelta does the calendar arithmetic (month ends,
leap days), which is easy to get wrong by hand."""

from __future__ import annotations

import datetime as dt
from functools import cache

from compliance.documents import parse_duration


def add(start: dt.datetime, duration: str) -> dt.datetime:
    """`start` plus `duration` (PT24H, P31D, P2Y6M...)."""
    return start + _delta(duration)


@cache
def _delta(duration: str):  # type: ignore[no-untyped-def]
    from dateutil.relativedelta import relativedelta

    if duration.startswith("PT") and duration.endswith("H"):
        return relativedelta(hours=int(duration[2:-1]))
    parts = parse_duration(duration)
    return relativedelta(
        years=parts["years"], months=parts["months"], weeks=parts["weeks"], days=parts["days"]
    )


def shorter(a: str, b: str, start: dt.datetime) -> bool:
    """Whether `a` ends before `b`, both counted from `start`."""
    return add(start, a) < add(start, b)


@cache
def fixed_us(duration: str) -> int:
    """A duration of hours or days (frequency caps: PT24H, P7D) in microseconds."""
    if duration.startswith("PT") and duration.endswith("H"):
        return int(duration[2:-1]) * 3_600_000_000
    parts = parse_duration(duration)
    if parts["years"] or parts["months"]:
        raise ValueError(f"{duration} has no fixed length")
    return (parts["weeks"] * 7 + parts["days"]) * 86_400_000_000
