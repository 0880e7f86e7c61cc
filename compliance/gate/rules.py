"""The checks of one send under one market's rules: template and sender, consent, do-not-contact
lists, frequency caps and quiet hours, each read from the market file (the single source of
truth the linter reads too). `at` is always the instant the send is judged at: the later of
Send.at and the decision."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from typing import Any

from compliance.gate import durations
from compliance.gate import model as m
from compliance.gate.catalog import Catalog
from compliance.gate.ledger import Ledger, from_us, micros
from compliance.gate.model import Reason
from compliance.gate.recipient import Recipient
from compliance.gate.timing import allowed_at, applicable, next_allowed

# what an opt-out stops where the market file does not say: everything on that channel
OPT_OUT_STOPS = ("marketing", "transactional", "otp")
WINDOW_CACHE = 8192  # quiet-hour answers kept per gate, by zone, region and minute
GRANTS = ("grant", "opt_in")


class Rules:
    def __init__(self, catalog: Catalog, db: Ledger) -> None:
        self.catalog = catalog
        self.db = db
        self._windows: dict[tuple[Any, ...], tuple[Any, Any]] = {}
        self._expiries: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    # template and sender ---------------------------------------------------------------------

    def template(
        self, template: Any, sender_id: str | None, market: str | None, paused: dict[Any, str]
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
        scope_errors = self.catalog.errors("consent_scope", template.consent_scope or "")
        if scope_errors:  # consent captured in wording the law does not accept is no consent
            reasons.append(
                Reason(
                    m.TEMPLATE_LINT,
                    f"its consent scope {template.consent_scope!r} has lint errors: "
                    f"{', '.join(sorted(set(scope_errors)))}",
                )
            )
        reasons += self._sender(template, sender_id, market)
        for kind, target in (
            ("template", template.id),
            ("sender", sender_id or template.sender),
            ("market", market),
        ):
            if target and (kind, target) in paused:
                reasons.append(
                    Reason(m.PAUSED, f"{kind} {target} is paused: {paused[(kind, target)]}", market)
                )
        return reasons

    def _sender(self, template: Any, sender_id: str | None, market: str | None) -> list[Reason]:
        ident = sender_id or template.sender
        if template.channel == "push" and ident is None:
            return []
        sender = self.catalog.senders.get(ident or "")
        problem = None
        if sender is None:
            from compliance.gate.consent import did_you_mean

            problem = f"sender {ident!r} is not in the repo" + did_you_mean(
                ident, self.catalog.senders
            )
        elif sender.status != "active":
            problem = f"sender {ident!r} is {sender.status}"
        elif sender.channel != template.channel:
            problem = f"sender {ident!r} sends {sender.channel}, not {template.channel}"
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

    # one market ------------------------------------------------------------------------------

    def market(
        self,
        template: Any,
        recipient: Recipient,
        zone: str | None,
        market: str,
        at: dt.datetime,
    ) -> tuple[list[Reason], dt.datetime | None, list[Reason]]:
        """Consent, do-not-contact, caps and quiet hours under one market's rules: the reasons,
        the next allowed instant when the window is shut, and advisory warnings."""
        reasons = self.consent(template, recipient, market, at)
        reasons += self.lists(template, recipient, market, at)
        params = self.catalog.markets.get(market)
        if params is None:
            return reasons, None, []
        reasons += self.caps(template, recipient, market, params, at)
        advised: list[Reason] = []
        if params.state_do_not_call and not any(r.code == m.DNC_LISTED for r in reasons):
            for reason, advisory in self._state_list(template, recipient, market, params, at):
                (advised if advisory else reasons).append(reason)
        when, window = self.window(template, recipient, zone, market, params, at)
        if window is None:
            return reasons, when, advised
        if window[1]:
            return reasons, when, [*advised, window[0]]
        return [*reasons, window[0]], when, advised

    def consent(
        self, template: Any, recipient: Recipient, market: str, at: dt.datetime
    ) -> list[Reason]:
        """Every event recorded counts, whatever the send's time: (scope, action, at_us, source)
        newest first, on the channel's family (an SMS STOP covers MMS and RCS too)."""
        channel = template.channel
        events = self.db.consent_events(recipient.subject, channel)
        params = self.catalog.markets.get(market)
        wide = next((i for i, e in enumerate(events) if e[0] is None), None)
        opted_out = wide is not None and events[wide][1] == "revoke"
        if template.purpose != "marketing":
            # transactional and OTP need no marketing consent; an opt-out stops them where the
            # market says so (until the subject signs up again on that channel)
            stops = params.keywords.opt_out_stops if params and params.keywords else OPT_OUT_STOPS
            if (
                opted_out
                and template.purpose in stops
                and not any(e[1] in GRANTS for e in events[:wide])
            ):
                return [_opted_out(recipient, channel, events[wide], market, params)]
            return self._reassigned(recipient, events, market, params)
        if self.db.pending_review(recipient.subject, channel):
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
            return [_opted_out(recipient, channel, events[wide], market, params)]
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
        expiry, source = self._expiry(scope_id, market, from_us(event[2]))
        if expiry is not None and at > durations.add(from_us(event[2]), expiry):
            return [
                Reason(
                    m.CONSENT_EXPIRED,
                    f"consent for {scope_id} lapsed {expiry} after it was given",
                    market,
                    source,
                )
            ]
        return self._reassigned(recipient, [event], market, params)

    def _reassigned(
        self, recipient: Recipient, events: list[Any], market: str, params: Any
    ) -> list[Reason]:
        """A number disconnected after the newest grant (or opt-in) on record, or at any time
        when there is none, may belong to someone else now: no message of any purpose, since
        the new holder consented to nothing (the US TCPA covers informational texts too)."""
        if not recipient.is_phone or not self.db.ever_disconnected(recipient.subject):
            return []
        given = max((e[2] for e in events if e[1] in GRANTS), default=None)
        if not self.db.disconnected_after(
            recipient.subject, given if given is not None else -(2**62)
        ):
            return []
        return [
            Reason(
                m.CONSENT_REASSIGNED,
                f"{recipient.subject} was disconnected "
                + (
                    "after consent was given"
                    if given is not None
                    else "and no consent is on record"
                )
                + ": the number may belong to someone else",
                market,
                _cite(params.do_not_call.citations) if params and params.do_not_call else None,
            )
        ]

    def _expiry(
        self, scope_id: str, market: str, given: dt.datetime
    ) -> tuple[str | None, str | None]:
        """The scope's expires_after, capped by the market's cap for its basis, and the
        citation when the market's cap is the one that binds."""
        scope = self.catalog.scopes.get(scope_id)
        if scope is None:
            return None, None
        rules = self.catalog.markets.get(market)
        life, capped = lifetime(scope, rules, given)
        return life, _cite(rules.consent.citations) if capped else None

    def lists(
        self, template: Any, recipient: Recipient, market: str, at: dt.datetime
    ) -> list[Reason]:
        """Do-not-contact lists (numbers on phone channels, addresses on email) and the
        national registry's freshness."""
        listed = self.db.dnc_listed(recipient.subject)
        if "erased" in listed:  # the person asked to be forgotten: no message of any kind
            return [Reason(m.DNC_LISTED, "the subject was erased from the ledger", market)]
        if template.purpose != "marketing":
            return []
        params = self.catalog.markets.get(market)
        dnc = params.do_not_call if params else None
        if listed:
            return [
                Reason(
                    m.DNC_LISTED,
                    f"{recipient.subject} is on {', '.join(sorted(listed))}",
                    market,
                    _cite(dnc.citations) if dnc else None,
                )
            ]
        scope = self.catalog.scopes.get(template.consent_scope or "")
        reasons: list[Reason] = []
        if dnc is None or template.channel not in dnc.channels or "marketing" not in dnc.purposes:
            return reasons
        if scope is not None and scope.consent in dnc.exempt_consent:
            return reasons
        checked = self.db.registry_checked(market)
        if checked is None or durations.add(from_us(checked), dnc.check_valid_for) < at:
            when = "never" if checked is None else from_us(checked).date().isoformat()
            return [
                Reason(
                    m.DNC_CHECK_STALE,
                    f"{dnc.registry} last checked {when}; marketing "
                    f"needs a check no older than {dnc.check_valid_for}",
                    market,
                    _cite(dnc.citations),
                ),
                *reasons,
            ]
        return reasons

    def _state_list(
        self, template: Any, recipient: Recipient, market: str, params: Any, at: dt.datetime
    ) -> list[tuple[Reason, bool]]:
        """The recipient's state list, where the market names one that must be fresh: an
        import recorded with --region (kept as the check of market 'US-TX')."""
        if params is None or recipient.region is None or template.purpose != "marketing":
            return []
        for state in params.state_do_not_call:
            if (
                state.region != recipient.region
                or state.check_valid_for is None
                or template.channel not in state.channels
            ):
                continue
            scope = self.catalog.scopes.get(template.consent_scope or "")
            if scope is not None and scope.consent in state.exempt_consent:
                continue
            checked = self.db.registry_checked(state.region)
            if checked is None or durations.add(from_us(checked), state.check_valid_for) < at:
                when = "never" if checked is None else from_us(checked).date().isoformat()
                reason = Reason(
                    m.DNC_CHECK_STALE,
                    f"{state.name} ({state.region}) last imported {when}; marketing to "
                    f"numbers there needs an import no older than {state.check_valid_for}",
                    market,
                    _cite(state.citations),
                )
                return [(reason, state.enforcement == "advisory")]
        return []

    def caps(
        self, template: Any, recipient: Recipient, market: str, params: Any, at: dt.datetime
    ) -> list[Reason]:
        """At most max_messages in any window of the cap's length that holds this send: the
        allowed sends before it and those scheduled after it count alike."""
        reasons = []
        t = micros(at)
        for cap in params.frequency_caps:
            if template.purpose not in cap.purposes or (
                cap.channels and template.channel not in cap.channels
            ):
                continue
            if cap.regions and recipient.region not in cap.regions:
                continue
            span = durations.fixed_us(cap.per)
            near = self.db.sends_near(recipient.subject, t - span, t + span)
            if len(near) < cap.max_messages:  # too few to fill any window
                continue
            times = sorted(
                when
                for purpose, channel, when in near
                if purpose in cap.purposes and (not cap.channels or channel in cap.channels)
            )
            count = busiest(times, t, span)
            if count >= cap.max_messages:
                reasons.append(
                    Reason(
                        m.FREQUENCY_CAP,
                        f"{count} {template.purpose} messages within {cap.per} of this one; "
                        f"the cap is {cap.max_messages}",
                        market,
                        _cite(cap.citations),
                    )
                )
        return reasons

    def window(
        self,
        template: Any,
        recipient: Recipient,
        zone: str | None,
        market: str,
        params: Any,
        at: dt.datetime,
    ) -> tuple[dt.datetime | None, tuple[Reason, bool] | None]:
        zones = recipient.timezones
        if zone and zone not in zones:
            zones = (*zones, zone)
        if not zones and params.timezone:
            zones = (params.timezone,)
        if not params.quiet_hours:
            return None, None
        if not zones:  # a window applies, but the recipient's local time cannot be told
            required = [
                b
                for b in applicable(
                    params.quiet_hours, template.purpose, template.channel, recipient.region
                )
                if b.enforcement == "required"
            ]
            if not required:
                return None, None
            return None, (
                Reason(
                    m.QUIET_HOURS,
                    "the recipient's local time cannot be told (no time zone for the number, "
                    "none for the market): pass Send.timezone",
                    market,
                    _cite(required[0].citations),
                ),
                False,
            )
        # windows are whole minutes in local time, so the answer is the same for every instant
        # of one UTC minute: campaigns ask it once per zone, region and minute
        key = (
            market,
            template.purpose,
            template.channel,
            zones,
            recipient.region,
            micros(at) // 60_000_000,
        )
        answer = self._windows.get(key)
        if answer is None:
            if len(self._windows) >= WINDOW_CACHE:
                self._windows.clear()
            answer = self._windows[key] = _quiet_hours(
                template.purpose, template.channel, zones, recipient.region, market, params, at
            )
        return answer


