"""The pre-send gate: `Gate.check(Send)` answers allow, deny or defer with reasons, from the
same market files the linter uses, and writes each answer to the audit trail before returning.

Fail closed: when the ledger cannot be read or written the answer is deny (ledger.error); an
allow exists only once its audit entry is committed.

Time: one clock (`Gate.open(..., clock=...)`) is read once a decision holds the ledger's write
lock, so the decision sees every event recorded before it. A send cannot go out in the past:
a Send.at earlier than the decision is judged at the decision's time, and one further ahead
than the horizon is refused.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from compliance.documents import CHANNELS
from compliance.errors import UsageError
from compliance.gate import audit
from compliance.gate import model as m
from compliance.gate.catalog import Catalog, from_bundle, from_repo
from compliance.gate.consent import ConsentLedger, did_you_mean
from compliance.gate.durations import fixed_us
from compliance.gate.ledger import (
    BUSY_TIMEOUT_S,
    Ledger,
    LedgerError,
    default_path,
    is_url,
    micros,
    open_ledger,
)
from compliance.gate.model import Decision, Reason, Send, aware, printable
from compliance.gate.recipient import InvalidRecipient, Recipient, parse
from compliance.gate.rules import Rules
from compliance.gate.timing import known_zone

HORIZON = dt.timedelta(days=30)


class _Prepared:
    """A send with its template and parsed recipient (or why it has none), and once the
    decision's time is known (stamp()), its instants."""

    __slots__ = ("send", "at", "requested", "template", "channel", "recipient", "invalid", "early")

    def __init__(self, send: Send, catalog: Catalog) -> None:
        self.send = send
        self.template = catalog.templates.get(send.template)
        channel = self.template.channel if self.template else send.channel
        self.channel = channel
        self.recipient: Recipient | None = None
        self.invalid: str | None = None
        try:
            self.recipient = parse(send.to, channel)
        except InvalidRecipient as exc:
            self.invalid = str(exc)

    def stamp(self, now: dt.datetime, horizon: dt.timedelta, catalog: Catalog) -> _Prepared:
        send = self.send
        # checked already (_problem): only put in UTC
        self.requested = send.at.astimezone(dt.timezone.utc) if send.at is not None else None
        # a message cannot go out in the past: judged now
        self.at = max(self.requested, now) if self.requested is not None else now
        self.early: Reason | None = None  # a reason that ends the decision before the checks
        if self.requested is not None and self.requested - now > horizon:
            self.early = Reason(
                m.SEND_HORIZON,
                f"Send.at {self.requested.isoformat()} is more than {horizon} ahead of the "
                "decision: decide it closer to the time",
            )
        elif self.template is None:
            self.early = Reason(
                m.TEMPLATE_UNKNOWN,
                f"no template {send.template!r} in the repo or bundle"
                + did_you_mean(send.template, catalog.templates),
            )
        elif send.channel is not None and send.channel != self.template.channel:
            self.early = Reason(
                m.SEND_CHANNEL,
                f"template {self.template.id!r} is for {self.template.channel}, not "
                f"{send.channel}: a send's channel is its template's",
            )
        return self


