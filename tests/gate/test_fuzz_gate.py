"""The gate's inputs fuzzed: subjects, recipients, inbound texts, send instants and time zones.

What production code hands the gate comes from outside (web forms, carrier webhooks, CSV files,
clocks in other zones), so: ledger writes refuse a bad subject with a ValueError and write
nothing; check() answers every recipient string (an invalid one is an audited deny); inbound()
reads every text; a defer names the first instant at which the windows allow the send, around
DST changes too; naive datetimes are refused with NaiveDatetimeError.

One catalog is built per module (the linter runs once); a fresh ledger is opened only where a
property needs a known history. Bugs these tests found are kept as tests at the end, each with
its failing input as an explicit example (a new one stays a strict xfail test until fixed).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from compliance import Gate, Send
from compliance.documents import CHANNELS
from compliance.gate import NaiveDatetimeError
from compliance.gate.catalog import from_repo
from compliance.gate.ledger import Ledger
from compliance.gate.recipient import InvalidRecipient, parse
from compliance.gate.timing import LOOKAHEAD_DAYS
from tests.conftest import Clock, Repo
from tests.gate.test_gate import SALE, SCOPE, SENDER, SHIPPED

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # 12:00 in New York, a Thursday
EUROPE = Path(__file__).resolve().parents[2] / "examples" / "europe"
FRENCH = (
    "senders/velora-fr.yaml",
    "scopes/fr-sms-offres.yaml",
    "templates/clean/fr-soldes-hiver.yaml",
)

LA, MIAMI, DALLAS, TOLL_FREE = "+14155550123", "+13055550123", "+12145550123", "+18005550123"
PARIS, TORONTO, DELHI = "+33612345678", "+16475550123", "+919812345678"
ACTIONS = ("opt_out", "opt_in", "help", "review", "none")
OUTCOMES = ("allow", "deny", "defer")

SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """The gate tests' US repo and the French marketing SMS of examples/europe, linted once."""
    repo = Repo(tmp_path_factory.mktemp("repo"))
    repo.write("senders/acme.yaml", SENDER)
    repo.write("scopes/offers.yaml", SCOPE)
    repo.write("templates/sale.yaml", SALE)
    repo.write("templates/shipped.yaml", SHIPPED)
    for rel in FRENCH:
        repo.write(rel, (EUROPE / rel).read_text("utf-8"))
    built = from_repo(repo.path)
    assert not built.lint_errors, built.lint_errors
    assert {"sale", "shipped", "fr-soldes-hiver"} <= set(built.templates)
    return built


@pytest.fixture(scope="module")
def gate(catalog, tmp_path_factory):
    """One gate and ledger shared by the properties that need no particular history."""
    clock = Clock(NOW)
    shared = Gate(
        catalog, Ledger(tmp_path_factory.mktemp("ledger") / "ledger.db", create=True, clock=clock)
    )
    yield shared
    assert shared._db.verify().ok
    shared.close()


def counts(gate: Gate) -> tuple[int, int, int]:
    """Rows in the audit trail, the consent history and the review queue."""
    conn = gate._db.conn
    return tuple(  # type: ignore[return-value]
        conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("audit_log", "consent_events", "reviews")
    )


# --- strings from outside -------------------------------------------------------------------

any_code_point = st.characters(exclude_categories=())  # lone surrogates included
phone_like = st.builds(
    lambda prefix, groups, sep: prefix + sep.join(groups),
    st.sampled_from(["+", "+", "", "00", "+0", "++", "+ ", "＋"]),
    st.lists(st.text("0123456789", min_size=1, max_size=4), max_size=5),
    st.sampled_from(["", "", " ", "-", ".", "\u00a0", "/"]),
)
email_like = st.builds(
    lambda a, b, c: f"{a}@{b}.{c}",
    st.text(max_size=6),
    st.text(max_size=6),
    st.text(max_size=4),
)
SPECIAL_RECIPIENTS = [
    LA,
    MIAMI,
    PARIS,
    TORONTO,
    DELHI,
    TOLL_FREE,
    "",
    " ",
    "+",
    "+1",
    "@",
    "a@b",
    "a@b.c",
    "A@EXAMPLE.COM",
    "\x00",
    "+1 (415) 555-0123",
    "＋１４１５５５５０１２３",  # fullwidth
    "+1415555012\u0663",  # an Arabic-Indic digit
    "+14155550123\n",
    "tel:+14155550123",
    "+1" + "5" * 300,
]
recipients = st.text(max_size=30) | phone_like | email_like | st.sampled_from(SPECIAL_RECIPIENTS)
recipients_with_surrogates = recipients | st.text(any_code_point, max_size=30)


