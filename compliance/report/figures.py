"""Every figure of the officer's report, read from the ledger into one JSON-able dict.

Counts are aggregated in the database (GROUP BY over the trail, JSON fields read with
json_extract on SQLite and ->> on PostgreSQL), so memory does not grow with the trail; only
the rows that need a person's attention (opt-outs followed by a send, open reviews, pauses)
come back one by one. Subjects are shown as the ledger stores them: a pseudonymising ledger's
keyed hashes stay hashes, and the raw identifiers it keeps apart are never read.

"As of" is the end of the period: the state (consent in force, lists, pauses, reviews) is
what the entries written before it say, and the period's events are those written in it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from compliance import __version__
from compliance.gate import durations
from compliance.gate.ledger.common import TEXT, family, from_us, micros

REPORT_VERSION = 1
OUTCOMES = ("allow", "defer", "deny")
DEFAULT_STOPS = ("marketing", "transactional", "otp")  # what an opt-out stops (rules.py)
TOP = 10  # rows of the "top denied" tables
REVIEW_ROWS = 50  # open reviews listed (the oldest)
DAY_US = 86_400_000_000


class ReportError(Exception):
    """A report that cannot be made from this ledger (the message says why)."""


@dataclass
class Scope:
    """What the report needs of the period and the filters."""

    since: dt.datetime | None
    until: dt.datetime
    now: dt.datetime
    markets: tuple[str, ...] = ()
    catalog_source: str = ""
    lint: Any = None  # a LintResult, when a repo was given
    verdict: Any = None  # the Verdict of audit verify
    verify_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def since_us(self) -> int:
        return micros(self.since) if self.since else -(2**62)

    @property
    def until_us(self) -> int:
        return micros(self.until)

    def wants(self, market: str | None) -> bool:
        return not self.markets or market in self.markets


def _iso(us: int | None) -> str | None:
    return None if us is None else from_us(us).isoformat().replace("+00:00", "Z")


class Sql:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def field(self, name: str, alias: str = "") -> str:
        column = f"{alias}.data" if alias else "data"
        if self.pg:
            return f"({column}::json ->> '{name}')"
        return f"json_extract({column}, '$.{name}')"

    def decision_groups(self, conn: Any, lo: int, hi: int) -> Iterable[tuple[Any, ...]]:
        """(day, outcome, market, reason codes, template if denied, count) of the decisions
        written in [lo, hi), grouped in the database, each entry's data parsed once."""
        if self.pg:
            rows = conn.execute(
                "SELECT day, outcome, d ->> 'market', (d -> 'reasons')::text, CASE WHEN "
                "outcome = 'deny' THEN d ->> 'template' END AS t, COUNT(*) FROM (SELECT "
                f"at_us / {DAY_US} AS day, outcome, data::jsonb AS d FROM audit_log WHERE "
                "kind = 'decision' AND at_us >= ? AND at_us < ?) x GROUP BY day, outcome, "
                "d ->> 'market', (d -> 'reasons')::text, t",
                (lo, hi),
            ).fetchall()
            for day, outcome, market, codes, template, count in rows:
                yield day, outcome, market, _codes(codes), template, count
            return
        # json_extract with several paths parses the text once and answers a JSON array; the
        # rows are counted here as they stream by, which measured a third faster than SQLite
        # sorting two million of them for a GROUP BY (bench/report_speed.py)
        groups: Counter[tuple[Any, ...]] = Counter(
            conn.execute(
                f"SELECT at_us / {DAY_US}, outcome, CASE WHEN outcome = 'deny' THEN "
                "json_extract(data, '$.market', '$.reasons', '$.template') ELSE "
                "json_extract(data, '$.market', '$.reasons') END FROM audit_log "
                "WHERE kind = 'decision' AND at_us >= ? AND at_us < ?",
                (lo, hi),
            )
        )
        for (day, outcome, key), count in groups.items():
            found = json.loads(key)
            yield (
                day,
                outcome,
                found[0],
                _codes(found[1]),
                found[2] if len(found) > 2 else None,
                count,
            )


