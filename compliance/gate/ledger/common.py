"""What every part of the ledger shares: its constants and how it reads times."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

DEFAULT_LEDGER = Path(".compliance") / "ledger.db"
BUSY_TIMEOUT_S = 5.0
ERASED = "erased"  # the list that keeps erased subjects from ever being messaged again
# consent on one of these reaches the others: text messages to one phone number, where MMS
# is SMS with media and RCS falls back to SMS (one number, one program, one STOP)
TEXT = ("sms", "mms", "rcs")
FAMILIES = {"sms": TEXT, "mms": TEXT, "rcs": TEXT}


def default_path() -> Path | str:
    """$COMPLIANCE_DB (a path, or a postgresql:// URL kept as it is), else the default."""
    found = os.environ.get("COMPLIANCE_DB")
    if found and re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", found):
        return found  # a URL, kept as written (open_ledger refuses one that is not PostgreSQL's)
    return Path(found or DEFAULT_LEDGER)


def family(channel: str) -> tuple[str, ...]:
    return FAMILIES.get(channel, (channel,))


def micros(at: dt.datetime) -> int:
    """Microseconds since the epoch. A decision asks this of its instant several times: the
    last answer is kept (one tuple, replaced whole, so threads cannot mix two answers)."""
    last = _last_micros
    if last[0] is at:
        return last[1]
    value = int(at.timestamp() * 1_000_000)
    globals()["_last_micros"] = (at, value)
    return value


_last_micros: tuple[Any, int] = (None, 0)


def from_us(value: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=value)