@settings(max_examples=150, **SETTINGS)
@given(
    op=st.sampled_from(["grant", "revoke", "inbound"]),
    subject=recipients_with_surrogates,
    channel=st.sampled_from(CHANNELS) | st.text(max_size=6),
    scope=st.sampled_from(["sms-offers", "fr-sms-offres", None, "nope"]) | st.text(max_size=6),
)
def test_ledger_writes_refuse_bad_subjects_with_a_value_error_and_write_nothing(
    gate, op, subject, channel, scope
):
    before = counts(gate)
    try:
        if op == "grant":
            gate.ledger.grant(subject=subject, channel=channel, scope=scope, source="fuzz", at=NOW)
        elif op == "revoke":
            gate.ledger.revoke(subject=subject, channel=channel, scope=scope, source="fuzz", at=NOW)
        else:
            gate.ledger.inbound(subject=subject, text="STOP", channel=channel, at=NOW)
    except (TypeError, ValueError) as exc:
        event(f"refused: {type(exc).__name__}")
        assert counts(gate) == before, "a refused write left rows behind"
        assert gate._db.verify().ok
        return
    event("written")
    if op == "inbound":
        # an opt-out from a number without its + is recorded for each reading of it in the
        # repo's markets (none is guessed into one country): an entry each
        assert counts(gate)[0] >= before[0] + 1
    else:
        assert counts(gate)[0] == before[0] + 1


def _check_recipient(gate: Gate, to: str, template: str, channel: str | None) -> None:
    before = counts(gate)[0]
    if channel is not None and channel not in CHANNELS:  # a programming error: nothing written
        with pytest.raises(ValueError, match="is not a channel"):
            gate.check(Send(to=to, template=template, at=NOW, channel=channel))
        assert counts(gate)[0] == before
        return
    decision = gate.check(Send(to=to, template=template, at=NOW, channel=channel))
    assert decision.outcome in OUTCOMES
    assert decision.id is not None
    row = gate._db.conn.execute(
        "SELECT kind, outcome FROM audit_log WHERE seq = ?", (decision.id,)
    ).fetchone()
    assert row == ("decision", decision.outcome)
    assert counts(gate)[0] == before + 1
    known = gate.catalog.templates.get(template)
    if known is not None and channel is not None and channel != known.channel:
        # a send goes on its template's channel: anything else is refused as such
        assert decision.outcome == "deny" and "send.channel" in decision.codes, decision
        return
    try:
        parse(to, known.channel if known else channel)
        invalid = False
    except InvalidRecipient:
        invalid = True
    event("invalid recipient" if invalid else f"valid recipient: {decision.outcome}")
    if invalid:
        assert "recipient.invalid" in decision.codes and decision.outcome == "deny", decision
    elif "recipient.invalid" in decision.codes:  # an address where no market can be told
        assert decision.outcome == "deny" and any(
            "cannot tell the market" in r.message for r in decision.reasons
        ), decision


TEMPLATES = st.sampled_from(["sale", "shipped", "fr-soldes-hiver", "nope"])
SEND_CHANNELS = st.sampled_from([None, None, *CHANNELS]) | st.text(max_size=5)


@settings(max_examples=150, **SETTINGS)
@given(to=recipients, template=TEMPLATES, channel=SEND_CHANNELS)
def test_check_answers_any_recipient_string_and_audits_it(gate, to, template, channel):
    _check_recipient(gate, to, template, channel)


KEYWORDISH = [
    "STOP",
    "stop",
    " Stop! ",
    "STOP ALL",
    "stop? who is this",
    "please stop texting me",
    "ARRÊT",
    "arret",
    "ｓｔｏｐ",  # fullwidth: NFKC makes it STOP
    "S\u200bTOP",
    "YES",
    "START",
    "HELP",
    "INFO",
    "",
    " ",
    "\n",
    "\x00",
    "🛑",
    "x" * 5000,
]
SUBJECTS = [(LA, "sms"), (PARIS, "sms"), (TORONTO, "sms"), (DELHI, "sms"), (LA, "whatsapp")]
SUBJECTS.append(("someone@example.com", "email"))


@settings(max_examples=150, **SETTINGS)
@given(
    text=st.text() | st.sampled_from(KEYWORDISH),
    who=st.sampled_from(SUBJECTS),
    sender=st.sampled_from([None, "acme-10dlc", "velora-fr", "nope"]),
    after_prompt=st.booleans(),
)
def test_inbound_reads_any_text(gate, text, who, sender, after_prompt):
    subject, channel = who
    before = counts(gate)
    result = gate.ledger.inbound(
        subject=subject,
        text=text,
        channel=channel,
        sender=sender,
        at=NOW,
        after_prompt=after_prompt,
    )
    event(result.action)
    assert result.action in ACTIONS
    assert result.reply is None or isinstance(result.reply, str)
    assert result.id is not None
    after = counts(gate)
    assert after[0] == before[0] + 1
    assert after[1] == before[1] + (result.action in ("opt_out", "opt_in"))
    assert after[2] == before[2] + (result.action == "review")