def _codes(value: Any) -> list[str]:
    """A decision's reason codes, from the JSON text or list the database gives."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:  # not what the gate writes: verify names the entry
            return [value]
    return [str(code) for code in value] if isinstance(value, list) else []


def build(ledger: Any, catalog: Any, scope: Scope) -> dict[str, Any]:
    """The report's figures (the `--format json` output and the page's only input)."""
    sql = Sql(ledger.dialect.name)
    try:
        with ledger.reading() as conn:
            return _build(conn, sql, ledger, catalog, scope)
    except ReportError:
        raise
    except Exception as exc:  # a malformed entry (not JSON), a dropped connection
        from compliance.errors import LedgerError

        if isinstance(exc, LedgerError):
            raise
        raise ReportError(
            f"the ledger's entries cannot be read as the gate writes them ({type(exc).__name__}: "
            f"{exc}); was the ledger changed outside the gate, or can this role not read every "
            "table?"
        ) from exc


def unreadable(ledger: Any, scope: Scope, problem: str) -> dict[str, Any]:
    """What the report says of a ledger whose trail does not verify and whose entries cannot
    be read: the verdict, and why there are no figures."""
    return {"report": _header(ledger, scope, None), "trail": _trail(scope), "error": problem}


def _header(ledger: Any, scope: Scope, first_us: int | None) -> dict[str, Any]:
    """What every report says of itself: the tool, the period, the ledger and the catalog."""
    return {
        "version": REPORT_VERSION,
        "tool": __version__,
        "generated_at": _iso(micros(scope.now)),
        "period": {
            "since": _iso(micros(scope.since)) if scope.since else None,
            "until": _iso(scope.until_us),
            "trail_starts": _iso(first_us),
        },
        "ledger": str(ledger.path),  # a URL without its password
        "backend": ledger.dialect.name,
        "markets": list(scope.markets),
        "catalog": {"source": scope.catalog_source, "digest": None},
    }


def _build(conn: Any, sql: Sql, ledger: Any, catalog: Any, scope: Scope) -> dict[str, Any]:
    lo, hi = scope.since_us, scope.until_us
    kinds: dict[str, int] = {}
    cut = 0  # the newest entry written before the end of the period
    for kind, count, newest in conn.execute(
        "SELECT kind, SUM(CASE WHEN at_us >= ? THEN 1 ELSE 0 END), MAX(seq) FROM audit_log "
        "WHERE at_us < ? GROUP BY kind",
        (lo, hi),
    ).fetchall():
        cut = max(cut, int(newest))
        if count:
            kinds[str(kind)] = int(count)
    first = conn.execute("SELECT at_us FROM audit_log ORDER BY seq LIMIT 1").fetchone()
    # the newest entry: a later report (or verify) shows whether anything after it went
    head = conn.execute("SELECT seq, at, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta").fetchall()}
    decisions = _decisions(conn, sql, catalog, scope)
    return {
        "report": {
            **_header(ledger, scope, first[0] if first else None),
            "schema_version": int(meta.get("schema_version", "0") or 0),
            "subjects": "keyed hashes" if meta.get("subjects") == "hashed" else "as given",
            "catalog": {"source": scope.catalog_source, "digest": catalog.digest or None},
            "newest_entry": {"seq": int(head[0]), "at": str(head[1]), "hash": str(head[2])}
            if head
            else None,
            "entries_in_period": sum(kinds.values()),
            "entries_by_kind": dict(sorted(kinds.items())),
        },
        "trail": _trail(scope),
        "decisions": decisions,
        "opt_outs": _opt_outs(conn, sql, catalog, scope, cut),
        "consent": _consent(conn, catalog, scope, cut),
        "lists": _lists(conn, catalog, scope, cut, decisions),
        "pauses": _pauses(conn, scope, cut),
        "lint": _lint(catalog, scope),
    }


# -- the trail ------------------------------------------------------------------------------


def _trail(scope: Scope) -> dict[str, Any]:
    verdict = scope.verdict
    if verdict is None:
        return {"how": "audit verify was not run for this report.", "verified": False}
    out = verdict.to_dict()
    return {
        "how": "`compliance audit verify` over the whole ledger: every entry's hash and the "
        "chain, every row decisions read against the entry that wrote it, and the schema.",
        "verified": True,
        **out,
        "seconds": round(scope.verify_seconds or 0.0, 2),
    }


# -- decisions ------------------------------------------------------------------------------


def _bucket(scope: Scope, first_day: int | None, last_day: int | None) -> str:
    if first_day is None or last_day is None:
        return "day"
    span = last_day - first_day + 1
    return "day" if span <= 92 else "week" if span <= 731 else "month"


def _bucket_start(day: int, bucket: str) -> dt.date:
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    if bucket == "week":
        return date - dt.timedelta(days=date.weekday())
    if bucket == "month":
        return date.replace(day=1)
    return date


def _decisions(conn: Any, sql: Sql, catalog: Any, scope: Scope) -> dict[str, Any]:
    by_outcome: Counter[str] = Counter()
    by_market: dict[str, Counter[str]] = defaultdict(Counter)
    by_day: dict[int, Counter[str]] = defaultdict(Counter)
    by_day_market: dict[int, Counter[str]] = defaultdict(Counter)
    reasons: Counter[tuple[str, str]] = Counter()
    denied_by: Counter[str] = Counter()
    # one pass over the trail, each entry's data parsed once: the groups of (day, outcome,
    # market, reason codes, and the template of a deny) are few, and are added up here
    for day, outcome, market, codes, template, count in sql.decision_groups(
        conn, scope.since_us, scope.until_us
    ):
        market = "none" if market in (None, "") else str(market)
        if scope.markets and market not in scope.markets:
            continue
        outcome, count = str(outcome), int(count)
        by_outcome[outcome] += count
        by_market[market][outcome] += count
        by_day[int(day)][outcome] += count
        by_day_market[int(day)][market] += count
        for code in codes:
            reasons[(outcome, str(code))] += count
        if outcome == "deny":
            denied_by[_str(template) or "(none)"] += count
    days = sorted(by_day)
    bucket = _bucket(scope, days[0] if days else None, days[-1] if days else None)
    over_time: dict[dt.date, Counter[str]] = {}
    over_markets: dict[dt.date, Counter[str]] = {}
    # every bucket from the first decision to the last, the empty ones too: the time axis
    # stays linear
    for day in range(days[0], days[-1] + 1) if days else ():
        start = _bucket_start(day, bucket)
        over_time.setdefault(start, Counter()).update(by_day.get(day, Counter()))
        over_markets.setdefault(start, Counter()).update(by_day_market.get(day, Counter()))
    denied = list(denied_by.items())
    senders: Counter[str] = Counter()
    for name, count in denied:
        model = catalog.templates.get(name)
        senders[getattr(model, "sender", None) or "(template not in the catalog)"] += count
    denied.sort(key=lambda item: (-item[1], item[0]))
    total = sum(by_outcome.values())
    return {
        "how": "Audit entries of kind decision written in the period (when the gate decided), "
        "counted by outcome, by the market the gate judged the send under ('none' when the "
        "recipient was invalid) and by reason code; a decision with several reasons counts "
        "once under each. Senders come from the catalog's templates.",
        "total": total,
        "by_outcome": {outcome: by_outcome.get(outcome, 0) for outcome in OUTCOMES},
        "by_market": [
            {
                "market": mkt,
                **{o: counts.get(o, 0) for o in OUTCOMES},
                "total": sum(counts.values()),
            }
            for mkt, counts in sorted(
                by_market.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])
            )
        ],
        "by_reason": [
            {"outcome": outcome, "code": code, "count": count}
            for (outcome, code), count in sorted(
                reasons.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1])
            )
        ],
        "over_time": {
            "bucket": bucket,
            "rows": [
                {
                    "start": start.isoformat(),
                    **{o: counts.get(o, 0) for o in OUTCOMES},
                    "markets": {m: over_markets[start].get(m, 0) for m in sorted(by_market)},
                }
                for start, counts in sorted(over_time.items())
            ],
        },
        "top_denied_templates": [
            {
                "template": name,
                "sender": getattr(catalog.templates.get(name), "sender", None),
                "count": count,
            }
            for name, count in denied[:TOP]
        ],
        "top_denied_senders": [
            {"sender": name, "count": count}
            for name, count in sorted(senders.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        ],
    }


# -- opt-outs -------------------------------------------------------------------------------


def _source_kind(source: str) -> str:
    if source.startswith("inbound:"):
        return "reply (keyword or plain words)"
    if source.startswith("review:"):
        return "reply read as an opt-out by a person"
    return source


@dataclass
class _Rule:
    market: str | None
    days: int | None
    day_kind: str
    confirmation: bool
    stops: tuple[str, ...]
    zone: dt.tzinfo


def _rule(catalog: Any, market: str | None) -> _Rule:
    params = catalog.markets.get(market) if market else None
    opt_out = params.opt_out if params else None
    keywords = params.keywords if params else None
    zone: dt.tzinfo = dt.timezone.utc
    if params is not None and params.timezone:
        zone = ZoneInfo(params.timezone)
    return _Rule(
        market=market,
        days=opt_out.honour_within_days if opt_out else None,
        day_kind=opt_out.day_kind if opt_out else "calendar",
        confirmation=bool(opt_out.confirmation_allowed) if opt_out else False,
        stops=tuple(keywords.opt_out_stops) if keywords else DEFAULT_STOPS,
        zone=zone,
    )


def deadline(at: dt.datetime, rule: _Rule, subject: str | None = None) -> dt.datetime:
    """When an opt-out made at `at` must have taken effect: the end of the n-th calendar or
    business day after the day it was made, business days skipping weekends and the market's
    public holidays. Days are counted in the market's time zone where its file names one, else
    in the phone number's own (the earliest deadline where it has several), else in UTC. A
    market without a deadline (or 0 days) gets none: the opt-out holds at once."""
    if not rule.days:
        return at
    zones = [rule.zone] if rule.zone is not dt.timezone.utc else _zones(subject) or [rule.zone]
    return min(
        _day_end(at.astimezone(zone).date(), rule.market, rule.days, rule.day_kind, zone)
        for zone in zones
    )


@lru_cache(maxsize=65536)
def _zones(subject: str | None) -> list[dt.tzinfo]:
    """The time zones of a phone number as phonenumbers knows them (none for an address, a
    pseudonym or a number it cannot place)."""
    if not subject or not subject.startswith("+"):
        return []
    import phonenumbers
    from phonenumbers import timezone

    try:
        names = timezone.time_zones_for_number(phonenumbers.parse(subject, None))
    except phonenumbers.NumberParseException:
        return []
    out: list[dt.tzinfo] = []
    for name in names:
        try:
            out.append(ZoneInfo(name))
        except (KeyError, ValueError):  # Etc/Unknown
            continue
    return out


@lru_cache(maxsize=4096)
def _day_end(
    day: dt.date, market: str | None, days: int, day_kind: str, zone: dt.tzinfo
) -> dt.datetime:
    """The end of the `days`-th counted day after `day` (many opt-outs share a day)."""
    from compliance.gate.timing import _holiday

    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if day_kind == "calendar" or (day.weekday() < 5 and not (market and _holiday(market, day))):
            counted += 1
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return end.astimezone(dt.timezone.utc)


def _phone_market(subject: str, catalog: Any) -> str | None:
    if not subject.startswith("+"):
        return None
    import phonenumbers

    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(subject, None))
    except phonenumbers.NumberParseException:
        return None
    return region if region in catalog.markets else None


# one confirmation, no marketing, presumed within consent if sent within five minutes of the
# opt-out: 47 CFR 64.1200(a)(12) (markets/us.yaml, opt_out citations); the market files say
# only whether a confirmation is allowed, so this window applies wherever one is
CONFIRMATION_US = 5 * 60 * 1_000_000


def _opt_outs(conn: Any, sql: Sql, catalog: Any, scope: Scope, cut: int) -> dict[str, Any]:
    lo, hi = scope.since_us, scope.until_us
    # every opt-out recorded by the end of the period, with when it was made and recorded: one
    # made before the period but recorded in it, or followed by a send in it, belongs here too
    revokes = conn.execute(
        "SELECT c.id, c.subject, c.channel, c.scope, c.source, c.at_us, a.at_us "
        "FROM consent_events c JOIN audit_log a ON a.seq = c.audit_seq "
        "WHERE c.action = 'revoke' AND c.audit_seq <= ? ORDER BY c.at_us, c.id",
        (cut,),
    ).fetchall()
    revoked = (
        "SELECT subject, MIN(at_us) AS first FROM consent_events WHERE action = 'revoke' "
        "AND audit_seq <= ? GROUP BY subject"
    )
    sends: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    grants: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    if revokes:
        market, template = sql.field("market", "a"), sql.field("template", "a")
        # the trail is the outer loop (CROSS JOIN fixes the order on SQLite, whose planner
        # would otherwise scan the trail once per subject who opted out), the revoked
        # subjects an index SQLite builds for the query
        for subject, channel, purpose, send_us, mkt, name, seq in conn.execute(
            f"SELECT a.subject, a.channel, a.purpose, a.send_us, {market}, {template}, a.seq "
            f"FROM audit_log a CROSS JOIN ({revoked}) r WHERE r.subject = a.subject "
            "AND a.kind = 'decision' AND a.outcome = 'allow' AND a.seq <= ? "
            "AND a.send_us > r.first ORDER BY a.send_us, a.seq",
            (cut, cut),
        ):
            if isinstance(send_us, int):  # an altered entry is verify's to name
                sends[str(subject)].append(
                    (str(channel), str(purpose), send_us, _str(mkt), str(name), int(seq))
                )
        for subject, channel, scope_id, at_us in conn.execute(
            "SELECT g.subject, g.channel, g.scope, g.at_us FROM consent_events g "
            f"JOIN ({revoked}) r ON r.subject = g.subject WHERE g.action = 'grant' "
            "AND g.audit_seq <= ? ORDER BY g.at_us",
            (cut, cut),
        ):
            grants[str(subject)].append((str(channel), scope_id, int(at_us)))
    rules: dict[str | None, _Rule] = {}

    def rule_for(market: str | None) -> _Rule:
        if market not in rules:
            rules[market] = _rule(catalog, market)
        return rules[market]

    by_channel: Counter[str] = Counter()
    by_market: dict[str, Counter[str]] = defaultdict(Counter)
    by_source: Counter[str] = Counter()
    followed: list[dict[str, Any]] = []
    breach_seqs: set[int] = set()
    counted = 0
    for _id, subject, channel, scope_id, source, at_us, recorded_us in revokes:
        subject, channel, at_us = str(subject), str(channel), int(at_us)
        covered = _covered(
            catalog,
            channel,
            scope_id,
            at_us,
            sends.get(subject, ()),
            grants.get(subject, ()),
            rule_for,
        )
        market = _opt_out_market(catalog, subject, covered, grants.get(subject, ()))
        if not scope.wants(market):
            continue
        in_period = lo <= at_us < hi or lo <= int(recorded_us) < hi
        if not in_period and not any(lo <= s[2] < hi for s in covered):
            continue
        opt_rule = rule_for(market)
        confirmation = None
        if (
            covered
            and opt_rule.confirmation
            and covered[0][1] != "marketing"
            and covered[0][2] - at_us <= CONFIRMATION_US
        ):
            confirmation, covered = covered[0], covered[1:]
        tally = by_market[market or "unknown"]
        if in_period:
            counted += 1
            by_channel[channel] += 1
            by_source[_source_kind(str(source))] += 1
            tally["opt_outs"] += 1
            if not covered:
                tally["honoured"] += 1
        if not covered:
            continue
        # each send is held to the deadline of the market the gate judged it under
        dues = {
            mkt: deadline(from_us(at_us), rule_for(mkt), subject)
            for mkt in {s[3] or market for s in covered}
        }
        late = [s for s in covered if s[2] > micros(dues[s[3] or market])]
        breach_seqs.update(s[5] for s in late)
        tally["followed"] += 1
        if late:
            tally["breached"] += 1
        due = min(dues.values())
        last = covered[-1][2]
        followed.append(
            {
                "subject": subject,
                "channel": channel,
                "scope": scope_id,
                "source": str(source),
                "market": market,
                "opted_out_at": _iso(at_us),
                "recorded_at": _iso(int(recorded_us)),
                "deadline": due.isoformat().replace("+00:00", "Z"),
                "deadline_rule": _describe(rule_for(covered[0][3] or market)),
                "sends_after": len(covered),
                "last_send_at": _iso(last),
                "days_to_last_send": round((last - at_us) / DAY_US, 2),
                "sends_after_deadline": len(late),
                "breach": bool(late),
                "templates": sorted({s[4] for s in covered}),
                "confirmation_excused": confirmation is not None,
            }
        )
    followed.sort(key=lambda r: (not r["breach"], r["opted_out_at"], r["subject"]))
    breaches = sum(1 for r in followed if r["breach"])
    return {
        "how": "Revocations in consent_events made or recorded in the period (a STOP or other "
        "opt-out reply, a person's reading of a doubtful reply, or a revoke your code "
        "recorded), and earlier ones followed by a send in the period. For each, the allowed "
        "sends that followed it: audit entries of kind decision to the same subject, scheduled "
        "after the opt-out, on the channel's family or falling back to it, that the opt-out "
        "stops as the gate does (a revocation of everything stops the purposes the market's "
        "opt-out stops: marketing until its scope is granted again, the rest until any new "
        "consent; a revocation of one scope stops that scope's marketing), decided by the end "
        "of the period. A breach is a send after its market's deadline (the opt_out block of "
        "the market file the gate judged the send under: days, business or calendar, counted "
        "in the market's time zone or the earliest of the number's own, weekends and public "
        "holidays skipped). Where the market allows one confirmation, a first non-marketing "
        "send within five minutes is excused. A market with no deadline gets none: any send "
        "after the opt-out is listed. Counts by market, channel and source are of the opt-outs "
        "made or recorded in the period.",
        "total": counted,
        "honoured": sum(t["honoured"] for t in by_market.values()),
        "followed_by_sends": len(followed),
        "breached": breaches,
        "sends_after_deadline": len(breach_seqs),
        "by_channel": [{"channel": c, "count": n} for c, n in sorted(by_channel.items())],
        "by_market": [
            {
                "market": mkt,
                "deadline": _describe(rule_for(None if mkt == "unknown" else mkt)),
                "opt_outs": t["opt_outs"],
                "honoured": t["honoured"],
                "followed_by_sends": t["followed"],
                "breached": t["breached"],
            }
            for mkt, t in sorted(by_market.items())
        ],
        "by_source": [
            {"source": s, "count": n}
            for s, n in sorted(by_source.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "followed": followed,
    }


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _channels(catalog: Any, name: str) -> set[str]:
    """The channels a send of template `name` may go out on: its own and its fallbacks'."""
    found: set[str] = set()
    seen: set[str] = set()
    model = catalog.templates.get(name)
    while model is not None and model.id not in seen:
        seen.add(model.id)
        found.add(model.channel)
        model = catalog.templates.get(model.fallback) if model.fallback else None
    return found


