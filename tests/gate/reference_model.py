"""An independent reference model of the gate's decision, for stateful tests.

The model is written from the gate's specification (summarised below), never from
the gate's code: nothing here imports or copies `compliance.gate`. It is deliberately slow and
plain. History is kept in plain lists, every decision loops over every event, and quiet hours
are found by stepping minute by minute. Its one use is the property "the gate never allows what
the model denies or defers", so wherever the specification leaves room, the model takes the
reading that denies more (see "Open questions").

Usage::

    model = Model(templates=[...], senders=[...], scopes=[...], lint_errors={("template", "x")},
                  markets=shipped_market_parameters())
    model.grant("+13055550123", "sms", "us-sms-offers", at=t0, recorded=t0)
    decision = model.decide(ModelSend(to="+13055550123", template="fl-sale"), now=t1)
    decision.outcome, decision.codes, decision.not_before
    model.sent(send, decision=gate_decision, now=t1)   # only for what the gate allowed

The specification, step by step (numbers as in `decide`):

* Time: an event's effective time is min(at, recorded); a send is judged at
  t = max(send.at or now, now); send.at > now + horizon (30 days) -> `send.horizon`.
* 1 malformed send -> `send.invalid`; 2 unknown template -> `template.unknown`, channel other than
  the template's -> `send.channel`; 3 recipient not a valid international number (phone
  channels) or x@y.z address (email) -> `recipient.invalid`; 4 markets: the number's region and
  Send.market (email: the template's first market), none -> `recipient.invalid`.
* Per market M: 5 template and sender (`template.not_approved`, `template.market`,
  `template.lint`, `sender.unregistered`, `paused`); 6 consent on the channel family (sms and
  mms are one); 7 erased subjects and do-not-contact lists; 8 frequency caps; 9 quiet hours.
* 10 no reasons -> allow; only `quiet_hours` with a not_before -> defer; else deny.

Open questions (TODO: confirm with the gate's owner; the reading chosen is stated)
-------------------------------------------------------------------------------
* Q1 Markets for email and push. Email uses the template's first market; the model also applies
  Send.market when it is given (both apply, as for numbers). Push is treated like email (the
  template's first market, plus Send.market); a push recipient containing "@" must be an x@y.z
  address, anything else non-empty (a device token) is taken as given.
* Q2 Non-geographic numbers (region "001", e.g. +800) count as a market "001", which no template
  lists, so they are denied `template.market` rather than treated as "no market".
* Q3 A market with no parameters (a number from GG, or a code missing from `markets`) is judged
  with empty MarketParameters(): no quiet hours, caps or registry; opt-outs stop every purpose.
* Q4 Frequency-cap windows are half-open, [start, start + per): sends exactly `per` apart
  (10:00 and 10:00 next day) are in no PT24H window together. Caps with `enforcement: advisory` never deny (market_params: "the gate
  warns on advisory parameters and enforces required ones"); no shipped cap is advisory.
* Q5 Quiet hours with no zone at all (no number zone, no Send.timezone, no market timezone) and
  a required block that applies: the block cannot admit any minute, so the reason is
  `quiet_hours` without a not_before, i.e. deny. A window whose end is before its start wraps
  over midnight, its early part belonging to the previous day's `days`; start == end admits
  nothing. Holidays are the country's (`holidays.country_holidays(M)`) for the local date in
  each zone; subdivision holidays are not used; a market the library does not know (EU) has
  none.
* Q6 Subdivisions ("US-FL") are found for US and CA numbers only, from the geocoder's English
  description ("Florida", "Miami, FL"); a description that names several provinces
  ("Nova Scotia/Prince Edward Island") gives all of them: a cap applies if any is listed, and the
  windows of every listed one must admit the minute.
* Q6c A US number is held to every zone any exchange of its area code keeps (850 spans Eastern
  and Central Florida; 432 adds Mountain for West Texas), and its state is the one its area code
  names in the geocoder's data when it names one ("New Jersey" for 201).
* Q6d A block with a `timezone` (Mississippi's Central Standard Time) is read on that clock,
  whatever the number's zones.
* Q6b A block with its own `region` (a state's law) applies when that region is among the
  number's subdivisions; its holidays are that subdivision's calendar (nation's and state's).
* Q7 `consent.reassigned` when a disconnection is at or after (>=) the grant's effective time;
  the disconnection's effective time is min(disconnected_at, recorded).
* Q8 Consent lifetimes: `expires_after` and the market's cap are added as calendar durations
  (relativedelta) in UTC, the earliest end wins; the end itself is still valid (expired only if
  end < t). The market's `consent.express_expires`, which the brief does not mention, is applied
  too as a cap on express and express_written consent (no shipped market sets it).
* Q9 Do-not-contact lists: every import of a list adds to it (a later import of the same list
  does not remove earlier subjects). A number on a national registry list is `dnc.listed` like
  on any other list, whatever its consent (the brief says "any list"). A registry import without
  checked_at counts as checked when it was recorded; a checked_at later than recorded counts as
  recorded. `relationship_windows` (established business relationship) exempt nothing here.
* Q10 A review holds marketing until it is resolved, whatever happens after it (a later grant or
  START does not release it). A resolution with opt_out=True is a channel-wide revoke at the
  inbound message's effective time. Resolving a review twice raises ValueError.
* Q11 Pauses and resumes have no "at": the newest by (recorded, order fed) for a target decides;
  with recorded=None they sort first. The decision clock is assumed never to go back, so the
  model uses every event fed so far whatever `now` is.
* Q12 A later grant of any scope on the family lifts a channel-wide opt-out for transactional
  and OTP messages (the person signed up again); for marketing only a grant of the template's
  own scope newer than the opt-out counts (STOP, then a grant of scope B, does not bring back
  marketing under an older grant of scope A).
* Q13 Not in the brief, so not modelled: the sender's channel (an sms sender used for an mms
  template), the consent scope's own channels/purposes/markets, lint errors on consent scopes,
  `dated_rules` (e.g. the US WhatsApp marketing pause) and a marketing template without a
  consent_scope beyond `consent.missing`/`consent.scope`. A consent_scope id that is not in the
  catalog has no lifetime, and registry exemption is never granted for it.
* Q14 A Send.market that is not a string, and a Send.sender that is not a string, make the send
  malformed (`send.invalid`).
* Q15 `sent(send, decision, now=...)` needs the decision clock of the allow, since a send
  without `at` goes out at that `now`; it counts at max(send.at or now, now). Subjects in every
  event are normalised like recipients (E.164 for a parseable number, lower case for anything
  with "@"), so "+1 305-555-0123" and "+13055550123" are one subject.
* Q16 Reasons accumulate across steps and markets (the codes set is everything the model
  found), except that `send.invalid`, `template.unknown` and `recipient.invalid` end the
  decision early: there is nothing further to judge without them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from dateutil.relativedelta import relativedelta
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone
from phonenumbers.geodata import GEOCODE_DATA
from phonenumbers.tzdata import TIMEZONE_DATA

from compliance.documents import parse_duration
from compliance.market_params import MarketParameters

CHANNELS = ("sms", "mms", "whatsapp", "rcs", "email", "push")
PHONE_CHANNELS = ("sms", "mms", "whatsapp", "rcs")
ALL_PURPOSES = ["marketing", "transactional", "otp"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
UTC = dt.timezone.utc
QUIET_HOURS_SEARCH = dt.timedelta(days=10)

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "Washington State": "WA", "Washington D.C.": "DC", "District of Columbia": "DC",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
CA_PROVINCES = {
    "Alberta": "AB", "British Columbia": "BC", "British Colombia": "BC", "Manitoba": "MB",
    "New Brunswick": "NB", "Newfoundland and Labrador": "NL", "Northwest Territories": "NT",
    "Nova Scotia": "NS", "Nunavut": "NU", "Ontario": "ON", "Prince Edward Island": "PE",
    "Quebec": "QC", "Saskatchewan": "SK", "Yukon": "YT",
}  # fmt: skip
SUBDIVISION_NAMES = {"US": US_STATES, "CA": CA_PROVINCES}


# --------------------------------------------------------------------------- inputs, outputs


@dataclass(frozen=True)
class ModelSend:
    """The fields of a send the model reads; any object with these attributes will do."""

    to: Any
    template: Any
    at: Any = None
    channel: Any = None
    sender: Any = None
    market: Any = None
    timezone: Any = None


@dataclass(frozen=True)
class ModelDecision:
    outcome: str  # "allow" | "deny" | "defer"
    codes: set[str] = field(default_factory=set)
    not_before: dt.datetime | None = None


@dataclass
class ConsentEvent:
    kind: str  # grant | revoke | opt_out | opt_in | review | none
    subject: str
    channel: str
    scope: str | None
    at: dt.datetime
    recorded: dt.datetime
    seq: int
    review_id: Any = None


@dataclass
class Resolution:
    review_id: Any
    opt_out: bool
    recorded: dt.datetime | None
    seq: int


@dataclass
class DncImport:
    list_name: str
    subjects: list[str]
    registry_market: str | None
    checked_at: dt.datetime | None
    recorded: dt.datetime | None
    seq: int


@dataclass
class Disconnection:
    number: str
    disconnected_at: dt.datetime
    recorded: dt.datetime | None
    seq: int


@dataclass
class PauseEvent:
    action: str  # pause | resume
    kind: str  # template | sender | market
    target: str
    recorded: dt.datetime | None
    seq: int


@dataclass
class Erasure:
    subject: str
    recorded: dt.datetime | None
    seq: int


@dataclass
class SentMessage:
    subject: str
    channel: str
    purpose: str
    at: dt.datetime  # the instant it was judged for: max(send.at or now, now)
    seq: int


# --------------------------------------------------------------------------- small helpers


def get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a pydantic model, a dataclass or a plain dict."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def by_id(documents: Any) -> dict[str, Any]:
    if documents is None:
        return {}
    if isinstance(documents, dict):
        return dict(documents)
    return {get(d, "id"): d for d in documents}


def is_aware(value: Any) -> bool:
    return (
        isinstance(value, dt.datetime)
        and value.tzinfo is not None
        and value.tzinfo.utcoffset(value) is not None
    )


def is_zone(name: Any) -> bool:
    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except Exception:
        return False
    return True


def family(channel: str) -> str:
    """sms, mms and rcs (texts to one number) are one family; every other channel is its
    own."""
    return "text" if channel in ("sms", "mms", "rcs") else channel


def duration_delta(value: str) -> relativedelta:
    parts = parse_duration(value)
    return relativedelta(
        years=parts["years"], months=parts["months"], weeks=parts["weeks"], days=parts["days"]
    )


def cap_window(per: str) -> dt.timedelta:
    if per.startswith("PT"):
        return dt.timedelta(hours=int(per[2:-1]))
    return dt.timedelta(days=int(per[1:-1]))


def effective(at: dt.datetime | None, recorded: dt.datetime | None) -> dt.datetime | None:
    """Nothing takes effect in the future: min(at, recorded), whichever are known."""
    known = [x for x in (at, recorded) if x is not None]
    return min(known) if known else None


def parse_phone(text: Any) -> phonenumbers.PhoneNumber | None:
    if not isinstance(text, str):
        return None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def subject_key(text: Any) -> Any:
    """How events name a subject: E.164 for a number, the lower-cased address for email."""
    if not isinstance(text, str):
        return text
    number = parse_phone(text)
    if number is not None:
        return e164(number)
    if "@" in text:
        return text.lower()
    return text


def area_code(number: phonenumbers.PhoneNumber) -> str | None:
    national = str(number.national_number)
    return national[:3] if number.country_code == 1 and len(national) == 10 else None


def area_code_zones(number: phonenumbers.PhoneNumber) -> list[str]:
    """Q6c: every zone any exchange of a US number's area code keeps, plus Mountain time for
    West Texas's 432, which the zone table gives as Central only."""
    area = area_code(number)
    if area is None or phonenumbers.region_code_for_number(number) != "US":
        return []
    found = {z for k, v in TIMEZONE_DATA.items() if k.startswith("1" + area) for z in v}
    if area == "432":
        found.add("America/Denver")
    return sorted(found - {"Etc/Unknown"})