class Gate:
    """Check sends against consent, do-not-contact lists, quiet hours, caps and templates. One
    Gate may be shared by threads."""

    def __init__(
        self, catalog: Catalog, ledger: Ledger, *, horizon: dt.timedelta = HORIZON
    ) -> None:
        self.catalog = catalog
        self.horizon = horizon
        self._db = ledger
        self.rules = Rules(catalog, ledger)
        self.ledger = ConsentLedger(catalog, ledger)
        # how far frequency caps look either side of a send: a batch reads that much
        reach = [fixed_us(cap.per) for p in catalog.markets.values() for cap in p.frequency_caps]
        self._cap_reach_us = max(reach, default=0)

    @classmethod
    def open(
        cls,
        repo: str | os.PathLike[str] | None = None,
        *,
        bundle: str | os.PathLike[str] | None = None,
        ledger: str | os.PathLike[str] | None = None,
        durable: bool = False,
        busy_timeout: float = BUSY_TIMEOUT_S,
        clock: Callable[[], dt.datetime] | None = None,
        horizon: dt.timedelta = HORIZON,
        create: bool = False,
    ) -> Gate:
        """From a template repo (linted now) or a bundle CI built, and an existing ledger
        (a file path or a postgresql:// URL; default: $COMPLIANCE_DB, else
        .compliance/ledger.db); `create=True` makes the ledger
        when there is none. `clock` returns the time as an aware datetime (default: the
        system's); `horizon` is how far ahead a Send.at may be. `durable` adds an fsync per
        decision (survives power loss, not only a killed process); `busy_timeout` is how long a
        write waits for another process's before the answer is deny (ledger.error). Raises
        LedgerError when the ledger cannot be opened now, ValueError or TypeError for bad
        arguments."""
        if (repo is None) == (bundle is None):
            raise UsageError("Gate.open takes repo= or bundle=, one of them")
        clock = _checked_clock(clock)
        _check_options(durable, busy_timeout, horizon, create)
        where = (
            ledger
            if is_url(ledger)
            else _path(ledger, "ledger")
            if ledger is not None
            else default_path()
        )
        if bundle is not None:
            catalog = from_bundle(_path(bundle, "bundle"))
        else:
            catalog = from_repo(_path(repo, "repo"))
        db = open_ledger(
            where, durable=durable, busy_timeout=busy_timeout, create=create, clock=clock
        )
        return cls(catalog, db, horizon=horizon)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # decisions -----------------------------------------------------------------------------

    def check(self, send: Send) -> Decision:
        """One send: evaluated and audited in one transaction. A Send that cannot be read
        raises (TypeError or ValueError naming the field)."""
        problem = _problem(send)
        if problem is not None:
            raise problem
        return self._decide_all([send], [None])[0]

    def check_many(self, sends: Iterable[Send]) -> list[Decision]:
        """A campaign batch in one transaction: the answers check() would give, in order (each
        send sees the ones before it, e.g. for frequency caps). A Send that cannot be read is
        denied on its own (send.invalid); the rest are answered."""
        if isinstance(sends, (Send, str, bytes, dict)) or not isinstance(sends, Iterable):
            raise TypeError(f"check_many takes an iterable of Send, not {type(sends).__name__}")
        items = list(sends)
        if not items:
            return []
        return self._decide_all(items, [_problem(send) for send in items])

    def _decide_all(self, items: list[Any], problems: list[Exception | None]) -> list[Decision]:
        try:
            parsed = [
                _Prepared(s, self.catalog) if p is None else None
                for s, p in zip(items, problems, strict=True)
            ]
            # the subjects whose records the decisions read and write (None: none), which a
            # ledger kept in several chains locks before it reads
            subjects = [p.recipient.subject if p and p.recipient else None for p in parsed]
            with self._db.write(subjects=subjects):
                now = self._db.now
                paused = self._db.paused()
                prepared = [
                    p.stamp(now, self.horizon, self.catalog) if p is not None else None
                    for p in parsed
                ]
                self._db.prefetch(*self._reads(prepared))
                memo: dict[tuple[Any, ...], list[Reason]] = {}
                try:
                    return [
                        self._decide(p, paused, memo) if p is not None else self._invalid(s, e)
                        for s, p, e in zip(items, prepared, problems, strict=True)
                    ]
                finally:
                    self._db.prefetch(None)
        except (sqlite3.Error, LedgerError) as exc:
            reason = Reason(m.LEDGER_ERROR, f"the consent ledger cannot be used: {exc}")
            return [
                Decision(m.DENY, (reason,), send=s if isinstance(s, Send) else None) for s in items
            ]

    def _reads(self, prepared: list[_Prepared | None]) -> tuple[list[str], int, int]:
        """What to read for these sends: their subjects, and the span of sends their
        frequency caps count."""
        ready = [p for p in prepared if p is not None and p.recipient is not None]
        if not ready or not self._cap_reach_us:
            return [p.recipient.subject for p in ready], 0, 0  # type: ignore[union-attr]
        times = [micros(p.at) for p in ready]
        return (
            [p.recipient.subject for p in ready],  # type: ignore[union-attr]
            min(times) - self._cap_reach_us,
            max(times) + self._cap_reach_us,
        )

    def _decide(
        self,
        p: _Prepared,
        paused: dict[tuple[str, str], str],
        memo: dict[tuple[Any, ...], list[Reason]],
    ) -> Decision:
        send, at, template, recipient = p.send, p.at, p.template, p.recipient
        reasons: list[Reason] = [p.early] if p.early else []
        warnings: list[Reason] = []
        not_before = None
        if p.invalid is not None and (p.early is None or p.early.code != m.SEND_HORIZON):
            reasons.append(Reason(m.RECIPIENT_INVALID, p.invalid))
        markets = _markets(template, recipient, send.market)
        market = markets[0] if markets else None
        if p.early is None and template is not None:
            if recipient is not None and not markets:
                # no market, no market rules: never an allow for want of knowing where
                reasons.append(
                    Reason(m.RECIPIENT_INVALID, f"cannot tell the market of {recipient.subject!r}")
                )
            found, warnings, not_before = self._judge(
                template, send.sender, recipient, markets, send.timezone, at, paused, memo
            )
            reasons += found
            if recipient is not None:
                reasons += self._fallbacks(template, send, markets, at, paused, memo, warnings)
                for reason in reasons:
                    if reason.code == m.QUIET_HOURS and reason.when is not None:
                        not_before = max(not_before, reason.when) if not_before else reason.when
        if len(reasons) > 1:
            reasons = list(dict.fromkeys(reasons))
        outcome = m.ALLOW
        if reasons:
            only_quiet = all(r.code == m.QUIET_HOURS for r in reasons)
            outcome = m.DEFER if only_quiet and not_before is not None else m.DENY
        decision_id = self._db.audit(
            kind="decision",
            subject=recipient.subject if recipient else None,
            outcome=outcome,
            purpose=template.purpose if template else None,
            channel=p.channel if p.channel in CHANNELS else None,
            send_us=micros(at),
            data=None,
            text=audit.decision_text(
                template=printable(send.template),
                to=self._db.sid(recipient.subject) if recipient else printable(send.to),
                channel=printable(p.channel) if p.channel else None,
                market=market,
                outcome=outcome,
                reasons=[r.code for r in reasons],
                warnings=[w.code for w in warnings],
                not_before=not_before.isoformat() if outcome == m.DEFER and not_before else None,
                requested=_iso(p.requested) if p.requested else None,
                scheduled=self._db.now_iso if at is self._db.now else _iso(at),
                catalog=self.catalog.digest,
                via=audit.ACTOR.get(),
            ),
        )
        return Decision(
            outcome,
            tuple(reasons),
            not_before if outcome == m.DEFER else None,
            decision_id,
            tuple(warnings),
            send,
        )

    def _judge(
        self,
        template: Any,
        sender: str | None,
        recipient: Recipient | None,
        markets: list[str],
        zone: str | None,
        at: dt.datetime,
        paused: dict[tuple[str, str], str],
        memo: dict[tuple[Any, ...], list[Reason]],
    ) -> tuple[list[Reason], list[Reason], dt.datetime | None]:
        """A template's reasons under every market that applies, its warnings, and the next
        instant its windows allow."""
        reasons: list[Reason] = []
        warnings: list[Reason] = []
        not_before = None
        for code in markets or [None]:
            key = (template.id, sender, code)
            if key not in memo:
                memo[key] = self.rules.template(template, sender, code, paused)
            reasons += memo[key]
        region = recipient.region if recipient is not None else None
        if region and ("region", region) in paused and template.purpose == "marketing":
            reasons.append(
                Reason(
                    m.PAUSED,
                    f"marketing to {region} is paused: {paused[('region', region)]}",
                    region.split("-")[0],
                )
            )
        if recipient is not None:
            for code in markets:
                found, when, warned = self.rules.market(template, recipient, zone, code, at)
                reasons += found
                warnings += warned
                if when is not None:
                    not_before = max(not_before, when) if not_before else when
        return reasons, warnings, not_before

    def _fallbacks(
        self,
        template: Any,
        send: Send,
        markets: list[str],
        at: dt.datetime,
        paused: dict[tuple[str, str], str],
        memo: dict[tuple[Any, ...], list[Reason]],
        warnings: list[Reason],
    ) -> list[Reason]:
        """What a template's fallbacks need: an RCS or WhatsApp message whose platform falls
        back to SMS may go out as that SMS without another check, so it is allowed only when its
        fallbacks would be too."""
        reasons: list[Reason] = []
        seen = {template.id}
        ident = template.fallback
        while ident and ident not in seen:
            seen.add(ident)
            fallback = self.catalog.templates.get(ident)
            if fallback is None:
                reasons.append(
                    Reason(
                        m.TEMPLATE_UNKNOWN, f"its fallback {ident!r} is not in the repo or bundle"
                    )
                )
                break
            try:
                recipient = parse(send.to, fallback.channel)
            except InvalidRecipient as exc:
                reasons.append(Reason(m.RECIPIENT_INVALID, f"fallback {ident!r}: {exc}"))
                break
            found, warned, _ = self._judge(
                fallback, None, recipient, markets, send.timezone, at, paused, memo
            )
            reasons += [_fallback_reason(ident, r) for r in found]
            warnings += [_fallback_reason(ident, w) for w in warned]
            ident = fallback.fallback
        return reasons

    def _invalid(self, send: Any, problem: Exception) -> Decision:
        """A batch's unreadable send: denied on its own, and audited like any other."""
        reason = Reason(m.SEND_INVALID, str(problem))
        text = audit.canonical(
            audit.attributed(
                {
                    "outcome": m.DENY,
                    "reasons": [m.SEND_INVALID],
                    "send": printable(repr(send)[:500]),
                    "catalog": self.catalog.digest,
                }
            )
            or {}
        )
        decision_id = self._db.audit(
            kind="decision", subject=None, outcome=m.DENY, data=None, text=printable(text)
        )
        return Decision(
            m.DENY, (reason,), None, decision_id, (), send if isinstance(send, Send) else None
        )

    # pauses ------------------------------------------------------------------------------------

    def pause(
        self,
        *,
        reason: str,
        by: str,
        template: str | None = None,
        sender: str | None = None,
        market: str | None = None,
        region: str | None = None,
    ) -> int:
        """Stop sends of a template, a sender or a market (exactly one, which must exist)
        until resumed; or marketing to numbers in a subdivision (region="US-LA", as during a
        declared emergency whose law bars telephone solicitation there). Returns the audit
        entry."""
        return self._set_pause(True, reason, by, template, sender, market, region)

    def resume(
        self,
        *,
        reason: str,
        by: str,
        template: str | None = None,
        sender: str | None = None,
        market: str | None = None,
        region: str | None = None,
    ) -> int:
        """Lift a pause in force; the same keywords as pause()."""
        return self._set_pause(False, reason, by, template, sender, market, region)

    def _set_pause(
        self,
        paused: bool,
        reason: str,
        by: str,
        template: str | None,
        sender: str | None,
        market: str | None,
        region: str | None = None,
    ) -> int:
        m.text_arg(reason, "reason")
        m.text_arg(by, "by")
        if isinstance(region, str):
            region = region.strip().upper()
        kind, target = _target(template, sender, market, region)
        markets = {
            *self.catalog.markets,
            *(c for t in self.catalog.templates.values() for c in t.markets),
        }
        known = {
            "template": self.catalog.templates,
            "sender": self.catalog.senders,
            "market": markets,
            "region": {target} if _subdivision(target, markets) else set(),
        }[kind]
        if kind == "region" and target not in known:
            raise UsageError(
                f"{target!r} is not a region the gate can tell from a number: a US state as "
                "ISO 3166-2 (US-LA), in a market the repo's templates target"
            )
        if target not in known:
            raise UsageError(
                f"there is no {kind} {target!r} in the repo or bundle" + did_you_mean(target, known)
            )
        if not paused and (kind, target) not in self._db.paused():
            raise UsageError(f"{kind} {target!r} is not paused")
        return self._db.set_pause(kind, target, paused, reason, by)