def _covered(
    catalog: Any,
    channel: str,
    scope_id: str | None,
    at_us: int,
    sends: Iterable[tuple[Any, ...]],
    grants: Iterable[tuple[Any, ...]],
    rule_for: Any,
) -> list[tuple[Any, ...]]:
    """The allowed sends an opt-out stops, as the gate reads consent (rules.py): on the
    channel's family or falling back to it, after the opt-out, and before new consent. A
    template the catalog does not know is taken as stopped."""
    fam = set(family(channel))
    later = [(c, sc, g) for c, sc, g in grants if g > at_us and c in fam]
    out = []
    for send in sends:
        s_channel, purpose, send_us, market, name, _seq = send
        if send_us <= at_us:
            continue
        if s_channel not in fam and not _channels(catalog, name) & fam:
            continue
        model = catalog.templates.get(name)
        own = getattr(model, "consent_scope", None) if model is not None else scope_id
        if scope_id is not None:  # one scope: its marketing
            if purpose != "marketing" or own != scope_id:
                continue
            renewed = any(sc == scope_id and g < send_us for _c, sc, g in later)
        elif purpose == "marketing":  # everything: marketing until its scope is granted again
            renewed = any((own is None or sc == own) and g < send_us for _c, sc, g in later)
        else:  # everything: the purposes the market's opt-out stops, until any new consent
            if purpose not in rule_for(market).stops:
                continue
            renewed = any(g < send_us for _c, _sc, g in later)
        if not renewed:
            out.append(send)
    return out


