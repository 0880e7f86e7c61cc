"""What the gate takes and answers: Send, Decision, Reason, and the stable reason codes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

ALLOW, DENY, DEFER = "allow", "deny", "defer"

# stable reason codes: callers branch on them, auditors read them; never renamed
CONSENT_MISSING = "consent.missing"
CONSENT_REVOKED = "consent.revoked"
CONSENT_EXPIRED = "consent.expired"
CONSENT_SCOPE = "consent.scope"
CONSENT_REASSIGNED = "consent.reassigned"
DNC_LISTED = "dnc.listed"
DNC_CHECK_STALE = "dnc.check_stale"
QUIET_HOURS = "quiet_hours"
FREQUENCY_CAP = "frequency_cap"
TEMPLATE_UNKNOWN = "template.unknown"
TEMPLATE_NOT_APPROVED = "template.not_approved"
TEMPLATE_MARKET = "template.market"
TEMPLATE_LINT = "template.lint"
SENDER_UNREGISTERED = "sender.unregistered"
RECIPIENT_INVALID = "recipient.invalid"
PAUSED = "paused"
LEDGER_ERROR = "ledger.error"
SEND_CHANNEL = "send.channel"  # Send.channel is not the template's channel
SEND_HORIZON = "send.horizon"  # Send.at further ahead than the gate's horizon
SEND_INVALID = "send.invalid"  # a Send check_many could not read (the rest are answered)
CODES = (
    CONSENT_MISSING,
    CONSENT_REVOKED,
    CONSENT_EXPIRED,
    CONSENT_SCOPE,
    CONSENT_REASSIGNED,
    DNC_LISTED,
    DNC_CHECK_STALE,
    QUIET_HOURS,
    FREQUENCY_CAP,
    TEMPLATE_UNKNOWN,
    TEMPLATE_NOT_APPROVED,
    TEMPLATE_MARKET,
    TEMPLATE_LINT,
    SENDER_UNREGISTERED,
    RECIPIENT_INVALID,
    PAUSED,
    LEDGER_ERROR,
    SEND_CHANNEL,
    SEND_HORIZON,
    SEND_INVALID,
)


class NaiveDatetimeError(ValueError):
    """A datetime without a time zone: the gate never guesses one."""


def system_clock() -> dt.datetime:
    """The default clock: the only place the gate reads the system's time."""
    return dt.datetime.now(dt.timezone.utc)


def aware(value: dt.datetime, name: str = "at") -> dt.datetime:
    """`value` in UTC; a naive datetime is refused."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name} {value.isoformat()} has no time zone: pass an aware "
            "datetime, e.g. datetime.now(timezone.utc)"
        )
    try:
        utc = value.astimezone(dt.timezone.utc)
    except OverflowError:
        utc = None
    if utc is None or not FIRST_YEAR <= utc.year <= LAST_YEAR:
        raise ValueError(
            f"{name} {value.isoformat()} is outside the years {FIRST_YEAR}-{LAST_YEAR} the "
            "gate works with"
        )
    return utc


def text_arg(value: object, name: str, *, optional: bool = False) -> str | None:
    """A string argument, or TypeError naming it (None passes where it is optional)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} is empty")
    return value


# instants the gate accepts: wide enough for any record, narrow enough that a week of window
# look-ahead in any time zone stays inside datetime's range
FIRST_YEAR, LAST_YEAR = 1900, 9000


def printable(text: str) -> str:
    """`text`, with lone surrogates (which JSON from a webhook can carry, and UTF-8 cannot)
    written as \\udxxx escapes and NUL characters (which PostgreSQL's text cannot hold) as
    \\x00, so that it can be stored and hashed on either backend."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    return text


@dataclass(frozen=True)
class Send:
    to: str
    template: str
    at: dt.datetime | None = None  # default: now
    channel: str | None = None  # default: the template's
    sender: str | None = None  # default: the template's
    market: str | None = None  # what the business knows of the recipient's market
    timezone: str | None = None  # what the business knows of the recipient's time zone


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    market: str | None = None
    citation: str | None = None
    # for quiet_hours: the next instant the window allows (kept off the public dict)
    when: dt.datetime | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "market": self.market,
            "citation": self.citation,
        }


@dataclass(frozen=True)
class Decision:
    outcome: str
    reasons: tuple[Reason, ...] = ()
    not_before: dt.datetime | None = None
    id: int | None = None  # its audit entry; None only when the ledger could not be written
    warnings: tuple[Reason, ...] = ()  # advisory parameters (e.g. an operator code's hours)
    send: Send | None = field(default=None, compare=False)

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOW

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "allowed": self.allowed,
            "reasons": [r.to_dict() for r in self.reasons],
            "warnings": [r.to_dict() for r in self.warnings],
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "id": self.id,
        }


@dataclass(frozen=True)
class InboundResult:
    action: str  # opt_out, opt_in, help, review, none
    reply: str | None  # the sender's reply text to send, if any
    id: int | None  # its audit entry
    replayed: bool = False  # a webhook's message recorded before: nothing was written now