def _iso(at: dt.datetime) -> str:
    """at.isoformat(), the last answer kept: a campaign's sends share their Send.at."""
    last = _LAST_ISO
    if last[0] is at:
        return last[1]
    text = at.isoformat()
    globals()["_LAST_ISO"] = (at, text)
    return text


_LAST_ISO: tuple[Any, str] = (None, "")


def _markets(template: Any, recipient: Recipient | None, extra: str | None) -> list[str]:
    """The markets whose rules apply: the number's country and what the business knows of the
    recipient (Send.market), so that the stricter rules win. An email address has no country:
    every market its template targets applies."""
    known = [recipient.market if recipient else None, extra]
    if recipient is not None and not recipient.is_phone and template is not None:
        known += template.markets
    return list(dict.fromkeys(code for code in known if code))


def _fallback_reason(ident: str, reason: Reason) -> Reason:
    return Reason(
        reason.code,
        f"fallback {ident!r}: {reason.message}",
        reason.market,
        reason.citation,
        reason.when,
    )


def _problem(send: Any) -> Exception | None:
    """Why a send cannot be checked (an exception naming the field), or None."""
    if not isinstance(send, Send):
        return TypeError(f"a send must be a Send, not {type(send).__name__}")
    if (  # the common case, at once: text fields, no time or an aware one in UTC
        type(send.to) is str
        and type(send.template) is str
        and send.channel is None
        and send.sender is None
        and send.market is None
        and send.timezone is None
        and (
            send.at is None or (type(send.at) is dt.datetime and send.at.tzinfo is dt.timezone.utc)
        )
        and (send.at is None or m.FIRST_YEAR <= send.at.year <= m.LAST_YEAR)
    ):
        return None
    try:
        # any text is an answer (an unreadable number is an audited recipient.invalid, an
        # unknown template a template.unknown); anything else is a programming error
        for name in ("to", "template", "channel", "sender", "market", "timezone"):
            value = getattr(send, name)
            if not isinstance(value, str) and (value is not None or name in ("to", "template")):
                raise TypeError(f"Send.{name} must be a string, not {type(value).__name__}")
        if send.at is not None:
            aware(send.at, "Send.at")
        if send.channel is not None and send.channel not in CHANNELS:
            raise ValueError(
                f"Send.channel {send.channel!r} is not a channel; use one of {', '.join(CHANNELS)}"
            )
        if send.timezone is not None:
            known_zone(send.timezone)
    except (TypeError, ValueError) as exc:
        return exc
    return None