def _opt_out_market(
    catalog: Any, subject: str, covered: list[tuple[Any, ...]], granted: Iterable[tuple[Any, ...]]
) -> str | None:
    """The market an opt-out is counted under: the one the gate judged the sends after it
    under, else the number's country, else the one market of the subject's consent scopes."""
    for send in reversed(covered):
        if send[3]:
            return str(send[3])
    found = _phone_market(subject, catalog)
    if found:
        return found
    markets = {
        m
        for _c, scope_id, _g in granted
        for m in getattr(catalog.scopes.get(scope_id), "markets", None) or []
    }
    return markets.pop() if len(markets) == 1 else None


def _describe(rule: _Rule) -> str:
    if not rule.days:
        return "at once (no deadline in the market file)"
    kind = "calendar" if rule.day_kind == "calendar" else rule.day_kind
    return f"{rule.days} {kind} days" + (", one confirmation allowed" if rule.confirmation else "")


# -- consent --------------------------------------------------------------------------------

# a grant is in force when nothing recorded later (by the end of the period) replaces it: a
# newer event for the same scope on the channel's family, or a revocation of every scope
IN_FORCE = (
    "FROM consent_events g WHERE g.action = 'grant' AND g.audit_seq <= ? AND NOT EXISTS ("
    "SELECT 1 FROM consent_events r WHERE r.subject = g.subject AND r.audit_seq <= ? "
    "AND r.id <> g.id AND (r.channel = g.channel OR (r.channel IN ({text}) AND g.channel IN "
    "({text}))) AND (r.scope = g.scope OR (r.scope IS NULL AND r.action = 'revoke')) AND "
    "(r.at_us > g.at_us OR (r.at_us = g.at_us AND (r.action = 'revoke' OR r.id > g.id))))"
).format(text=", ".join(f"'{c}'" for c in TEXT))