# --- instants -------------------------------------------------------------------------------

ZONES = ["America/New_York", "America/Los_Angeles", "Europe/Paris", "Australia/Lord_Howe"]
ZONES.append("Asia/Kolkata")  # a half-hour offset without DST


def _transitions(name: str, first: int = 2024, last: int = 2028) -> list[dt.datetime]:
    """The instants (to the second) at which the zone's UTC offset changes."""
    zone = ZoneInfo(name)
    day = dt.datetime(first, 1, 1, tzinfo=UTC)
    stop = dt.datetime(last + 1, 1, 1, tzinfo=UTC)
    offset = day.astimezone(zone).utcoffset()
    found = []
    while day < stop:
        following = day + dt.timedelta(days=1)
        new = following.astimezone(zone).utcoffset()
        if new != offset:
            lo, hi = day, following
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(zone).utcoffset() == offset else (lo, mid)
            found.append(hi.replace(microsecond=0))
            offset = new
        day = following
    return found


TRANSITIONS = [(name, moment) for name in ZONES for moment in _transitions(name)]
# Lord Howe moves by 30 minutes, twice a year
assert sum(name == "Australia/Lord_Howe" for name, _ in TRANSITIONS) >= 8

fixed_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)
odd_offsets = st.integers(-86399, 86399).map(lambda s: dt.timezone(dt.timedelta(seconds=s)))
zone_infos = st.sampled_from([ZoneInfo(name) for name in ZONES])
representations = st.just(UTC) | fixed_offsets | odd_offsets | zone_infos


@st.composite
def instants(draw: st.DrawFn) -> dt.datetime:
    """Aware datetimes: near a DST change (in the zone, in UTC or at a fixed offset), wall-clock
    times around a change with either fold (some do not exist, some happen twice), or any time
    from 2000 to 2100."""
    how = draw(st.sampled_from(["near-change", "near-change", "wall-clock", "any"]))
    if how == "any":
        return draw(
            st.datetimes(
                dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1), timezones=representations
            )
        )
    name, moment = draw(st.sampled_from(TRANSITIONS))
    zone = ZoneInfo(name)
    if how == "near-change":
        instant = moment + dt.timedelta(seconds=draw(st.integers(-2 * 86400, 2 * 86400)))
        return instant.astimezone(draw(representations | st.just(zone)))
    local = moment.astimezone(zone).replace(tzinfo=None)
    local += dt.timedelta(minutes=draw(st.integers(-180, 180)))
    return local.replace(tzinfo=zone, fold=draw(st.integers(0, 1)))


TARGETS = [
    (LA, "sale", "sms-offers"),
    (MIAMI, "sale", "sms-offers"),  # US-FL: a stricter window
    (DALLAS, "sale", "sms-offers"),  # US-TX
    (TOLL_FREE, "sale", "sms-offers"),  # in 42 zones at once, from Guam to Adak
    (PARIS, "fr-soldes-hiver", "fr-sms-offres"),  # Mon-Sat, not on public holidays
]
SEND_ZONES = [None, None, *ZONES]