def _target(
    template: str | None, sender: str | None, market: str | None, region: str | None = None
) -> tuple[str, str]:
    given = [
        (k, v)
        for k, v in (
            ("template", template),
            ("sender", sender),
            ("market", market),
            ("region", region),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise UsageError(
            "pause and resume take exactly one of template=, sender=, market= or region="
        )
    kind, target = given[0]
    m.text_arg(target, kind)
    return kind, target


def _subdivision(code: str, markets: set[str]) -> bool:
    """Whether `code` is a subdivision the gate can tell from a number (a US state: US-LA) of
    a market the repo sends to."""
    from compliance.gate.recipient import known_regions

    return code.split("-")[0] in markets and code in known_regions()


def _path(value: Any, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path, not {type(value).__name__}")
    return Path(value)


def _checked_clock(clock: Any) -> Callable[[], dt.datetime]:
    if clock is None:
        return m.system_clock
    if not callable(clock):
        raise TypeError(f"clock must be a callable returning an aware datetime, not {clock!r}")
    aware(clock(), "clock()")  # a clock that returns naive times is refused now, not per send
    return clock


def _check_options(durable: Any, busy_timeout: Any, horizon: Any, create: Any) -> None:
    if not isinstance(durable, bool):
        raise TypeError("durable must be True or False")
    if not isinstance(create, bool):
        raise TypeError("create must be True or False")
    if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)):
        raise TypeError("busy_timeout must be a number of seconds")
    if not math.isfinite(busy_timeout) or busy_timeout < 0:
        raise ValueError("busy_timeout must be a finite number of seconds, not negative")
    if not isinstance(horizon, dt.timedelta):
        raise TypeError("horizon must be a datetime.timedelta")
    if horizon <= dt.timedelta(0):
        raise ValueError("horizon must be positive")