def _lifetimes(catalog: Any, scope_id: str, scope: Scope) -> list[tuple[str, str]]:
    """(market, lifetime) of a scope in each of its markets: its own expires_after, or the
    market's cap for its basis where shorter (rules.lifetime, as the gate reads it)."""
    model = catalog.scopes.get(scope_id)
    if model is None:
        return []
    from compliance.gate.rules import lifetime

    out = []
    for market in getattr(model, "markets", None) or []:
        if not scope.wants(market):
            continue
        life, _capped = lifetime(model, catalog.markets.get(market), scope.until)
        if life:
            out.append((market, life))
    return out


def _consent(conn: Any, catalog: Any, scope: Scope, cut: int) -> dict[str, Any]:
    lo, hi = scope.since_us, scope.until_us
    in_force = conn.execute(
        f"SELECT g.channel, g.scope, COUNT(*) {IN_FORCE} GROUP BY g.channel, g.scope",
        (cut, cut),
    ).fetchall()
    until = scope.until
    rows = []
    expiring = []
    for channel, scope_id, count in sorted(in_force, key=lambda r: (str(r[0]), str(r[1]))):
        model = catalog.scopes.get(scope_id)
        markets = list(getattr(model, "markets", None) or [])
        if scope.markets and model is not None and not set(markets) & set(scope.markets):
            continue
        lapsed = 0
        lives = _lifetimes(catalog, scope_id, scope)
        if lives:
            # a grant given at g lapses at g + life: lapsed by the end of the period when
            # g < until - life (counted back in calendar terms), under the shortest lifetime
            born = max(micros(_minus(until, life)) for _m, life in lives)
            lapsed = int(
                conn.execute(
                    f"SELECT COUNT(*) {IN_FORCE} AND g.channel = ? AND g.scope = ? AND g.at_us < ?",
                    (cut, cut, channel, scope_id, born),
                ).fetchone()[0]
            )
        for market, life in lives:
            counts = {}
            for days in (30, 90):
                # within the next `days` when until - life <= g <= until + days - life
                start = micros(_minus(until, life))
                end = micros(_minus(until + dt.timedelta(days=days), life))
                counts[days] = int(
                    conn.execute(
                        f"SELECT COUNT(*) {IN_FORCE} AND g.channel = ? AND g.scope = ? "
                        "AND g.at_us >= ? AND g.at_us <= ?",
                        (cut, cut, channel, scope_id, start, end),
                    ).fetchone()[0]
                )
            expiring.append(
                {
                    "market": market,
                    "scope": scope_id,
                    "channel": channel,
                    "lifetime": life,
                    "within_30_days": counts[30],
                    "within_90_days": counts[90],
                }
            )
        rows.append(
            {
                "channel": channel,
                "scope": scope_id,
                "consent": getattr(model, "consent", None) or "(scope not in the catalog)",
                "basis": getattr(model, "basis", None),
                "in_force": int(count) - lapsed,
                "lapsed": lapsed,
            }
        )
    by_channel: Counter[str] = Counter()
    by_consent: Counter[str] = Counter()
    for row in rows:
        by_channel[row["channel"]] += row["in_force"]
        label = row["consent"] + (f" ({row['basis']})" if row["basis"] else "")
        by_consent[label] += row["in_force"]
    grants = conn.execute(
        "SELECT COUNT(*), SUM(CASE WHEN capture_digest IS NULL THEN 1 ELSE 0 END) "
        "FROM consent_events WHERE action = 'grant' AND at_us >= ? AND at_us < ? "
        "AND audit_seq <= ?",
        (lo, hi, cut),
    ).fetchone()
    return {
        "how": "The newest consent events in consent_events recorded by the end of the period: "
        "a grant is in force unless a later event for its scope on the channel's family, or a "
        "revocation of every scope, replaced it; a grant older than its scope's lifetime (its "
        "expires_after, or the market's cap for implied consent where shorter; the shortest of "
        "the scope's markets) has lapsed. Expiring: grants in force whose lifetime ends within "
        "30 or 90 days of the end of the period, under each market's lifetime.",
        "subjects": rows,
        "by_channel": [{"channel": c, "in_force": n} for c, n in sorted(by_channel.items())],
        "by_consent": [{"consent": c, "in_force": n} for c, n in sorted(by_consent.items())],
        "expiring": expiring,
        "grants_in_period": int(grants[0] or 0),
        "grants_without_capture": int(grants[1] or 0),
        "reviews": _reviews(conn, scope, cut),
    }


