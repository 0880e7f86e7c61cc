"""Quiet hours in the recipient's local time: is an instant inside every window that applies,
and if not, the earliest instant that is. A number that may be in several time zones must fit
all of them; a region's window (US-FL) applies on top of the market's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from zoneinfo import ZoneInfo

from compliance.market_params import QuietHours, Window, iana_zone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOKAHEAD_DAYS = 10  # a week of windows and a long holiday weekend


def applicable(
    blocks: Iterable[QuietHours], purpose: str, channel: str, region: str | None = None
) -> list[QuietHours]:
    """The blocks for a purpose and channel; with `region`, those for another subdivision are
    left out."""
    return [
        b
        for b in blocks
        if purpose in b.purposes
        and (b.channels is None or channel in b.channels)
        and (b.region is None or b.region == region)
    ]


def allowed_at(
    instant: dt.datetime,
    blocks: list[QuietHours],
    zones: tuple[str, ...],
    region: str | None,
    market: str | None,
) -> bool:
    return all(
        _fits(instant.astimezone(_zone(z)), block, region, market)
        for block in blocks
        for z in ((block.timezone,) if block.timezone else zones)
    )


def next_allowed(
    instant: dt.datetime,
    blocks: list[QuietHours],
    zones: tuple[str, ...],
    region: str | None,
    market: str | None,
) -> dt.datetime | None:
    """The earliest instant at or after `instant` inside every window, or None if there is none
    within LOOKAHEAD_DAYS (a configuration with no open window at all)."""
    if allowed_at(instant, blocks, zones, region, market):
        return instant
    candidates = sorted({c for c in _window_starts(instant, blocks, zones, region) if c > instant})
    for candidate in candidates:
        if allowed_at(candidate, blocks, zones, region, market):
            return candidate
    return None


def _windows(block: QuietHours, region: str | None) -> list[list[Window]]:
    """Window sets that must each admit the instant: the block's, and its region's."""
    sets = [list(block.allowed)]
    if region is not None and region in block.regions:
        sets.append(list(block.regions[region]))
    return sets


def _fits(local: dt.datetime, block: QuietHours, region: str | None, market: str | None) -> bool:
    if block.region is not None and block.region != region:
        return True  # another subdivision's law
    if block.no_public_holidays and market and _holiday(market, local.date(), block.region):
        return False
    minute = local.hour * 60 + local.minute
    day = DAYS[local.weekday()]
    return all(
        any(day in w.days and _minutes(w.start) <= minute < _minutes(w.end) for w in ws)
        for ws in _windows(block, region)
    )


def _window_starts(
    instant: dt.datetime, blocks: list[QuietHours], zones: tuple[str, ...], region: str | None
) -> Iterable[dt.datetime]:
    starts = {w.start for b in blocks for ws in _windows(b, region) for w in ws}
    clocks = dict.fromkeys([*zones, *(b.timezone for b in blocks if b.timezone)])
    for name in clocks:
        zone = _zone(name)
        local_day = instant.astimezone(zone).date()
        for offset in range(LOOKAHEAD_DAYS + 1):
            day = local_day + dt.timedelta(days=offset)
            for start in starts:
                minutes = _minutes(start)
                local = dt.datetime(
                    day.year, day.month, day.day, minutes // 60 % 24, minutes % 60, tzinfo=zone
                )
                yield local.astimezone(dt.timezone.utc)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def known_zone(name: str) -> str:
    """`name` if it is an IANA time zone, else ValueError (Send.timezone="Europe/Pariss")."""
    try:
        return iana_zone(name)
    except ValueError as exc:
        raise ValueError(f"Send.timezone {exc}") from None


@lru_cache(maxsize=4096)
def _holiday(market: str, day: dt.date, region: str | None = None) -> bool:
    """Whether `day` is a public holiday in the market, or with `region` (US-LA) in that
    subdivision (its own holidays and the nation's), by the `holidays` library's calendars."""
    import holidays

    subdiv = region.split("-", 1)[1] if region else None
    try:
        return day in holidays.country_holidays(market, subdiv=subdiv, years=day.year)
    except NotImplementedError:  # no calendar for this country: no holidays known
        return False
