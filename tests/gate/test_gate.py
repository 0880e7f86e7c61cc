"""The pre-send gate against a small repo: each reason code, the audit trail, inbound replies."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from compliance import Gate, Send
from compliance.gate import NaiveDatetimeError
from tests.backends import db, is_pg, sql, where
from tests.conftest import Clock, Repo

UTC = dt.timezone.utc
NOON_ET = dt.datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # 12:00 in New York
FL = "+13055550123"  # Miami: US-FL, America/New_York
CA_NUM = "+14155550123"  # San Francisco

SENDER = """
kind: sender
id: acme-10dlc
channel: sms
type: long_code
address: "+13055550100"
brand: Acme
markets: [US]
purposes: [marketing, transactional]
registrations:
  US: {program: 10dlc, brand_id: B1, campaign_id: C1, use_case: MIXED, status: active}
replies:
  stop: "Acme: you are unsubscribed and will get no more messages."
  help: "Acme: help at acme.example/help. Reply STOP to cancel."
"""
SCOPE = """
kind: consent_scope
id: sms-offers
purposes: [marketing]
channels: [sms]
markets: [US]
consent: express_written
expires_after: P1Y
capture:
  - source: web-checkout
    text: >-
      By checking this box I agree to receive recurring automated marketing text messages from
      Acme at the number provided. Consent is not a condition of purchase. Msg frequency varies.
      Msg & data rates may apply. Reply HELP for help, STOP to cancel. Terms: acme.example/terms
      Privacy: acme.example/privacy