def _minus(at: dt.datetime, duration: str) -> dt.datetime:
    """`at` less a calendar duration: the instant from which `duration` reaches `at`."""
    return at - durations._delta(duration)


def _reviews(conn: Any, scope: Scope, cut: int) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT r.id, r.subject, r.channel, a.at_us FROM reviews r JOIN audit_log a ON "
        "a.seq = r.audit_seq WHERE r.audit_seq <= ? AND NOT EXISTS (SELECT 1 FROM "
        "review_resolutions x WHERE x.review = r.id AND x.audit_seq <= ?) ORDER BY a.at_us, r.id",
        (cut, cut),
    )
    ages = Counter()
    listed = []
    count = 0
    end = scope.until_us
    for review_id, subject, channel, at_us in rows:
        count += 1
        age = (end - int(at_us)) / DAY_US
        ages["under 1 day" if age < 1 else "1 to 7 days" if age < 7 else "over 7 days"] += 1
        if len(listed) < REVIEW_ROWS:
            listed.append(
                {
                    "id": int(review_id),
                    "subject": str(subject),
                    "channel": str(channel),
                    "received_at": _iso(int(at_us)),
                    "age_days": round(age, 1),
                }
            )
    return {
        "how": "Replies that might be opt-outs (reviews) with no resolution recorded by the end "
        "of the period; marketing to their senders is held meanwhile. The oldest are listed, "
        "without the reply's text. Reviews are not tied to a market: --market keeps them all.",
        "open": count,
        "by_age": {k: ages.get(k, 0) for k in ("under 1 day", "1 to 7 days", "over 7 days")},
        "oldest": listed,
    }