def subdivisions_of(number: phonenumbers.PhoneNumber) -> set[str]:
    """US-FL style codes for a US or CA number, from the geocoder's description."""
    region = phonenumbers.region_code_for_number(number)
    names = SUBDIVISION_NAMES.get(region)
    if not names:
        return set()
    description = geocoder.description_for_number(number, "en")
    area = area_code(number)
    if region == "US" and area is not None:  # Q6c: the area code's own place name, if any
        own = GEOCODE_DATA.get("1" + area, {}).get("en")
        description = own.removesuffix(" State") if own else description
    found: set[str] = set()
    if ", " in description:  # "Miami, FL"
        code = description.rsplit(", ", 1)[1].strip()
        if code in names.values():
            found.add(f"{region}-{code}")
    if description in names:
        found.add(f"{region}-{names[description]}")
    for part in description.split("/"):  # "Nova Scotia/Prince Edward Island"
        if part.strip() in names:
            found.add(f"{region}-{names[part.strip()]}")
    return found


def market_parameters_of(value: Any) -> MarketParameters:
    if value is None:
        return MarketParameters()
    if isinstance(value, MarketParameters):
        return value
    if hasattr(value, "parameters"):  # compliance.packs.Market
        return value.parameters
    return MarketParameters.model_validate(value)