"""
IMPLIED = SCOPE.replace("id: sms-offers", "id: implied-offers").replace(
    "consent: express_written", "consent: implied\nbasis: purchase"
)
SALE = """
kind: template
id: sale
channel: sms
purpose: marketing
markets: [US]
sender: acme-10dlc
consent_scope: sms-offers
status: approved
body: "Acme: 20% off this weekend. Reply STOP to opt out."
"""
SHIPPED = """
kind: template
id: shipped
channel: sms
purpose: transactional
markets: [US]
sender: acme-10dlc
status: approved
body: "Acme: your order has shipped."
"""


@pytest.fixture
def gate(tmp_path, ledger_at):
    repo = Repo(tmp_path / "repo")
    repo.write("senders/acme.yaml", SENDER)
    repo.write("scopes/offers.yaml", SCOPE)
    repo.write("scopes/implied.yaml", IMPLIED)
    repo.write("templates/sale.yaml", SALE)
    repo.write("templates/shipped.yaml", SHIPPED)
    repo.write(
        "templates/draft.yaml",
        SHIPPED.replace("id: shipped", "id: draft").replace("status: approved", "status: draft"),
    )
    repo.write(
        "templates/gb-only.yaml",
        SHIPPED.replace("id: shipped", "id: gb-only").replace("markets: [US]", "markets: [GB]"),
    )
    repo.write(
        "templates/no-stop.yaml",
        SALE.replace("id: sale", "id: no-stop").replace(" Reply STOP to opt out.", ""),
    )
    repo.write(
        "templates/implied.yaml",
        SALE.replace("id: sale", "id: implied-sale").replace(
            "consent_scope: sms-offers", "consent_scope: implied-offers"
        ),
    )
    clock = Clock(NOON_ET - dt.timedelta(minutes=1))
    opened = Gate.open(repo=repo.path, ledger=ledger_at, create=True, clock=clock)
    opened.clock = clock  # the tests move it as their story goes on
    yield opened
    opened.close()


def grant(gate, to=FL, scope="sms-offers", at=NOON_ET - dt.timedelta(days=1)):
    return gate.ledger.grant(subject=to, channel="sms", scope=scope, source="web-checkout", at=at)


def check(gate, template="sale", to=FL, at=NOON_ET, **kw):
    return gate.check(Send(to=to, template=template, at=at, **kw))


def test_allow_with_consent_and_an_audit_entry(gate):
    grant(gate)
    decision = check(gate)
    assert decision.outcome == "allow" and decision.allowed and decision.reasons == ()
    assert decision.id is not None
    row = (
        db(gate)
        .execute("SELECT outcome, subject FROM audit_log WHERE seq = ?", (decision.id,))
        .fetchone()
    )
    assert row == ("allow", FL)


def test_consent_missing_scope_revoked_expired(gate):
    assert check(gate).codes == ["consent.missing"]
    grant(gate, scope="implied-offers")
    assert check(gate).codes == ["consent.scope"]
    grant(gate)
    gate.ledger.revoke(
        subject=FL,
        channel="sms",
        scope="sms-offers",
        source="support-call",
        at=NOON_ET - dt.timedelta(hours=1),
    )
    assert check(gate).codes == ["consent.revoked"]
    grant(gate, at=NOON_ET - dt.timedelta(days=400))
    # the later revoke still stands: consent given long ago does not return
    assert check(gate).codes == ["consent.revoked"]


def test_consent_expires_after_the_scope_lifetime(gate, tmp_path):
    grant(gate, at=NOON_ET - dt.timedelta(days=370))
    assert check(gate).codes == ["consent.expired"]


def test_reassigned_number_voids_earlier_consent(gate):
    grant(gate, at=NOON_ET - dt.timedelta(days=30))
    gate.ledger.import_reassigned([(FL, NOON_ET - dt.timedelta(days=5))])
    assert check(gate).codes == ["consent.reassigned"]


def test_dnc_listed_and_registry_check_stale(gate):
    # implied consent is not exempt from the US registry check (and fails the US lint rules,
    # hence template.lint as well)
    grant(gate, scope="implied-offers")
    assert "dnc.check_stale" in check(gate, template="implied-sale").codes
    gate.ledger.import_dnc("US-NDNC", [], registry="US", checked_at=NOON_ET - dt.timedelta(days=3))
    assert "dnc.check_stale" not in check(gate, template="implied-sale").codes
    gate.ledger.import_dnc("US-NDNC", [], registry="US", checked_at=NOON_ET - dt.timedelta(days=9))
    assert "dnc.check_stale" not in check(gate, template="implied-sale").codes  # newest check kept
    gate.clock.advance(days=40)  # a send later than 31 days after the check: stale
    assert "dnc.check_stale" in check(gate, template="implied-sale").codes
    gate.ledger.import_dnc("internal", [FL])
    grant(gate)
    assert check(gate).codes == ["dnc.listed"]  # express written consent does not lift a listing


def test_quiet_hours_defer_to_the_next_window_in_the_state(gate):
    grant(gate)
    late = dt.datetime(2026, 11, 27, 1, 30, tzinfo=UTC)  # 20:30 in Miami: FL closes at 20:00
    decision = check(gate, at=late)
    assert decision.outcome == "defer" and decision.codes == ["quiet_hours"]
    assert decision.not_before == dt.datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    assert check(gate, template="shipped", at=late).allowed  # transactional is never deferred


def test_frequency_cap_in_florida(gate):
    grant(gate)
    outcomes = [check(gate, at=NOON_ET + dt.timedelta(minutes=i)).outcome for i in range(4)]
    assert outcomes == ["allow", "allow", "allow", "deny"]
    assert check(gate, at=NOON_ET + dt.timedelta(minutes=5)).codes == ["frequency_cap"]
    assert check(gate, at=NOON_ET + dt.timedelta(hours=25)).allowed


def test_template_reasons(gate):
    grant(gate)
    assert check(gate, template="nope").codes == ["template.unknown"]
    assert check(gate, template="draft").codes == ["template.not_approved"]
    assert "template.market" in check(gate, template="gb-only").codes
    assert check(gate, template="no-stop").codes == ["template.lint"]


def test_sender_and_recipient_reasons(gate):
    assert check(gate, template="shipped", sender="nobody").codes == ["sender.unregistered"]
    assert check(gate, template="shipped", to="+15555550123").codes == ["recipient.invalid"]


def test_pause_and_resume(gate):
    grant(gate)
    gate.pause(template="sale", reason="legal review", by="jane@example.com")
    assert check(gate).codes == ["paused"]
    gate.resume(template="sale", reason="approved", by="jane@example.com")
    assert check(gate).allowed


def test_ledger_error_fails_closed(gate):
    grant(gate)
    if is_pg(gate._db.path):
        gate._db.pool.close()  # no connection to be had
    else:
        gate._db.conn.close()
        gate._db.conn = sqlite3.connect(":memory:", isolation_level=None)  # no tables: unusable
    decision = check(gate)
    assert decision.outcome == "deny" and decision.codes == ["ledger.error"] and decision.id is None


def test_inbound_stop_blocks_every_purpose_and_replies(gate):
    grant(gate)
    result = gate.ledger.inbound(
        subject=FL, text="stop", channel="sms", sender="acme-10dlc", at=NOON_ET
    )
    assert result.action == "opt_out"
    assert result.reply == "Acme: you are unsubscribed and will get no more messages."
    later = gate.clock.advance(minutes=2)
    assert check(gate, at=later).codes == ["consent.revoked"]
    assert check(gate, template="shipped", at=later).codes == ["consent.revoked"]
    back = gate.ledger.inbound(
        subject=FL, text="START", channel="sms", sender="acme-10dlc", at=later
    )
    assert back.action == "opt_in"
    assert check(gate, at=later + dt.timedelta(minutes=1)).allowed


@pytest.mark.parametrize("text", ["STOP\x00", "stop\x00\x00 please", "stop? who\x00 is this"])
def test_a_reply_holding_a_nul_character_is_recorded_on_either_backend(gate, text):
    # PostgreSQL's text cannot hold NUL: it is stored escaped, never refused (a refused STOP
    # would be lost)
    grant(gate)
    result = gate.ledger.inbound(
        subject=FL, text=text, channel="sms", sender="acme-10dlc", at=NOON_ET
    )
    later = gate.clock.advance(minutes=2)
    if result.action == "opt_out":
        assert check(gate, at=later).codes == ["consent.revoked"]
    else:
        assert result.action == "review" and gate.ledger.reviews()[-1]["text"] == text.replace(
            "\x00", "\\x00"
        )
    assert gate._db.verify().ok


@pytest.mark.parametrize(
    "text, action",
    [
        ("Please stop texting me", "opt_out"),
        ("no more messages", "opt_out"),
        ("HELP", "help"),
        ("stop? what is this", "review"),
        ("thanks!", "none"),
    ],
)
def test_inbound_wording(gate, text, action):
    assert gate.ledger.inbound(subject=FL, text=text, channel="sms", at=NOON_ET).action == action


def test_check_many_matches_check_and_sees_earlier_sends(gate):
    grant(gate)
    sends = [Send(to=FL, template="sale", at=NOON_ET + dt.timedelta(minutes=i)) for i in range(5)]
    assert [d.outcome for d in gate.check_many(sends)] == ["allow"] * 3 + ["deny"] * 2


def test_naive_datetimes_and_bad_input_are_refused(gate):
    with pytest.raises(NaiveDatetimeError):
        check(gate, at=dt.datetime(2026, 11, 26, 12, 0))
    with pytest.raises(ValueError, match="unknown consent scope"):
        grant(gate, scope="nope")
    with pytest.raises(ValueError, match="unknown channel"):
        gate.ledger.revoke(subject=FL, channel="fax", source="x", at=NOON_ET)
    with pytest.raises(ValueError, match="not a valid phone number"):
        grant(gate, to="+15555550123")


def test_audit_trail_verifies_and_names_a_tampered_entry(gate):
    grant(gate)
    ids = [check(gate, at=NOON_ET + dt.timedelta(minutes=i)).id for i in range(3)]
    assert gate._db.verify().ok
    sql(
        where(gate),
        "UPDATE audit_log SET data = replace(data, 'allow', 'deny') WHERE seq = ?",
        (ids[0],),
    )
    verdict = gate._db.verify()
    assert not verdict.ok and verdict.first_bad == ids[0] and "edited" in verdict.problem


def test_what_the_business_knows_of_the_recipient_adds_to_the_number(gate):
    grant(gate)
    gate.clock.now = dt.datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    # the number is American, but the business knows the person lives in Canada: both apply
    assert "template.market" in check(gate, market="CA").codes
    # 12:00 in Miami, 09:00 in Los Angeles: a Los Angeles address defers until 08:00 there...
    early = dt.datetime(2026, 11, 26, 13, 30, tzinfo=UTC)  # 08:30 in Miami, 05:30 in LA
    decision = check(gate, at=early, timezone="America/Los_Angeles")
    assert decision.outcome == "defer"
    assert decision.not_before == dt.datetime(2026, 11, 26, 16, 0, tzinfo=UTC)


def test_pseudonymised_subjects_and_erasure(tmp_path, ledger_at, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "subject-secret")
    repo = Repo(tmp_path / "repo")
    repo.write("senders/acme.yaml", SENDER)
    repo.write("scopes/offers.yaml", SCOPE)
    repo.write("templates/sale.yaml", SALE)
    repo.write("templates/shipped.yaml", SHIPPED)
    clock = Clock(NOON_ET - dt.timedelta(minutes=1))
    gate = Gate.open(repo=repo.path, ledger=ledger_at, create=True, clock=clock)
    grant(gate)
    assert check(gate).allowed
    raw = [row for row in db(gate).execute("SELECT subject, data FROM audit_log")]
    assert all(FL not in (subject or "") + data for subject, data in raw)
    assert db(gate).execute("SELECT raw FROM subjects").fetchall() == [(FL,)]
    gate.ledger.erase(FL)
    assert db(gate).execute("SELECT raw FROM subjects").fetchall() == []
    assert check(gate, template="shipped", at=NOON_ET + dt.timedelta(minutes=1)).codes == [
        "dnc.listed"
    ]
    # erasure is permanent: neither a decision nor a new reply writes the identifier back
    gate.ledger.inbound(subject=FL, text="hello?", channel="sms", at=NOON_ET)
    gate.check_many([Send(to=FL, template="sale", at=NOON_ET)])
    assert db(gate).execute("SELECT raw FROM subjects").fetchall() == []
    assert gate._db.verify().ok
    gate.close()
    monkeypatch.delenv("COMPLIANCE_SUBJECT_KEY")
    with pytest.raises(Exception, match="COMPLIANCE_SUBJECT_KEY"):
        Gate.open(repo=repo.path, ledger=ledger_at)


def test_erasure_needs_a_pseudonymising_ledger(gate):
    with pytest.raises(Exception, match="stores raw subjects"):
        gate.ledger.erase(FL)


def test_a_possible_opt_out_holds_marketing_until_reviewed(gate):
    grant(gate)
    assert (
        gate.ledger.inbound(subject=FL, text="stop? what is this", channel="sms", at=NOON_ET).action
        == "review"
    )
    later = NOON_ET + dt.timedelta(minutes=1)
    held = check(gate, at=later)
    assert held.codes == ["consent.revoked"] and "review" in held.reasons[0].message
    assert check(gate, template="shipped", at=later).allowed


def test_a_review_is_resolved_by_a_person(gate):
    grant(gate)
    gate.ledger.inbound(subject=FL, text="stop? what is this", channel="sms", at=NOON_ET)
    [review] = gate.ledger.reviews()
    assert (review["subject"], review["channel"], review["text"]) == (
        FL,
        "sms",
        "stop? what is this",
    )
    seq = gate.ledger.resolve(review["id"], opt_out=False, by="jane@example.com")
    assert gate.ledger.reviews() == []
    [done] = gate.ledger.reviews(include_resolved=True)
    assert done["resolved"] and done["resolution"] == "not_opt_out" and done["resolved_seq"] == seq
    assert check(gate, at=NOON_ET + dt.timedelta(minutes=1)).allowed  # consent on record decides
    with pytest.raises(ValueError, match="resolved already"):
        gate.ledger.resolve(review["id"], opt_out=True, by="jane@example.com")
    with pytest.raises(ValueError, match="no review 99"):
        gate.ledger.resolve(99, opt_out=True, by="jane@example.com")
    # read as an opt-out: consent on the channel ends when the message came in
    message_at = gate.clock.advance(minutes=3)
    gate.ledger.inbound(subject=FL, text="stop? who is this", channel="sms", at=message_at)
    [second] = gate.ledger.reviews()
    gate.clock.advance(hours=2)
    gate.ledger.resolve(second["id"], opt_out=True, by="jane@example.com")
    assert check(gate, at=message_at + dt.timedelta(minutes=1)).codes == ["consent.revoked"]
    assert check(gate, template="shipped", at=message_at + dt.timedelta(minutes=1)).codes == [
        "consent.revoked"
    ]
    assert gate._db.verify().ok


def test_signing_up_again_after_stop_lifts_it(gate):
    grant(gate)
    gate.ledger.inbound(subject=FL, text="STOP", channel="sms", at=NOON_ET)
    assert check(gate, at=NOON_ET + dt.timedelta(minutes=1)).codes == ["consent.revoked"]
    grant(gate, at=gate.clock.advance(minutes=3))  # a new sign-up on the web form
    assert check(gate, at=NOON_ET + dt.timedelta(minutes=3)).allowed
    assert check(gate, template="shipped", at=NOON_ET + dt.timedelta(minutes=3)).allowed


def test_what_an_opt_out_stops_is_the_markets_choice(gate):
    grant(gate)
    gate.ledger.inbound(subject=FL, text="STOP", channel="sms", at=NOON_ET)
    later = NOON_ET + dt.timedelta(minutes=1)
    assert check(gate, template="shipped", at=later).codes == ["consent.revoked"]  # US: all
    us = gate.catalog.markets["US"]
    gate.catalog.markets["US"] = us.model_copy(
        update={"keywords": us.keywords.model_copy(update={"opt_out_stops": ["marketing"]})}
    )
    assert check(gate, template="shipped", at=later).allowed
    assert check(gate, at=later).codes == ["consent.revoked"]


def test_at_the_same_instant_an_opt_out_wins_over_a_grant(gate):
    for single in (True, False):
        when = NOON_ET - dt.timedelta(days=2 if single else 1)
        grant(gate, at=when)
        gate.ledger.revoke(subject=FL, channel="sms", scope="sms-offers", source="x", at=when)
        send = Send(to=FL, template="sale", at=NOON_ET)
        decision = gate.check(send) if single else gate.check_many([send, send])[0]
        assert decision.codes == ["consent.revoked"]
        grant(gate, at=when)  # recorded later, but at the same instant: the opt-out still wins
        decision = gate.check(send) if single else gate.check_many([send, send])[0]
        assert decision.codes == ["consent.revoked"], decision.reasons
        gate.ledger.inbound(subject=FL, text="STOP", channel="sms", at=when + dt.timedelta(hours=1))
        grant(gate, at=when + dt.timedelta(hours=1))
        decision = gate.check(send) if single else gate.check_many([send, send])[0]
        assert decision.codes == ["consent.revoked"], decision.reasons
        grant(gate, at=when + dt.timedelta(hours=2))  # a later sign-up lifts both
        decision = gate.check(send) if single else gate.check_many([send, send])[0]
        assert decision.codes == [], decision.reasons


def test_reasons_cite_the_market_file(gate):
    assert "47 CFR 64.1200" in check(gate).reasons[0].citation  # consent.missing
    grant(gate)
    late = dt.datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    # 20:30 in Miami: the federal window is open, Florida's is shut, and Florida's law is cited
    assert "Florida Statutes 501.616" in check(gate, at=late).reasons[0].citation
    for i in range(3):
        check(gate, at=NOON_ET + dt.timedelta(minutes=i))
    capped = check(gate, at=NOON_ET + dt.timedelta(minutes=4))
    assert capped.codes == ["frequency_cap"] and "501.616" in capped.reasons[0].citation
    assert capped.to_dict()["reasons"][0]["citation"] == capped.reasons[0].citation


def test_a_misspelt_time_zone_is_refused(gate):
    grant(gate)
    entries = gate._db.verify().entries
    with pytest.raises(ValueError, match="not an IANA time zone"):
        gate.check(Send(to=FL, template="sale", at=NOON_ET, timezone="Europe/Pariss"))
    assert gate._db.verify().entries == entries
    # in a batch, that send alone is denied and the others are answered
    first, bad = gate.check_many(
        [
            Send(to=FL, template="sale", at=NOON_ET),
            Send(to=FL, template="sale", at=NOON_ET, timezone="Europe/Pariss"),
        ]
    )
    assert (
        first.allowed
        and bad.codes == ["send.invalid"]
        and "Europe/Pariss" in bad.reasons[0].message
    )
    assert gate._db.verify().entries == entries + 2


def test_an_address_with_a_lone_surrogate_is_answered_and_stored_escaped(gate):
    # JSON from a webhook can carry half an emoji; UTF-8 cannot store it
    decision = check(gate, to="ana\ud83d@example.com")
    assert decision.codes == ["recipient.invalid"] and decision.id is not None
    assert "sms goes to a phone number" in decision.reasons[0].message
    gate.ledger.revoke(
        subject="ana\ud83d@example.com", channel="email", source="web\ud83d", at=NOON_ET
    )
    subjects = [row[0] for row in db(gate).execute("SELECT subject FROM consent_events")]
    assert subjects == ["ana\\ud83d@example.com"]
    assert gate._db.verify().ok


@pytest.mark.parametrize("relative", [True, False])
def test_a_repo_given_by_relative_path_is_linted_like_an_absolute_one(
    tmp_path, monkeypatch, relative
):
    """The gate lints the repo from inside it: a relative path (Gate.open(repo="templates"),
    --repo templates) once named nothing there, so no document was linted and a template
    with lint errors was allowed."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    repo = Path("examples/acme") if relative else root / "examples" / "acme"
    clock = Clock(NOON_ET)
    gate = Gate.open(repo=repo, ledger=tmp_path / "l.db", create=True, clock=clock)
    try:
        decision = gate.check(Send(to=CA_NUM, template="flash-sale"))
    finally:
        gate.close()
    assert decision.outcome == "deny"
    assert "template.lint" in [r.code for r in decision.reasons]