# -- lists and pauses ------------------------------------------------------------------------


def _in_use(
    catalog: Any, scope: Scope, decisions: dict[str, Any], checked: Iterable[str]
) -> set[str]:
    """The markets whose registries concern this report: those asked for, else those the
    catalog's templates name, the gate judged sends under, or a registry check was recorded
    for (not every market the shipped files know)."""
    if scope.markets:
        return set(scope.markets)
    found = {r["market"] for r in decisions["by_market"]}
    for model in catalog.templates.values():
        found.update(getattr(model, "markets", None) or [])
    found.update(code.split("-", 1)[0] for code in checked)
    return found & set(catalog.markets)


def _lists(
    conn: Any, catalog: Any, scope: Scope, cut: int, decisions: dict[str, Any]
) -> dict[str, Any]:
    sizes = conn.execute(
        "SELECT list, COUNT(*) FROM dnc_entries WHERE audit_seq <= ? GROUP BY list ORDER BY list",
        (cut,),
    ).fetchall()
    checks: dict[str, tuple[int, str]] = {}
    for market, name, checked in conn.execute(
        "SELECT market, list, MAX(checked_at_us) FROM dnc_checks WHERE audit_seq <= ? "
        "GROUP BY market, list",
        (cut,),
    ).fetchall():
        if str(market) not in checks or int(checked) > checks[str(market)][0]:
            checks[str(market)] = (int(checked), str(name))
    registries = []
    wanted = sorted(_in_use(catalog, scope, decisions, checks))
    for market in wanted:
        params = catalog.markets[market]
        duties = []
        if params.do_not_call is not None:
            duties.append((market, params.do_not_call.registry, params.do_not_call.check_valid_for))
        for state in params.state_do_not_call:
            if state.check_valid_for:
                duties.append((state.region, state.name, state.check_valid_for))
        for where, registry, valid in duties:
            checked = checks.get(where)
            stale = checked is None or durations.add(from_us(checked[0]), valid) < scope.until
            registries.append(
                {
                    "market": where,
                    "registry": registry,
                    "valid_for": valid,
                    "list": checked[1] if checked else None,
                    "checked_at": _iso(checked[0]) if checked else None,
                    "age_days": round((scope.until_us - checked[0]) / DAY_US, 1)
                    if checked
                    else None,
                    "stale": stale,
                }
            )
    return {
        "how": "dnc_entries by list, and for each registry the market files name (national, or a "
        "state's list with a freshness rule), in the markets the templates name or the gate "
        "judged sends under, the newest check recorded in dnc_checks by the end "
        "of the period; stale when older than the market's check_valid_for (or never checked). "
        "The list 'erased' holds subjects erased from the ledger.",
        "lists": [{"list": str(name), "entries": int(count)} for name, count in sizes],
        "registries": registries,
        "stale": sum(1 for r in registries if r["stale"]),
    }