def shipped_market_parameters() -> dict[str, MarketParameters]:
    """The shipped markets' parameters by code, with EU (a shared layer) added as its own."""
    from ruamel.yaml import YAML

    from compliance.packs import load_packs

    found = {code: m.parameters for code, m in load_packs().markets.items()}
    eu_file = Path(__file__).resolve().parents[2] / "markets" / "eu.yaml"
    if eu_file.is_file() and "EU" not in found:
        data = YAML(typ="safe").load(eu_file.read_text("utf-8"))
        found["EU"] = MarketParameters.model_validate(data.get("parameters") or {})
    return found


# --------------------------------------------------------------------------- the model


class Model:
    """The gate's decision, from plain lists of what happened."""

    def __init__(
        self,
        templates: Any = (),
        senders: Any = (),
        scopes: Any = (),
        lint_errors: Any = (),
        markets: dict[str, Any] | None = None,
        horizon: dt.timedelta = dt.timedelta(days=30),
    ) -> None:
        self.templates = by_id(templates)
        self.senders = by_id(senders)
        self.scopes = by_id(scopes)
        self.lint_errors = {(kind, ident) for kind, ident in lint_errors}
        self.markets = dict(markets or {})
        self.horizon = horizon
        self.consent_events: list[ConsentEvent] = []
        self.resolutions: list[Resolution] = []
        self.dnc_imports: list[DncImport] = []
        self.disconnections: list[Disconnection] = []
        self.pauses: list[PauseEvent] = []
        self.erasures: list[Erasure] = []
        self.sent_messages: list[SentMessage] = []
        self.seq = 0
        self.next_review = 0

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    # ----------------------------------------------------------------- events fed by the test

    def grant(
        self, subject: str, channel: str, scope: str, at: dt.datetime, recorded: dt.datetime
    ) -> None:
        self.consent_events.append(
            ConsentEvent("grant", subject_key(subject), channel, scope, at, recorded, self._next())
        )

    def revoke(
        self,
        subject: str,
        channel: str,
        scope: str | None,
        at: dt.datetime,
        recorded: dt.datetime,
    ) -> None:
        """scope None: every scope on the channel (a channel-wide opt-out)."""
        self.consent_events.append(
            ConsentEvent("revoke", subject_key(subject), channel, scope, at, recorded, self._next())
        )

    def inbound(
        self,
        subject: str,
        channel: str,
        meaning: str,
        at: dt.datetime,
        recorded: dt.datetime,
        review_id: Any = None,
    ) -> Any:
        """meaning: opt_out | opt_in | review | none. Returns the review id for a review (the
        caller's own id if given, e.g. the gate's, else one the model makes up)."""
        if meaning not in ("opt_out", "opt_in", "review", "none"):
            raise ValueError(f"unknown inbound meaning {meaning!r}")
        if meaning == "review" and review_id is None:
            self.next_review += 1
            review_id = f"model-review-{self.next_review}"
        self.consent_events.append(
            ConsentEvent(
                meaning,
                subject_key(subject),
                channel,
                None,
                at,
                recorded,
                self._next(),
                review_id if meaning == "review" else None,
            )
        )
        return review_id if meaning == "review" else None

    def resolve(self, review_id: Any, opt_out: bool, recorded: dt.datetime | None = None) -> None:
        if not any(e.kind == "review" and e.review_id == review_id for e in self.consent_events):
            raise KeyError(f"no review {review_id!r}")
        if any(r.review_id == review_id for r in self.resolutions):
            raise ValueError(f"review {review_id!r} is already resolved")
        self.resolutions.append(Resolution(review_id, bool(opt_out), recorded, self._next()))

    def dnc(
        self,
        list_name: str,
        subjects: Any,
        registry_market: str | None = None,
        checked_at: dt.datetime | None = None,
        recorded: dt.datetime | None = None,
    ) -> None:
        self.dnc_imports.append(
            DncImport(
                list_name,
                [subject_key(s) for s in subjects],
                registry_market,
                checked_at,
                recorded,
                self._next(),
            )
        )

    def reassigned(
        self, number: str, disconnected_at: dt.datetime, recorded: dt.datetime | None = None
    ) -> None:
        self.disconnections.append(
            Disconnection(subject_key(number), disconnected_at, recorded, self._next())
        )

    def pause(self, kind: str, target: str, recorded: dt.datetime | None = None) -> None:
        if kind not in ("template", "sender", "market"):
            raise ValueError(f"unknown pause kind {kind!r}")
        self.pauses.append(PauseEvent("pause", kind, target, recorded, self._next()))

    def resume(self, kind: str, target: str, recorded: dt.datetime | None = None) -> None:
        if kind not in ("template", "sender", "market"):
            raise ValueError(f"unknown pause kind {kind!r}")
        self.pauses.append(PauseEvent("resume", kind, target, recorded, self._next()))

    def erase(self, subject: str, recorded: dt.datetime | None = None) -> None:
        self.erasures.append(Erasure(subject_key(subject), recorded, self._next()))

    def sent(self, send: Any, decision: Any = None, *, now: dt.datetime) -> bool:
        """Record a send the gate allowed at decision time `now`. A decision whose outcome is not
        "allow" is ignored (returns False): caps count only what actually went out."""
        if decision is not None and get(decision, "outcome", "allow") != "allow":
            return False
        template = self.templates.get(get(send, "template"))
        if template is None:
            return False
        channel = get(send, "channel") or get(template, "channel")
        recipient = self._recipient(get(send, "to"), channel)
        if recipient is None:
            return False
        at = get(send, "at")
        when = max(at, now) if is_aware(at) else now
        self.sent_messages.append(
            SentMessage(recipient[0], channel, get(template, "purpose"), when, self._next())
        )
        return True

    # ----------------------------------------------------------------- the decision

    def decide(self, send: Any, now: dt.datetime) -> ModelDecision:
        if not is_aware(now):
            raise ValueError("the decision clock must be an aware datetime")
        to = get(send, "to")
        template_id = get(send, "template")
        at = get(send, "at")
        channel_given = get(send, "channel")
        sender_given = get(send, "sender")
        market_given = get(send, "market")
        zone_given = get(send, "timezone")

        # 1. well-formed
        if (
            not isinstance(to, str)
            or not isinstance(template_id, str)
            or (at is not None and not is_aware(at))
            or (channel_given is not None and channel_given not in CHANNELS)
            or (zone_given is not None and not is_zone(zone_given))
            or (market_given is not None and not isinstance(market_given, str))
            or (sender_given is not None and not isinstance(sender_given, str))
        ):
            return ModelDecision("deny", {"send.invalid"})

        codes: set[str] = set()
        t = max(at, now) if at is not None else now
        if at is not None and at > now + self.horizon:
            codes.add("send.horizon")

        # 2. template
        template = self.templates.get(template_id)
        if template is None:
            return ModelDecision("deny", codes | {"template.unknown"})
        channel = get(template, "channel")
        if channel_given is not None and channel_given != channel:
            codes.add("send.channel")

        # 3. recipient
        recipient = self._recipient(to, channel)
        if recipient is None:
            return ModelDecision("deny", codes | {"recipient.invalid"})
        subject, number = recipient

        # 4. markets
        markets: list[str] = []
        if number is not None:
            region = phonenumbers.region_code_for_number(number)
            if region and region != "ZZ":
                markets.append(region)
        else:  # an address has no country: every market the template targets applies
            markets += [m for m in get(template, "markets") or [] if m not in markets]
        if market_given is not None and market_given not in markets:
            markets.append(market_given)
        if not markets:
            return ModelDecision("deny", codes | {"recipient.invalid"})

        sender_id = sender_given if sender_given is not None else get(template, "sender")
        found, quiet_requirements = self._judge(
            template, sender_id, subject, number, markets, zone_given, t
        )
        codes |= found
        # a template's fallbacks (an RCS or WhatsApp message the platform sends as SMS) must
        # be allowed too: the same recipient, the same markets, the fallback's own sender
        seen = {template_id}
        fallback_id = get(template, "fallback")
        while fallback_id and fallback_id not in seen:
            seen.add(fallback_id)
            fallback = self.templates.get(fallback_id)
            if fallback is None:
                codes.add("template.unknown")
                break
            again = self._recipient(to, get(fallback, "channel"))
            if again is None:
                codes.add("recipient.invalid")
                break
            found, more = self._judge(
                fallback, get(fallback, "sender"), again[0], again[1], markets, zone_given, t
            )
            codes |= found
            quiet_requirements += more
            fallback_id = get(fallback, "fallback")

        not_before = None
        if quiet_requirements and not self._admitted(quiet_requirements, t):
            codes.add("quiet_hours")
            not_before = self._next_admitted(quiet_requirements, t)

        # 10. outcome
        if not codes:
            return ModelDecision("allow", set())
        if codes == {"quiet_hours"} and not_before is not None:
            return ModelDecision("defer", codes, not_before)
        return ModelDecision("deny", codes, not_before)

    def _judge(
        self,
        template: Any,
        sender_id: Any,
        subject: str,
        number: Any,
        markets: list[str],
        zone_given: str | None,
        t: dt.datetime,
    ) -> tuple[set[str], list[dict[str, Any]]]:
        """Steps 5 to 9 for one template, under every market."""
        codes: set[str] = set()
        channel = get(template, "channel")
        purpose = get(template, "purpose")
        subdivisions = subdivisions_of(number) if number is not None else set()
        scope_id = get(template, "consent_scope")
        scope = self.scopes.get(scope_id) if scope_id is not None else None
        quiet_requirements: list[dict[str, Any]] = []
        for market in markets:
            params = market_parameters_of(self.markets.get(market))
            # 5. template and sender
            codes |= self._template_and_sender(template, sender_id, channel, purpose, market)
            # 6. consent
            codes |= self._consent(subject, channel, purpose, scope_id, scope, params, t)
            # 7. lists
            codes |= self._lists(subject, channel, purpose, scope, market, params, t)
            # 8. frequency caps
            codes |= self._caps(subject, channel, purpose, subdivisions, params, t)
            # 9. quiet hours: gathered over every market, searched together below
            quiet_requirements += self._quiet_requirements(
                number, zone_given, channel, purpose, subdivisions, market, params, t
            )
        return codes, quiet_requirements

    # ----------------------------------------------------------------- step 3: the recipient

    def _recipient(self, to: Any, channel: str) -> tuple[str, Any] | None:
        """(subject key, parsed number or None), or None when the recipient is invalid."""
        if not isinstance(to, str):
            return None
        if channel in PHONE_CHANNELS:
            if "@" in to:
                return None
            number = parse_phone(to)
            return None if number is None else (e164(number), number)
        if channel == "email":
            return (to.lower(), None) if EMAIL_RE.match(to) else None
        # push: an address if it looks like one, else a device token taken as given (Q1)
        if "@" in to:
            return (to.lower(), None) if EMAIL_RE.match(to) else None
        return (to, None) if to.strip() else None

    # ----------------------------------------------------------------- step 5

    def _template_and_sender(
        self, template: Any, sender_id: Any, channel: str, purpose: str, market: str
    ) -> set[str]:
        codes: set[str] = set()
        template_id = get(template, "id")
        if get(template, "status", "draft") != "approved":
            codes.add("template.not_approved")
        if market not in (get(template, "markets") or []):
            codes.add("template.market")
        if ("template", template_id) in self.lint_errors:
            codes.add("template.lint")
        if ("consent_scope", get(template, "consent_scope")) in self.lint_errors:
            codes.add("template.lint")  # consent in wording the law does not accept is none

        if sender_id is None:
            if channel != "push":
                codes.add("sender.unregistered")
        else:
            sender = self.senders.get(sender_id)
            if sender is None:
                codes.add("sender.unregistered")
            else:
                sender_markets = get(sender, "markets") or []
                sender_purposes = get(sender, "purposes") or []
                if (
                    get(sender, "status", "active") != "active"
                    or get(sender, "channel") != channel
                    or (sender_markets and market not in sender_markets)
                    or (sender_purposes and purpose not in sender_purposes)
                    or ("sender", sender_id) in self.lint_errors
                ):
                    codes.add("sender.unregistered")

        if (
            self._paused("template", template_id)
            or (sender_id is not None and self._paused("sender", sender_id))
            or self._paused("market", market)
        ):
            codes.add("paused")
        return codes

    def _paused(self, kind: str, target: str) -> bool:
        newest = None
        for event in self.pauses:
            if event.kind != kind or event.target != target:
                continue
            key = (event.recorded is not None, event.recorded or dt.datetime.min, event.seq)
            if newest is None or key > newest[0]:
                newest = (key, event)
        return newest is not None and newest[1].action == "pause"

    # ----------------------------------------------------------------- step 6: consent

    def _resolution(self, review_id: Any) -> Resolution | None:
        for resolution in self.resolutions:
            if resolution.review_id == review_id:
                return resolution
        return None

    def _order(self, event: ConsentEvent) -> tuple[Any, ...]:
        """Effective time; at a tie an opt-out or revoke sorts after (wins over) a grant or
        opt-in; then the later recorded; then the later fed. An opt-out never takes effect
        before a grant (of its scope; of any scope or an opt-in for the whole channel) fed
        before it: host clocks disagree, and a STOP must win over the grant it answers."""
        revoking = event.kind in ("revoke", "opt_out", "review")
        when = effective(event.at, event.recorded)
        if revoking:
            until = event.seq
            if event.kind == "review":
                resolution = self._resolution(event.review_id)
                until = resolution.seq if resolution is not None else event.seq
            for other in self.consent_events:
                if (
                    other.seq < until
                    and other.subject == event.subject
                    and family(other.channel) == family(event.channel)
                    and (
                        (
                            other.kind == "grant"
                            and (event.scope is None or other.scope == event.scope)
                        )
                        or (other.kind == "opt_in" and event.scope is None)
                    )
                ):
                    when = max(when, effective(other.at, other.recorded))
        return (when, 1 if revoking else 0, event.recorded, event.seq)

    def _channel_wide(self, event: ConsentEvent) -> bool:
        if event.kind == "revoke" and event.scope is None:
            return True
        if event.kind in ("opt_out", "opt_in"):
            return True
        if event.kind == "review":
            resolution = self._resolution(event.review_id)
            return resolution is not None and resolution.opt_out
        return False

    def _consent(
        self,
        subject: str,
        channel: str,
        purpose: str,
        scope_id: Any,
        scope: Any,
        params: MarketParameters,
        t: dt.datetime,
    ) -> set[str]:
        events = [
            e
            for e in self.consent_events
            if e.subject == subject and family(e.channel) == family(channel)
        ]

        # channel-wide state: the newest channel-wide event, lifted by any later grant
        newest_wide = None
        for event in events:
            if self._channel_wide(event) and (
                newest_wide is None or self._order(event) > self._order(newest_wide)
            ):
                newest_wide = event
        opted_out = newest_wide is not None and newest_wide.kind != "opt_in"
        wide_out = opted_out  # for marketing: only a newer grant of the scope itself lifts it
        if opted_out:
            for event in events:
                if event.kind == "grant" and self._order(event) > self._order(newest_wide):
                    opted_out = False

        if purpose != "marketing":
            stops = params.keywords.opt_out_stops if params.keywords is not None else ALL_PURPOSES
            if opted_out and purpose in stops:
                return {"consent.revoked"}
            # a reassigned number: its new holder consented to nothing (TCPA covers
            # informational texts too), unless consent was given after the disconnection
            given = [effective(e.at, e.recorded) for e in events if e.kind in ("grant", "opt_in")]
            for row in self.disconnections:
                if row.number == subject and (
                    not given or effective(row.disconnected_at, row.recorded) >= max(given)
                ):
                    return {"consent.reassigned"}
            return set()

        for event in events:
            if event.kind == "review" and self._resolution(event.review_id) is None:
                return {"consent.revoked"}

        newest_for_scope = None
        if scope_id is not None:
            for event in events:
                if event.kind not in ("grant", "revoke") or event.scope != scope_id:
                    continue
                if newest_for_scope is None or self._order(event) > self._order(newest_for_scope):
                    newest_for_scope = event
        g = newest_for_scope

        if wide_out and (g is None or self._order(newest_wide) > self._order(g)):
            return {"consent.revoked"}
        if g is None:
            other_grants = [e for e in events if e.kind == "grant" and e.scope != scope_id]
            return {"consent.scope"} if other_grants else {"consent.missing"}
        if g.kind == "revoke":
            return {"consent.revoked"}

        granted = effective(g.at, g.recorded)
        ends = []
        if scope is not None:
            if get(scope, "expires_after"):
                ends.append(granted.astimezone(UTC) + duration_delta(get(scope, "expires_after")))
            kind_of_consent = get(scope, "consent")
            basis = get(scope, "basis")
            rules = params.consent
            if (
                rules is not None
                and kind_of_consent in ("implied", "soft_opt_in")
                and basis is not None
                and rules.implied_max.get(basis) is not None
            ):
                ends.append(granted.astimezone(UTC) + duration_delta(rules.implied_max[basis]))
            if (
                rules is not None
                and kind_of_consent in ("express", "express_written")
                and rules.express_expires is not None
            ):  # Q8
                ends.append(granted.astimezone(UTC) + duration_delta(rules.express_expires))
        if ends and min(ends) < t:
            return {"consent.expired"}

        for row in self.disconnections:
            if row.number == subject and effective(row.disconnected_at, row.recorded) >= granted:
                return {"consent.reassigned"}  # Q7: at or after
        return set()

    # ----------------------------------------------------------------- step 7: lists

    def _lists(
        self,
        subject: str,
        channel: str,
        purpose: str,
        scope: Any,
        market: str,
        params: MarketParameters,
        t: dt.datetime,
    ) -> set[str]:
        for erasure in self.erasures:
            if erasure.subject == subject:
                return {"dnc.listed"}
        if purpose != "marketing":
            return set()
        for imported in self.dnc_imports:
            if subject in imported.subjects:
                return {"dnc.listed"}
        registry = params.do_not_call
        if (
            registry is None
            or channel not in registry.channels
            or "marketing" not in registry.purposes
        ):
            return set()
        if scope is not None and get(scope, "consent") in registry.exempt_consent:
            return set()
        newest_check = None
        for imported in self.dnc_imports:
            if imported.registry_market != market:
                continue
            checked = effective(imported.checked_at, imported.recorded)
            if checked is not None and (newest_check is None or checked > newest_check):
                newest_check = checked
        if newest_check is None:
            return {"dnc.check_stale"}
        if newest_check.astimezone(UTC) + duration_delta(registry.check_valid_for) < t:
            return {"dnc.check_stale"}
        return set()

    # ----------------------------------------------------------------- step 8: caps

    def _caps(
        self,
        subject: str,
        channel: str,
        purpose: str,
        subdivisions: set[str],
        params: MarketParameters,
        t: dt.datetime,
    ) -> set[str]:
        for cap in params.frequency_caps:
            if cap.enforcement != "required":  # Q4
                continue
            if purpose not in cap.purposes:
                continue
            if cap.channels is not None and channel not in cap.channels:
                continue
            if cap.regions and not (subdivisions & set(cap.regions)):
                continue
            per = cap_window(cap.per)
            times = [
                m.at
                for m in self.sent_messages
                if m.subject == subject
                and m.purpose in cap.purposes
                and (cap.channels is None or m.channel in cap.channels)
            ]
            # every window [start, start + per) that holds t: the fullest starts at t or at
            # one of the sends before it within per (a day's sends at 09:00 on consecutive
            # days are in no 24-hour window together)
            starts = [t] + [x for x in times if t - per < x <= t]
            for start in starts:
                inside = [x for x in times if start <= x < start + per]
                if len(inside) + 1 > cap.max_messages:
                    return {"frequency_cap"}
        return set()

    # ----------------------------------------------------------------- step 9: quiet hours

    def _quiet_requirements(
        self,
        number: Any,
        zone_given: str | None,
        channel: str,
        purpose: str,
        subdivisions: set[str],
        market: str,
        params: MarketParameters,
        t: dt.datetime,
    ) -> list[dict[str, Any]]:
        zones: list[str] = []
        if number is not None:
            for name in phone_timezone.time_zones_for_number(number):
                if name != "Etc/Unknown" and name not in zones:
                    zones.append(name)
            for name in area_code_zones(number):  # Q6c
                if name not in zones:
                    zones.append(name)
        if zone_given is not None and zone_given not in zones:
            zones.append(zone_given)
        if not zones and params.timezone is not None:
            zones.append(params.timezone)

        requirements = []
        for block in params.quiet_hours:
            if block.enforcement != "required":
                continue  # advisory blocks only warn
            if purpose not in block.purposes:
                continue
            if block.channels is not None and channel not in block.channels:
                continue
            if block.region is not None and block.region not in subdivisions:
                continue  # Q6b: a state's own block binds numbers in that state only
            calendar = None
            if block.no_public_holidays:
                try:
                    calendar = holidays.country_holidays(
                        market,
                        subdiv=block.region.split("-")[1] if block.region else None,
                        years=range(t.year - 1, t.year + 2),
                    )
                except NotImplementedError:
                    calendar = {}  # Q5: a market the library does not know has no holidays
            requirements.append(
                {
                    "block": block,
                    # Q6d: a block that names the law's clock is read on that clock alone
                    "zones": [ZoneInfo(z) for z in ([block.timezone] if block.timezone else zones)],
                    "subdivisions": subdivisions,
                    "holidays": calendar,
                }
            )
        return requirements

    @staticmethod
    def _in_windows(windows: Any, local: dt.datetime) -> bool:
        minute = local.hour * 60 + local.minute
        day = WEEKDAYS[local.weekday()]
        previous_day = WEEKDAYS[(local.weekday() - 1) % 7]
        for window in windows:
            start = int(window.start[:2]) * 60 + int(window.start[3:])
            end = int(window.end[:2]) * 60 + int(window.end[3:])
            if start < end:
                if day in window.days and start <= minute < end:
                    return True
            elif start > end:  # Q5: over midnight
                if day in window.days and minute >= start:
                    return True
                if previous_day in window.days and minute < end:
                    return True
        return False

    def _admits(self, requirement: dict[str, Any], instant: dt.datetime) -> bool:
        block = requirement["block"]
        if not requirement["zones"]:
            return False  # Q5: no zone to judge in
        for zone in requirement["zones"]:
            local = instant.astimezone(zone)
            if not self._in_windows(block.allowed, local):
                return False
            for subdivision in requirement["subdivisions"]:
                if subdivision in block.regions and not self._in_windows(
                    block.regions[subdivision], local
                ):
                    return False
            if requirement["holidays"] is not None and local.date() in requirement["holidays"]:
                return False
        return True

    def _admitted(self, requirements: list[dict[str, Any]], instant: dt.datetime) -> bool:
        return all(self._admits(r, instant) for r in requirements)

    def _next_admitted(
        self, requirements: list[dict[str, Any]], t: dt.datetime
    ) -> dt.datetime | None:
        """The first whole minute >= t that every requirement admits, within 10 days."""
        candidate = t.astimezone(UTC).replace(second=0, microsecond=0)
        if candidate < t:
            candidate += dt.timedelta(minutes=1)
        while candidate <= t + QUIET_HOURS_SEARCH:
            if self._admitted(requirements, candidate):
                return candidate
            candidate += dt.timedelta(minutes=1)
        return None