@settings(max_examples=150, **SETTINGS)
@given(at=instants(), target=st.sampled_from(TARGETS), zone=st.sampled_from(SEND_ZONES))
def test_a_defer_names_the_first_instant_the_windows_allow(catalog, at, target, zone):
    """With consent on record, a marketing send is allowed or deferred for quiet hours; a defer's
    not_before is later than the send, the minute before it is still outside the windows (it is
    the first instant: windows are whole minutes), and at not_before the send is not held."""
    to, template, scope = target
    at_utc = at.astimezone(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        # the clock stands two hours before the send, whenever that is: these are the
        # window's answers at any instant, so the horizon is wide
        clock = Clock(at_utc - dt.timedelta(hours=2))
        gate = Gate(
            catalog,
            Ledger(Path(tmp) / "ledger.db", create=True, clock=clock),
            horizon=dt.timedelta(days=200 * 366),
        )
        try:
            gate.ledger.grant(
                subject=to,
                channel="sms",
                scope=scope,
                source="fuzz",
                at=at_utc - dt.timedelta(hours=1),
            )

            def check(when: dt.datetime):
                return gate.check(Send(to=to, template=template, at=when, timezone=zone))

            decision = check(at)
            event(decision.outcome)
            assert decision.outcome in OUTCOMES
            if decision.outcome != "defer":
                assert decision.not_before is None
                assert (decision.outcome == "allow") == (decision.reasons == ())
                return
            assert decision.codes == ["quiet_hours"]
            assert decision.not_before > at_utc
            assert decision.not_before - at_utc <= dt.timedelta(days=LOOKAHEAD_DAYS + 1)
            minute_before = decision.not_before - dt.timedelta(minutes=1)
            if minute_before > at_utc:
                assert "quiet_hours" in check(minute_before).codes, decision
            again = check(decision.not_before)
            assert "quiet_hours" not in again.codes, (decision, again)
            assert again.outcome != "defer"
        finally:
            gate.close()


class _NoOffset(dt.tzinfo):
    """A tzinfo that knows no offset: such a datetime is naive too."""

    def utcoffset(self, when):
        return None

    def dst(self, when):
        return None

    def tzname(self, when):
        return None


naive = st.datetimes() | st.datetimes(timezones=st.just(_NoOffset()))


@settings(max_examples=60, **SETTINGS)
@given(
    at=naive,
    op=st.sampled_from(["check", "check_many", "grant", "revoke", "inbound"]),
)
def test_naive_datetimes_are_refused_and_nothing_is_written(gate, at, op):
    before = counts(gate)
    if op == "check_many":  # in a batch, that send alone is denied; the others are answered
        first, second = gate.check_many(
            [Send(to=LA, template="sale", at=NOW), Send(LA, "sale", at=at)]
        )
        assert first.outcome in OUTCOMES and second.codes == ["send.invalid"]
        assert "has no time zone" in second.reasons[0].message
        return
    with pytest.raises(NaiveDatetimeError):
        if op == "check":
            gate.check(Send(to=LA, template="sale", at=at))
        elif op == "grant":
            gate.ledger.grant(subject=LA, channel="sms", scope="sms-offers", source="f", at=at)
        elif op == "revoke":
            gate.ledger.revoke(subject=LA, channel="sms", source="fuzz", at=at)
        else:
            gate.ledger.inbound(subject=LA, text="STOP", channel="sms", at=at)
    assert counts(gate) == before


@settings(max_examples=60, **SETTINGS)
@example(zone="Not/AZone")
@given(
    zone=st.text(max_size=20)
    | st.sampled_from(["UTC", "Europe/Paris", "Etc/GMT+5", "../etc/passwd", "/etc/localtime"])
)
def test_check_answers_or_refuses_any_send_timezone_with_a_value_error(gate, zone):
    """A misspelt Send.timezone is a programming error, like a naive datetime: ValueError,
    before anything is written."""
    before = counts(gate)
    try:
        decision = gate.check(Send(to=LA, template="sale", at=NOW, timezone=zone))
    except ValueError:
        assert counts(gate) == before
        return
    assert decision.outcome in OUTCOMES
    assert counts(gate)[0] == before[0] + 1


# --- bugs these tests found (fixed), each with its failing input ------------------------------


@settings(max_examples=60, **SETTINGS)
@example(to="\ud800", template="sale", channel=None)
@given(to=recipients_with_surrogates, template=TEMPLATES, channel=SEND_CHANNELS)
def test_check_answers_recipient_strings_with_lone_surrogates(gate, to, template, channel):
    _check_recipient(gate, to, template, channel)


@settings(max_examples=60, **SETTINGS)
@example(text="STOP \ud83d")
@given(text=st.text(any_code_point))
def test_inbound_reads_texts_with_lone_surrogates(gate, text):
    result = gate.ledger.inbound(subject=LA, text=text, channel="sms", at=NOW)
    assert result.action in ACTIONS


@settings(max_examples=60, **SETTINGS)
@example(at=dt.datetime(1, 1, 1, tzinfo=UTC))
@example(at=dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5))))
@example(at=dt.datetime(9999, 12, 31, 10, tzinfo=UTC))  # deferred: windows looked for past 9999
@given(at=st.datetimes(timezones=st.just(UTC) | fixed_offsets))
def test_check_answers_at_any_instant_datetime_can_hold(gate, at):
    # inside the years the gate works with, an answer; outside, ValueError and nothing written
    before = counts(gate)
    if 1900 < at.year < 9000:
        assert gate.check(Send(to=LA, template="sale", at=at)).outcome in OUTCOMES
        return
    try:
        decision = gate.check(Send(to=LA, template="sale", at=at))
    except ValueError as exc:
        assert "outside the years" in str(exc)
        assert counts(gate) == before
    else:
        assert decision.outcome in OUTCOMES