def _pauses(conn: Any, scope: Scope, cut: int) -> dict[str, Any]:
    newest = (
        'SELECT p.target_kind, p.target, p.paused, p.reason, p."by", p.at FROM pauses p '
        "WHERE p.audit_seq <= ? AND p.id = (SELECT q.id FROM pauses q WHERE q.target_kind = "
        "p.target_kind AND q.target = p.target AND q.audit_seq <= ? ORDER BY q.audit_seq DESC, "
        "q.id DESC LIMIT 1) ORDER BY p.target_kind, p.target"
    )
    in_force = [
        {"kind": str(k), "target": str(t), "reason": str(r), "by": str(b), "since": str(at)}
        for k, t, paused, r, b, at in conn.execute(newest, (cut, cut)).fetchall()
        if paused
    ]
    history = [
        {
            "action": "pause" if paused else "resume",
            "kind": str(k),
            "target": str(t),
            "reason": str(r),
            "by": str(b),
            "at": str(at),
        }
        for k, t, paused, r, b, at in conn.execute(
            'SELECT p.target_kind, p.target, p.paused, p.reason, p."by", p.at FROM pauses p '
            "JOIN audit_log a ON a.seq = p.audit_seq WHERE a.at_us >= ? AND a.at_us < ? "
            "ORDER BY p.audit_seq, p.id",
            (scope.since_us, scope.until_us),
        ).fetchall()
    ]
    return {
        "how": "The newest pause or resume of each target recorded by the end of the period "
        "(pauses in force stop every matching send), and every pause and resume in the "
        "period, with who and why. Pauses are not tied to a market: all are shown.",
        "in_force": in_force,
        "history": history,
    }


# -- the template repo -----------------------------------------------------------------------


def _lint(catalog: Any, scope: Scope) -> dict[str, Any]:
    result = scope.lint
    if result is None and not catalog.lint_errors:
        return {
            "how": "Give --repo (or --bundle) to include the template repo's lint findings.",
            "available": False,
        }
    if result is None:  # a bundle keeps the rules each document broke (errors only)
        by_rule: Counter[str] = Counter()
        for rules in catalog.lint_errors.values():
            by_rule.update(rules)
        return {
            "how": "From the bundle: the rules each document broke at error severity when CI "
            "built it (a bundle keeps no warnings and no markets); counted by document.",
            "available": True,
            "source": "bundle",
            "errors": sum(by_rule.values()),
            "warnings": None,
            "by_market": [],
            "by_rule": [
                {"rule": rule, "market": None, "severity": "error", "count": n}
                for rule, n in sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        }
    counts: Counter[tuple[str, str, str]] = Counter()
    for finding in result.findings:
        if finding.suppressed or finding.baselined:
            continue
        if finding.market is not None and not scope.wants(finding.market):
            continue
        counts[(finding.rule, finding.market or "all", finding.severity)] += 1
    by_market: dict[str, Counter[str]] = defaultdict(Counter)
    for (_rule_id, market, severity), n in counts.items():
        by_market[market][severity] += n
    return {
        "how": "`compliance lint` over the whole repo with its own config: findings that are "
        "neither suppressed nor baselined, by market ('all' for rules not tied to one) and rule.",
        "available": True,
        "source": "repo",
        "documents": result.documents,
        "errors": sum(n for (_r, _m, s), n in counts.items() if s == "error"),
        "warnings": sum(n for (_r, _m, s), n in counts.items() if s == "warning"),
        "by_market": [
            {
                "market": m,
                "error": c.get("error", 0),
                "warning": c.get("warning", 0),
                "info": c.get("info", 0),
            }
            for m, c in sorted(by_market.items())
        ],
        "by_rule": [
            {"rule": rule, "market": market, "severity": severity, "count": n}
            for (rule, market, severity), n in sorted(
                counts.items(), key=lambda kv: (-kv[1], kv[0])
            )
        ],
    }


def iter_numbers(figures: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Every (dotted path, value) of the figures: what the page's data-figure attributes name."""
    if isinstance(figures, dict):
        for key, value in figures.items():
            yield from iter_numbers(value, f"{prefix}{key}.")
    elif isinstance(figures, list):
        for i, value in enumerate(figures):
            yield from iter_numbers(value, f"{prefix}{i}.")
    else:
        yield prefix[:-1], figures