def busiest(times: list[int], t: int, span: int) -> int:
    """The most of `times` (sorted) that one window [s, s + span) holding t also holds. The
    busiest such window starts at t or at one of the times before it."""
    first = bisect_right(times, t - span)
    starts = [*times[first : bisect_right(times, t)], t]
    return max(bisect_left(times, s + span) - bisect_left(times, s) for s in starts)


def _quiet_hours(
    purpose: str,
    channel: str,
    zones: tuple[str, ...],
    region: str | None,
    market: str,
    params: Any,
    at: dt.datetime,
) -> tuple[dt.datetime | None, tuple[Reason, bool] | None]:
    blocks = applicable(params.quiet_hours, purpose, channel, region)
    required = [b for b in blocks if b.enforcement == "required"]
    advisory = [b for b in blocks if b.enforcement == "advisory"]
    shut = [b for b in required if not allowed_at(at, [b], zones, region, market)]
    if shut:
        when = next_allowed(at, required, zones, region, market)
        return when, (
            Reason(
                m.QUIET_HOURS,
                "outside the sending window in the recipient's local time"
                + (f" ({shut[0].region})" if shut[0].region else "")
                + "; "
                + (f"next allowed {when}" if when else "no window opens in the next days"),
                market,
                _cite(shut[0].citations),
                when,
            ),
            False,
        )
    shut = [b for b in advisory if not allowed_at(at, [b], zones, region, market)]
    if shut:
        block = shut[0]
        return None, (
            Reason(
                m.QUIET_HOURS,
                "outside the advised sending window in the recipient's local time"
                + (
                    f" ({block.region}: a state law whose reach to this message is not settled)"
                    if block.region
                    else " (an operator code, not law)"
                ),
                market,
                _cite(shut[0].citations),
            ),
            True,
        )
    return None, None


def lifetime(scope: Any, rules: Any, given: dt.datetime) -> tuple[str | None, bool]:
    """How long consent to `scope` given at `given` lasts in a market of `rules`: the scope's
    expires_after, or the market's cap for implied consent on its basis where shorter; and
    whether the market's cap is the one that binds."""
    own = scope.expires_after
    if (
        rules is not None
        and rules.consent is not None
        and scope.consent in ("implied", "soft_opt_in")
        and scope.basis
    ):
        cap = rules.consent.implied_max.get(scope.basis)
        if cap and (own is None or durations.shorter(cap, own, given)):
            return cap, True
    return own, False


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


def _cite(citations: Any) -> str | None:
    """A reason's citation: the first source the market file gives for the rule, with its
    clause."""
    if not citations:
        return None
    first = citations[0]
    return f"{first.source}, {first.clause}" if first.clause else first.source
