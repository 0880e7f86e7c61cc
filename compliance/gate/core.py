"""The pre-send gate: `Gate.check(Send)` answers allow, deny or defer with reasons, from the
same market files the linter uses, and writes each answer to the audit trail before returning.

Fail closed: when the ledger cannot be read or written the answer is deny (ledger.error); an
allow exists only once its audit entry is committed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.documents import CHANNELS, parse_duration
from compliance.gate import audit
from compliance.gate import keywords as kw
from compliance.gate import model as m
from compliance.gate.catalog import Catalog, from_bundle, from_repo
from compliance.gate.ledger import BUSY_TIMEOUT_S, Ledger, LedgerError, default_path, micros
from compliance.gate.model import Decision, InboundResult, Reason, Send, aware, printable
from compliance.gate.recipient import InvalidRecipient, Recipient, parse
from compliance.gate.timing import allowed_at, applicable, known_zone, next_allowed

# what an opt-out stops where the market file does not say: everything on that channel
OPT_OUT_STOPS = ("marketing", "transactional", "otp")
WINDOW_CACHE = 8192  # quiet-hour answers kept per gate, by zone, region and minute


class _Prepared:
    """A send with its instant, template, channel and parsed recipient (or why it has none)."""

    __slots__ = ("send", "at", "at_us", "template", "channel", "recipient", "invalid")

    def __init__(
        self,
        send: Send,
        at: dt.datetime,
        at_us: int,
        template: Any,
        channel: str | None,
        recipient: Recipient | None,
        invalid: str | None,
    ) -> None:
        self.send = send
        self.at = at
        self.at_us = at_us
        self.template = template
        self.channel = channel
        self.recipient = recipient
        self.invalid = invalid


@dataclass
class _Batch:
    """What stays the same for every send of one check_many() transaction."""

    paused: dict[tuple[str, str], str]
    template_reasons: dict[tuple[Any, ...], list[Reason]] = field(default_factory=dict)


class Gate:
    """Check sends against consent, do-not-contact lists, quiet hours, caps and templates."""

    def __init__(self, catalog: Catalog, ledger: Ledger) -> None:
        self.catalog = catalog
        self.ledger = ConsentLedger(self, ledger)
        self._db = ledger
        self._windows: dict[tuple[Any, ...], tuple[Any, Any]] = {}
        self._expiries: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        # how far back frequency caps look, at most: a batch reads that much of the trail
        reach = [
            _days(cap.per) * 86400 for p in catalog.markets.values() for cap in p.frequency_caps
        ]
        self._cap_reach_us = int(max(reach) * 1_000_000) if reach else None

    @classmethod
    def open(
        cls,
        repo: str | Path | None = None,
        *,
        bundle: str | Path | None = None,
        ledger: str | Path | None = None,
        durable: bool = False,
        busy_timeout: float = BUSY_TIMEOUT_S,
    ) -> Gate:
        """From a template repo (linted now) or a bundle CI built; a new ledger is created when
        the path does not exist (default: $COMPLIANCE_DB, else .compliance/ledger.db).
        `durable` adds an fsync per decision (survives power loss, not only a killed process);
        `busy_timeout` is how long a write waits for another process's before the answer is
        deny (ledger.error). Raises LedgerError when the ledger cannot be opened now."""
        if (repo is None) == (bundle is None):
            raise ValueError("Gate.open takes repo= or bundle=, one of them")
        catalog = from_bundle(Path(bundle)) if bundle is not None else from_repo(Path(repo))
        return cls(
            catalog,
            Ledger(ledger or default_path(), durable=durable, busy_timeout=busy_timeout),
        )

    def close(self) -> None:
        self._db.close()

    # decisions -----------------------------------------------------------------------------

    def check(self, send: Send) -> Decision:
        """One send: evaluated and audited in one transaction."""
        return self.check_many([send])[0]

    def check_many(self, sends: Iterable[Send]) -> list[Decision]:
        """A campaign batch in one transaction: the answers check() would give, in order (each
        send sees the ones before it, e.g. for frequency caps)."""
        sends = list(sends)
        for send in sends:
            aware(send.at, "Send.at")  # a naive datetime is a programming error: raise
            if send.timezone is not None:
                known_zone(send.timezone)  # so is a misspelt time zone
            if send.channel is not None and send.channel not in CHANNELS:
                raise ValueError(
                    f"Send.channel {send.channel!r} is not a channel; use one of "
                    f"{', '.join(CHANNELS)}"
                )
        try:
            with self._db.write():
                batch = _Batch(self._db.paused())
                prepared = [self._prepare(send) for send in sends]
                # one read of the whole batch's ledger state (reading the next chunk in a
                # thread while deciding one was slower: the two fight over the GIL)
                self._db.prefetch(*self._reads(prepared))
                try:
                    return [self._decide(p, batch) for p in prepared]
                finally:
                    self._db.prefetch(None)
        except (sqlite3.Error, LedgerError) as exc:
            reason = Reason(m.LEDGER_ERROR, f"the consent ledger cannot be used: {exc}")
            return [Decision(m.DENY, (reason,), send=send) for send in sends]

    def _reads(self, prepared: list[_Prepared]) -> tuple[list[str], int, int | None]:
        """What to read for these sends: their subjects, up to their latest instant, and from
        how far back their frequency caps count."""
        since = None
        if self._cap_reach_us is not None and prepared:
            since = min(p.at_us for p in prepared) - self._cap_reach_us
        subjects = [p.recipient.subject for p in prepared if p.recipient is not None]
        return subjects, max((p.at_us for p in prepared), default=0), since

    def _prepare(self, send: Send) -> _Prepared:
        """What a send is: its instant, template, channel and parsed recipient."""
        at = aware(send.at, "Send.at")
        template = self.catalog.templates.get(send.template)
        channel = send.channel or (template.channel if template else None)
        try:
            return _Prepared(send, at, micros(at), template, channel, parse(send.to, channel), None)
        except InvalidRecipient as exc:
            return _Prepared(send, at, micros(at), template, channel, None, str(exc))

    def _decide(self, p: _Prepared, batch: _Batch) -> Decision:
        send, at, template, channel, recipient = p.send, p.at, p.template, p.channel, p.recipient
        reasons: list[Reason] = []
        warnings: list[Reason] = []
        not_before = None
        if p.invalid is not None:
            reasons.append(Reason(m.RECIPIENT_INVALID, p.invalid))
        # the number's market and what the business knows (Send.market): both apply, so the
        # stricter rules win; an email address has no country, so its template's market counts
        known = (recipient.market if recipient else None, send.market)
        markets = list(dict.fromkeys(code for code in known if code)) or (
            [template.markets[0]] if template and channel == "email" else []
        )
        market = markets[0] if markets else None
        if template is not None and recipient is not None and not markets:
            # no market, no market rules: never an allow for want of knowing where
            reasons.append(
                Reason(m.RECIPIENT_INVALID, f"cannot tell the market of {recipient.subject!r}")
            )
        if template is None:
            reasons.append(
                Reason(m.TEMPLATE_UNKNOWN, f"no template {send.template!r} in the repo or bundle")
            )
        else:
            for code in markets or [None]:
                key = (template.id, send.sender, code)
                found = batch.template_reasons.get(key)
                if found is None:
                    found = batch.template_reasons[key] = self._template_reasons(
                        template, send, code, batch.paused
                    )
                reasons += found
        if template is not None and recipient is not None:
            for code in markets:
                found, when, warned = self._market_reasons(
                    template, channel, recipient, send, code, at
                )
                reasons += found
                warnings += warned
                if when is not None:
                    not_before = max(not_before, when) if not_before else when
        if len(reasons) > 1:
            reasons = list(dict.fromkeys(reasons))
        outcome = m.ALLOW
        if reasons:
            only_quiet = all(r.code == m.QUIET_HOURS for r in reasons)
            outcome = m.DEFER if only_quiet and not_before is not None else m.DENY
        decision_id = self._db.audit(
            at=at,
            at_us=p.at_us,
            kind="decision",
            subject=recipient.subject if recipient else None,
            outcome=outcome,
            purpose=template.purpose if template else None,
            data=None,
            text=audit.decision_text(
                template=printable(send.template),
                to=self._db.sid(recipient.subject) if recipient else printable(send.to),
                channel=printable(channel) if channel else channel,
                market=market,
                outcome=outcome,
                reasons=[r.code for r in reasons],
                warnings=[w.code for w in warnings],
                not_before=not_before.isoformat() if outcome == m.DEFER and not_before else None,
                catalog=self.catalog.digest,
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

    # the checks --------------------------------------------------------------------------------

    def _market_reasons(
        self,
        template: Any,
        channel: str,
        recipient: Recipient,
        send: Send,
        market: str,
        at: dt.datetime,
    ) -> tuple[list[Reason], dt.datetime | None, list[Reason]]:
        """Consent, do-not-contact, caps and quiet hours under one market's rules."""
        reasons = self._consent_reasons(template, channel, recipient, market, at)
        reasons += self._dnc_reasons(template, channel, recipient, market, at)
        params = self.catalog.markets.get(market)
        if params is None:
            return reasons, None, []
        reasons += self._cap_reasons(template, channel, recipient, market, params, at)
        when, window = self._window(template, channel, recipient, send, market, params, at)
        if window is None:
            return reasons, when, []
        if window[1]:
            return reasons, when, [window[0]]
        return [*reasons, window[0]], when, []

    def _template_reasons(
        self, template: Any, send: Send, market: str | None, paused: dict[tuple[str, str], str]
    ) -> list[Reason]:
        reasons = []
        if template.status != "approved":
            reasons.append(
                Reason(
                    m.TEMPLATE_NOT_APPROVED,
                    f"template {template.id!r} is {template.status}, not approved",
                )
            )
        if market is not None and market not in template.markets:
            reasons.append(
                Reason(
                    m.TEMPLATE_MARKET,
                    f"template {template.id!r} does not target "
                    f"market {market} ({', '.join(template.markets)})",
                    market,
                )
            )
        errors = self.catalog.errors("template", template.id)
        if errors:
            reasons.append(
                Reason(
                    m.TEMPLATE_LINT,
                    f"template {template.id!r} has lint errors: {', '.join(sorted(set(errors)))}",
                )
            )
        reasons += self._sender_reasons(template, send, market)
        for kind, target in (
            ("template", template.id),
            ("sender", send.sender or template.sender),
            ("market", market),
        ):
            if target and (kind, target) in paused:
                reasons.append(
                    Reason(m.PAUSED, f"{kind} {target} is paused: {paused[(kind, target)]}", market)
                )
        return reasons

    def _sender_reasons(self, template: Any, send: Send, market: str | None) -> list[Reason]:
        ident = send.sender or template.sender
        if template.channel == "push" and ident is None:
            return []
        sender = self.catalog.senders.get(ident or "")
        problem = None
        if sender is None:
            problem = f"sender {ident!r} is not in the repo"
        elif sender.status != "active":
            problem = f"sender {ident!r} is {sender.status}"
        elif sender.markets and market and market not in sender.markets:
            problem = f"sender {ident!r} is not registered for {market}"
        elif sender.purposes and template.purpose not in sender.purposes:
            problem = f"sender {ident!r} is not registered for {template.purpose}"
        elif self.catalog.errors("sender", sender.id):
            problem = (
                f"sender {ident!r} fails its registration rules: "
                f"{', '.join(sorted(set(self.catalog.errors('sender', sender.id))))}"
            )
        return [Reason(m.SENDER_UNREGISTERED, problem, market)] if problem else []

    def _consent_reasons(
        self, template: Any, channel: str, recipient: Recipient, market: str, at: dt.datetime
    ) -> list[Reason]:
        events = self._db.consent_events(recipient.subject, channel, micros(at))  # newest first
        params = self.catalog.markets.get(market)
        wide = next((i for i, e in enumerate(events) if e[0] is None), None)
        opted_out = wide is not None and events[wide][1] == "revoke"
        if template.purpose != "marketing":
            # transactional and OTP need no marketing consent; an opt-out stops them where the
            # market says so (and until the subject signs up again on that channel)
            stops = params.keywords.opt_out_stops if params and params.keywords else OPT_OUT_STOPS
            if (
                opted_out
                and template.purpose in stops
                and not any(e[1] in ("grant", "opt_in") for e in events[:wide])
            ):
                return [self._opted_out(recipient, channel, events[wide], market, params)]
            return []
        if self._db.pending_review(recipient.subject, channel):
            return [
                Reason(
                    m.CONSENT_REVOKED,
                    f"{recipient.subject} sent a reply that may be an "
                    "opt-out; marketing is held until a person reviews it",
                    market,
                    _cite(params.keywords.citations) if params and params.keywords else None,
                )
            ]
        scope_id = template.consent_scope
        scoped = next((i for i, e in enumerate(events) if e[0] == scope_id), None)
        if opted_out and (scoped is None or wide < scoped):
            return [self._opted_out(recipient, channel, events[wide], market, params)]
        basis = _cite(params.consent.citations) if params and params.consent else None
        if scoped is None:
            others = sorted({e[0] for e in events if e[0] and e[1] == "grant"})
            if others:
                return [
                    Reason(
                        m.CONSENT_SCOPE,
                        f"consent on {channel} covers {', '.join(others)}, not {scope_id}",
                        market,
                        basis,
                    )
                ]
            return [
                Reason(m.CONSENT_MISSING, f"no consent for {scope_id} on {channel}", market, basis)
            ]
        event = events[scoped]
        if event[1] != "grant":
            return [
                Reason(
                    m.CONSENT_REVOKED,
                    f"consent for {scope_id} was revoked ({event[3]})",
                    market,
                    basis,
                )
            ]
        expiry, source = self._expiry(scope_id, market)
        if expiry is not None and at > _plus(_from_us(event[2]), expiry):
            return [
                Reason(
                    m.CONSENT_EXPIRED,
                    f"consent for {scope_id} lapsed {expiry} after it was given",
                    market,
                    source,
                )
            ]
        if recipient.is_phone and self._db.disconnected_after(
            recipient.subject, event[2], micros(at)
        ):
            return [
                Reason(
                    m.CONSENT_REASSIGNED,
                    f"{recipient.subject} was disconnected after "
                    "consent was given: the number may belong to someone else",
                    market,
                    _cite(params.do_not_call.citations) if params and params.do_not_call else None,
                )
            ]
        return []

    @staticmethod
    def _opted_out(
        recipient: Recipient, channel: str, event: tuple[Any, ...], market: str, params: Any
    ) -> Reason:
        rules = params and (params.opt_out or params.keywords)
        return Reason(
            m.CONSENT_REVOKED,
            f"{recipient.subject} opted out of {channel} ({event[3]})",
            market,
            _cite(rules.citations) if rules else None,
        )

    def _expiry(self, scope_id: str, market: str) -> tuple[str | None, str | None]:
        """The scope's expires_after, capped by the market's cap for its basis, and the
        citation when the market's cap is the one that binds."""
        key = (scope_id, market)
        if key not in self._expiries:
            self._expiries[key] = self._find_expiry(scope_id, market)
        return self._expiries[key]

    def _find_expiry(self, scope_id: str, market: str) -> tuple[str | None, str | None]:
        scope = self.catalog.scopes.get(scope_id)
        if scope is None:
            return None, None
        own = scope.expires_after
        rules = self.catalog.markets.get(market)
        if (
            rules is not None
            and rules.consent is not None
            and scope.consent in ("implied", "soft_opt_in")
            and scope.basis
        ):
            cap = rules.consent.implied_max.get(scope.basis)
            if cap and (own is None or _days(cap) < _days(own)):
                return cap, _cite(rules.consent.citations)
        return own, None

    def _dnc_reasons(
        self, template: Any, channel: str, recipient: Recipient, market: str, at: dt.datetime
    ) -> list[Reason]:
        listed = self._db.dnc_listed(recipient.subject)
        if "erased" in listed:  # the person asked to be forgotten: no message of any kind
            return [Reason(m.DNC_LISTED, "the subject was erased from the ledger", market)]
        if template.purpose != "marketing" or not recipient.is_phone:
            return []
        params = self.catalog.markets.get(market)
        dnc = params.do_not_call if params else None
        if listed:
            return [
                Reason(
                    m.DNC_LISTED,
                    f"{recipient.subject} is on {', '.join(listed)}",
                    market,
                    _cite(dnc.citations) if dnc else None,
                )
            ]
        if dnc is None or channel not in dnc.channels or "marketing" not in dnc.purposes:
            return []
        scope = self.catalog.scopes.get(template.consent_scope or "")
        if scope is not None and scope.consent in dnc.exempt_consent:
            return []
        checked = self._db.registry_checked(market)
        valid_for = _days(dnc.check_valid_for)
        if checked is None or (at - _from_us(checked)).total_seconds() > valid_for * 86400:
            when = "never" if checked is None else _from_us(checked).date().isoformat()
            return [
                Reason(
                    m.DNC_CHECK_STALE,
                    f"{dnc.registry} last checked {when}; marketing "
                    f"needs a check no older than {dnc.check_valid_for}",
                    market,
                    _cite(dnc.citations),
                )
            ]
        return []

    def _cap_reasons(
        self,
        template: Any,
        channel: str,
        recipient: Recipient,
        market: str,
        params: Any,
        at: dt.datetime,
    ) -> list[Reason]:
        reasons = []
        for cap in params.frequency_caps:
            if template.purpose not in cap.purposes or (
                cap.channels and channel not in cap.channels
            ):
                continue
            if cap.regions and recipient.region not in cap.regions:
                continue
            window = _days(cap.per) * 86400
            since = micros(at) - int(window * 1_000_000)
            count = self._db.allowed_since(recipient.subject, list(cap.purposes), since, micros(at))
            if count >= cap.max_messages:
                reasons.append(
                    Reason(
                        m.FREQUENCY_CAP,
                        f"{count} {template.purpose} messages in "
                        f"the last {cap.per}; the cap is {cap.max_messages}",
                        market,
                        _cite(cap.citations),
                    )
                )
        return reasons

    def _window(
        self,
        template: Any,
        channel: str,
        recipient: Recipient,
        send: Send,
        market: str,
        params: Any,
        at: dt.datetime,
    ) -> tuple[dt.datetime | None, tuple[Reason, bool] | None]:
        zones = recipient.timezones
        if send.timezone and send.timezone not in zones:
            zones = (*zones, send.timezone)
        if not zones and params.timezone:
            zones = (params.timezone,)
        if not zones or not params.quiet_hours:
            return None, None
        # windows are whole minutes in local time, so the answer is the same for every instant
        # of one UTC minute: campaigns ask it once per zone, region and minute
        key = (
            market,
            template.purpose,
            channel,
            zones,
            recipient.region,
            micros(at) // 60_000_000,
        )
        answer = self._windows.get(key)
        if answer is None:
            if len(self._windows) >= WINDOW_CACHE:
                self._windows.clear()
            answer = self._windows[key] = self._quiet_hours(
                template.purpose, channel, zones, recipient.region, market, params, at
            )
        return answer

    def _quiet_hours(
        self,
        purpose: str,
        channel: str,
        zones: tuple[str, ...],
        region: str | None,
        market: str,
        params: Any,
        at: dt.datetime,
    ) -> tuple[dt.datetime | None, tuple[Reason, bool] | None]:
        blocks = applicable(params.quiet_hours, purpose, channel)
        required = [b for b in blocks if b.enforcement == "required"]
        advisory = [b for b in blocks if b.enforcement == "advisory"]
        shut = [b for b in required if not allowed_at(at, [b], zones, region, market)]
        if shut:
            when = next_allowed(at, required, zones, region, market)
            return when, (
                Reason(
                    m.QUIET_HOURS,
                    "outside the sending window in the recipient's local time; "
                    + (f"next allowed {when}" if when else "no window opens in the next days"),
                    market,
                    _cite(shut[0].citations),
                ),
                False,
            )
        shut = [b for b in advisory if not allowed_at(at, [b], zones, region, market)]
        if shut:
            return None, (
                Reason(
                    m.QUIET_HOURS,
                    "outside the advised sending window in the "
                    "recipient's local time (an operator code, not law)",
                    market,
                    _cite(shut[0].citations),
                ),
                True,
            )
        return None, None

    # pauses ------------------------------------------------------------------------------------

    def pause(
        self,
        *,
        reason: str,
        by: str,
        template: str | None = None,
        sender: str | None = None,
        market: str | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        """Stop sends of a template, a sender or a market (exactly one) until resumed."""
        return self._set_pause(True, reason, by, template, sender, market, at)

    def resume(
        self,
        *,
        reason: str,
        by: str,
        template: str | None = None,
        sender: str | None = None,
        market: str | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        """Lift a pause; the same keywords as pause()."""
        return self._set_pause(False, reason, by, template, sender, market, at)

    def _set_pause(
        self,
        paused: bool,
        reason: str,
        by: str,
        template: str | None,
        sender: str | None,
        market: str | None,
        at: dt.datetime | None,
    ) -> int:
        kind, target = _target(template, sender, market)
        return self._db.set_pause(kind, target, paused, reason, by, aware(at))


class ConsentLedger:
    """`gate.ledger`: consent grants, revocations and inbound replies."""

    def __init__(self, gate: Gate, db: Ledger) -> None:
        self._gate = gate
        self._db = db

    def grant(
        self,
        *,
        subject: str,
        channel: str,
        scope: str,
        source: str,
        at: dt.datetime,
        evidence: dict[str, Any] | None = None,
    ) -> int:
        who = self._subject(subject, channel)
        known = self._gate.catalog.scopes.get(scope)
        if known is None:
            raise ValueError(f"unknown consent scope {scope!r}: define it in the repo first")
        return self._db.record_consent(
            subject=who,
            channel=channel,
            scope=scope,
            action="grant",
            source=source,
            at=aware(at),
            capture_digest=_capture_digest(known),
            evidence=evidence,
        )

    def record_many(self, events: list[dict[str, Any]]) -> list[int]:
        """Grants and revocations (dicts with the keywords of grant() and revoke() plus
        action="grant" or "revoke"), all checked first and written in one transaction: one
        bad event raises ValueError naming it, and nothing is written."""
        return self._db.record_consents(self.checked(events))

    def checked(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events as record_many() writes them, or ValueError naming the first bad one
        (event 1 is the first); writes nothing."""
        prepared = []
        for number, event in enumerate(events, 1):
            try:
                action = event.get("action")
                if action not in ("grant", "revoke"):
                    raise ValueError(f"action must be grant or revoke, not {action!r}")
                who = self._subject(event.get("subject") or "", event.get("channel") or "")
                scope = event.get("scope") or None
                known = self._gate.catalog.scopes.get(scope or "")
                if action == "grant" and known is None:
                    raise ValueError(
                        f"unknown consent scope {scope!r}: define it in the repo first"
                    )
                if action == "revoke" and scope is not None and known is None:
                    raise ValueError(f"unknown consent scope {scope!r}")
                if not event.get("source"):
                    raise ValueError("source is missing")
                prepared.append(
                    {
                        "subject": who,
                        "channel": event["channel"],
                        "scope": scope,
                        "action": action,
                        "source": event["source"],
                        "at": aware(event.get("at"), "at") if event.get("at") else _no_time(),
                        "capture_digest": (
                            _capture_digest(known) if action == "grant" and known else None
                        ),
                        "evidence": event.get("evidence"),
                    }
                )
            except ValueError as exc:
                raise ValueError(f"event {number}: {exc}") from None
        return prepared

    def revoke(
        self, *, subject: str, channel: str, scope: str | None = None, source: str, at: dt.datetime
    ) -> int:
        who = self._subject(subject, channel)
        if scope is not None and scope not in self._gate.catalog.scopes:
            raise ValueError(f"unknown consent scope {scope!r}")
        return self._db.record_consent(
            subject=who, channel=channel, scope=scope, action="revoke", source=source, at=aware(at)
        )

    def inbound(
        self,
        *,
        subject: str,
        text: str,
        channel: str,
        sender: str | None = None,
        at: dt.datetime,
        after_prompt: bool = False,
    ) -> InboundResult:
        who = self._subject(subject, channel)
        at = aware(at)
        text = printable(text)
        recipient = parse(who, channel)
        params = self._gate.catalog.markets.get(recipient.market or "")
        others = [p.keywords for p in self._gate.catalog.markets.values() if p.keywords]
        action = kw.classify(
            text, params.keywords if params else None, after_prompt=after_prompt, extra=others
        )
        sending = self._gate.catalog.senders.get(sender or "")
        replies = sending.replies if sending is not None else {}
        reply = {
            kw.OPT_OUT: replies.get("stop"),
            kw.OPT_IN: replies.get("start"),
            kw.HELP: replies.get("help"),
        }.get(action)
        seq = self._db.record_inbound(
            subject=who, channel=channel, sender=sender, text=text, action=action, at=at
        )
        return InboundResult(action, reply, seq)

    def reviews(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        """Replies that might be opt-outs and wait for a person (marketing to their senders
        is held meanwhile), oldest first; with include_resolved, the resolved ones too."""
        return self._db.reviews(include_resolved=include_resolved)

    def resolve(
        self,
        review: int,
        *,
        opt_out: bool,
        by: str,
        note: str | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        """Record a person's reading of a doubtful reply: opt_out=True revokes consent on the
        whole channel from when the message came in; False lets consent on record decide
        again. Returns the audit entry."""
        return self._db.resolve_review(review, opt_out=opt_out, by=by, note=note, at=aware(at))

    def history(self, subject: str, channel: str | None = None) -> list[dict[str, Any]]:
        who = parse(subject, channel).subject
        return self._db.history(who)

    def erase(self, subject: str, *, at: dt.datetime | None = None) -> int:
        """Remove the subject's raw identifier (ledgers that pseudonymise subjects); a hashed
        suppression keeps them from being messaged again."""
        return self._db.erase(parse(subject).subject, aware(at))

    def _subject(self, subject: str, channel: str) -> str:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
        return parse(subject, channel).subject


def _capture_digest(scope: Any) -> str | None:
    """What a grant records of the consent text shown: the sha256 of each capture text."""
    digests = [hashlib.sha256(c.text.encode("utf-8")).hexdigest() for c in scope.capture]
    return ",".join(digests) or None


def _no_time() -> dt.datetime:
    raise ValueError("at is missing: give the time with an offset, e.g. 2026-11-26T15:00:00Z")


def _target(template: str | None, sender: str | None, market: str | None) -> tuple[str, str]:
    given = [
        (k, v) for k, v in (("template", template), ("sender", sender), ("market", market)) if v
    ]
    if len(given) != 1:
        raise ValueError("pause and resume take exactly one of template=, sender= or market=")
    return given[0]


def _days(duration: str) -> float:
    if duration.startswith("PT") and duration.endswith("H"):
        return int(duration[2:-1]) / 24
    parts = parse_duration(duration)
    return parts["years"] * 365.25 + parts["months"] * 30.44 + parts["weeks"] * 7 + parts["days"]


def _plus(start: dt.datetime, duration: str) -> dt.datetime:
    return start + dt.timedelta(days=_days(duration))


def _cite(citations: Any) -> str | None:
    """A reason's citation: the first source the market file gives for the rule, with its
    clause."""
    if not citations:
        return None
    first = citations[0]
    return f"{first.source}, {first.clause}" if first.clause else first.source


def _from_us(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1_000_000, dt.timezone.utc)
