"""The classes of wrong allow and integration hazard an adversarial review found, each as a test
of its class: channel integrity, time integrity, calendar durations, email addresses in any
case, do-not-contact entries on every channel, threads sharing one Gate, arguments checked and
named, and the gate's one clock."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from compliance import Gate, LedgerMissingError, Send, UsageError
from compliance.gate import model
from tests.backends import db, where
from tests.conftest import ROOT, Clock, Repo
from tests.gate.test_gate import SALE, SCOPE, SENDER, SHIPPED

UTC = dt.timezone.utc
NOON_ET = dt.datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # 12:00 in New York, 09:00 in LA
FL = "+13055550123"  # Miami: Florida's window (08:00-20:00) and cap (3 in 24 hours)
MINUTE, HOUR, DAY = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)

SMS_MMS_SCOPE = SCOPE.replace("channels: [sms]", "channels: [sms, mms]")
MMS_SALE = SALE.replace("id: sale", "id: mms-sale").replace("channel: sms", "channel: mms")
WHATSAPP_SENDER = """
kind: sender
id: acme-wa
channel: whatsapp
type: whatsapp
address: "+13055550100"
brand: Acme
markets: [US]
purposes: [marketing, transactional]
"""
WHATSAPP_SHIPPED = (
    SHIPPED.replace("id: shipped", "id: wa-shipped")
    .replace("channel: sms", "channel: whatsapp")
    .replace("sender: acme-10dlc", "sender: acme-wa")
    + "consent_scope: wa-service\n"
)
# WhatsApp asks for an opt-in before any business-initiated template, service ones included
WHATSAPP_SCOPE = """
kind: consent_scope
id: wa-service
purposes: [transactional]
channels: [whatsapp]
markets: [US]
consent: express
capture:
  - source: checkout
    text: Send me order updates from Acme on WhatsApp. Reply STOP to stop them.
"""
MMS_SENDER = SENDER.replace("id: acme-10dlc", "id: acme-mms").replace(
    "channel: sms", "channel: mms"
)


@pytest.fixture
def gate(tmp_path, ledger_at):
    repo = Repo(tmp_path / "repo")
    repo.write("senders/acme.yaml", SENDER)
    repo.write("senders/acme-mms.yaml", MMS_SENDER)
    repo.write("senders/acme-wa.yaml", WHATSAPP_SENDER)
    repo.write("scopes/offers.yaml", SMS_MMS_SCOPE)
    repo.write("scopes/wa-service.yaml", WHATSAPP_SCOPE)
    repo.write("templates/sale.yaml", SALE)
    repo.write("templates/shipped.yaml", SHIPPED)
    repo.write(
        "templates/mms-sale.yaml", MMS_SALE.replace("sender: acme-10dlc", "sender: acme-mms")
    )
    repo.write("templates/wa-shipped.yaml", WHATSAPP_SHIPPED)
    clock = Clock(NOON_ET)
    opened = Gate.open(repo=repo.path, ledger=ledger_at, create=True, clock=clock)
    opened.clock = clock
    assert not opened.catalog.lint_errors, opened.catalog.lint_errors
    yield opened
    assert opened._db.verify().ok
    opened.close()


def grant(gate, to=FL, channel="sms", at=None):
    return gate.ledger.grant(
        subject=to, channel=channel, scope="sms-offers", source="web", at=at or gate.clock.now - DAY
    )


def check(gate, template="sale", to=FL, at=None, **kw):
    return gate.check(Send(to=to, template=template, at=at, **kw))


# channels -------------------------------------------------------------------------------------


def test_a_send_goes_on_its_templates_channel(gate):
    grant(gate)
    for channel in ("mms", "whatsapp", "rcs", "email", "push"):
        decision = check(gate, channel=channel)
        assert decision.codes == ["send.channel"], (channel, decision)
    assert check(gate, channel="sms").allowed  # naming the template's own channel is fine


def test_an_sms_stop_covers_mms_from_the_same_number(gate):
    grant(gate)
    grant(gate, channel="mms")
    assert check(gate, template="mms-sale").allowed
    gate.ledger.inbound(subject=FL, text="STOP", channel="sms", at=gate.clock.now)
    gate.clock.advance(minutes=1)
    assert check(gate, template="mms-sale").codes == ["consent.revoked"]
    # and the other way round: a revoke of every scope on MMS stops SMS too
    grant(gate, at=gate.clock.now)
    grant(gate, channel="mms", at=gate.clock.now)
    gate.clock.advance(minutes=1)
    assert check(gate).allowed
    gate.ledger.revoke(subject=FL, channel="mms", source="call", at=gate.clock.now)
    gate.clock.advance(minutes=1)
    assert check(gate).codes == ["consent.revoked"]
    assert check(gate, template="shipped").codes == ["consent.revoked"]
    # WhatsApp is another program: its messages are not stopped by an SMS STOP
    assert check(gate, template="wa-shipped").allowed


def test_a_grant_must_be_on_a_channel_its_scope_covers(gate):
    for channel in ("whatsapp", "email", "rcs"):
        with pytest.raises(ValueError, match="covers sms, mms, not"):
            grant(gate, to=FL if channel != "email" else "a@example.com", channel=channel)
    grant(gate, channel="mms")


def test_caps_count_the_channels_their_law_covers(gate):
    grant(gate)
    grant(gate, channel="mms")
    # Florida's cap covers sms, mms and rcs: two texts and an MMS fill it
    assert check(gate).allowed and check(gate, at=gate.clock.now + MINUTE).allowed
    assert check(gate, template="mms-sale", at=gate.clock.now + 2 * MINUTE).allowed
    assert check(gate, at=gate.clock.now + 3 * MINUTE).codes == ["frequency_cap"]
    # a transactional WhatsApp message is no marketing text: it neither counts nor is capped
    assert check(gate, template="wa-shipped", at=gate.clock.now + 4 * MINUTE).allowed


# time -----------------------------------------------------------------------------------------


def test_a_backdated_send_sees_a_stop_recorded_after_its_time(gate):
    grant(gate, at=gate.clock.now - DAY)
    gate.ledger.inbound(subject=FL, text="STOP", channel="sms", at=gate.clock.now - 10 * MINUTE)
    decision = check(gate, at=gate.clock.now - 2 * HOUR)  # "as if sent two hours ago"
    assert decision.codes == ["consent.revoked"]


def test_a_send_in_the_past_is_judged_now(gate):
    grant(gate)
    gate.clock.now = dt.datetime(2026, 11, 27, 1, 30, tzinfo=UTC)  # 20:30 in Miami: FL is shut
    decision = check(gate, at=NOON_ET)  # a campaign delayed past closing time
    assert decision.outcome == "defer"
    assert decision.not_before == dt.datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    entry = (
        db(gate).execute("SELECT at, data FROM audit_log WHERE seq = ?", (decision.id,)).fetchone()
    )
    assert entry[0] == gate.clock.now.isoformat()  # when it was decided
    assert f'"requested":"{NOON_ET.isoformat()}"' in entry[1]  # what the caller asked for
    assert f'"scheduled":"{gate.clock.now.isoformat()}"' in entry[1]  # what it was judged at


def test_sends_beyond_the_horizon_are_refused(gate):
    grant(gate)
    assert check(gate, at=gate.clock.now + 30 * DAY - MINUTE).outcome != "deny"
    decision = check(gate, at=gate.clock.now + 31 * DAY)
    assert decision.codes == ["send.horizon"]


def test_caps_count_sends_scheduled_later(gate):
    grant(gate)
    for hours in (1, 2, 3):
        assert check(gate, at=gate.clock.now + hours * HOUR).allowed
    assert check(gate).codes == ["frequency_cap"]  # now, before the three scheduled ones
    assert check(gate, at=gate.clock.now + 25 * HOUR).allowed  # a day after the first of them


def test_a_send_scheduled_far_ahead_does_not_prune_what_caps_count(gate):
    grant(gate)
    for minutes in (0, 1, 2):
        assert check(gate, at=gate.clock.now + minutes * MINUTE).allowed
    assert check(gate, at=gate.clock.now + 10 * DAY).allowed  # another day, far ahead
    gate._db.prune()  # the housekeeping thread's pruning, by the clock
    assert check(gate, at=gate.clock.now + 5 * MINUTE).codes == ["frequency_cap"]
    assert gate._db.verify().ok


def test_events_take_effect_no_later_than_they_are_recorded(gate):
    grant(gate, at=gate.clock.now + DAY)  # dated tomorrow: in force from now
    gate.ledger.inbound(subject=FL, text="STOP", channel="sms", at=gate.clock.now + 2 * DAY)
    gate.clock.advance(minutes=1)
    # the STOP, dated after the grant, must not lose to it: both are now
    assert check(gate).codes == ["consent.revoked"]


def test_at_equal_instants_an_opt_out_wins_in_any_order(gate):
    when = gate.clock.now - HOUR
    gate.ledger.inbound(subject=FL, text="STOP", channel="sms", at=when)
    grant(gate, at=when)
    assert check(gate).codes == ["consent.revoked"]


def test_nothing_but_the_gates_clock_is_read(gate, monkeypatch):
    def no(*_):
        raise AssertionError("the system clock was read")

    monkeypatch.setattr(model, "system_clock", no)
    grant(gate)
    gate.ledger.inbound(subject=FL, text="hello", channel="sms", at=gate.clock.now)
    gate.ledger.import_dnc("US-registry", [], registry="US")
    gate.ledger.import_reassigned([("+14155550100", gate.clock.now - DAY)])
    gate.pause(template="shipped", reason="r", by="b")
    gate.resume(template="shipped", reason="r", by="b")
    check(gate)
    gate.check_many([Send(to=FL, template="sale"), Send(to=FL, template="shipped")])
    assert gate._db.verify().ok


# calendar durations ---------------------------------------------------------------------------


def test_casl_implied_consent_lasts_two_calendar_years(tmp_path):
    examples = ROOT / "examples" / "apac-americas"
    repo = Repo(tmp_path / "repo")
    for rel in (
        "senders/kestrel-ca.yaml",
        "scopes/ca-past-customers.yaml",
        "templates/clean/ca-reorder-offer.yaml",  # marketing under implied consent (a purchase)
    ):
        repo.write(rel, (examples / rel).read_text("utf-8"))
    template = "ca-reorder-offer"
    purchase = dt.datetime(2023, 3, 1, 17, 0, tzinfo=UTC)
    # two calendar years span 2024-02-29: 731 days, so 730.5 days after the purchase (05:00 on
    # 2025-03-01) the consent still stands, until 17:00
    later = dt.datetime(2025, 3, 1, 16, 0, tzinfo=UTC)
    clock = Clock(purchase)
    gate = Gate.open(repo=repo.path, ledger=tmp_path / "l.db", create=True, clock=clock)
    gate.ledger.grant(
        subject="+16475550123",
        channel="sms",
        scope="ca-past-customers",
        source="store",
        at=purchase,
    )
    clock.now = later
    assert "consent.expired" not in check(gate, template=template, to="+16475550123").codes
    clock.now = dt.datetime(2025, 3, 1, 17, 1, tzinfo=UTC)
    assert "consent.expired" in check(gate, template=template, to="+16475550123").codes
    gate.close()


# email addresses and lists --------------------------------------------------------------------


def test_email_addresses_compare_in_any_case(tmp_path, ledger_at):
    channels = ROOT / "examples" / "channels"
    clock = Clock(NOON_ET)
    gate = Gate.open(repo=channels, ledger=tmp_path / "l.db", create=True, clock=clock)
    gate.ledger.grant(
        subject="bob.smith@example.com",
        channel="email",
        scope="email-newsletter",
        source="web",
        at=NOON_ET - DAY,
    )
    assert check(gate, template="email-new-harvest", to="bob.smith@example.com").allowed
    gate.ledger.revoke(subject="Bob.Smith@Example.com", channel="email", source="reply", at=NOON_ET)
    clock.advance(minutes=1)
    for spelling in ("bob.smith@example.com", "BOB.SMITH@EXAMPLE.COM"):
        # the template targets US, CA and GB: every one of their rules applies to an address
        assert set(check(gate, template="email-new-harvest", to=spelling).codes) == {
            "consent.revoked"
        }
    # an "unsubscribe" reply by email is an opt-out, whatever the case of the address
    gate.ledger.grant(
        subject="ana@example.com",
        channel="email",
        scope="email-newsletter",
        source="web",
        at=clock.now,
    )
    result = gate.ledger.inbound(
        subject="ANA@example.com", text="unsubscribe", channel="email", at=clock.now
    )
    assert result.action == "opt_out"
    clock.advance(minutes=1)
    assert set(check(gate, template="email-new-harvest", to="ana@example.com").codes) == {
        "consent.revoked"
    }
    # a do-not-contact entry holding an address is honoured on email
    gate.ledger.grant(
        subject="cy@example.com",
        channel="email",
        scope="email-newsletter",
        source="web",
        at=clock.now,
    )
    gate.ledger.import_dnc("internal", ["Cy@Example.com"])
    clock.advance(minutes=1)
    assert set(check(gate, template="email-new-harvest", to="cy@example.com").codes) == {
        "dnc.listed"
    }
    with pytest.raises(ValueError, match="registry lists numbers"):
        gate.ledger.import_dnc("US-registry", ["cy@example.com"], registry="US")
    with pytest.raises(ValueError, match="entry 2"):
        gate.ledger.import_dnc("internal", ["+14155550123", "not a number"])
    assert gate._db.verify().ok
    gate.close()


# integration ----------------------------------------------------------------------------------


def test_threads_share_one_gate(gate):
    grant(gate)
    numbers = [f"+1415555{n:04d}" for n in range(40)]
    for number in numbers:
        grant(gate, to=number)
    answers, failures = [], []

    def work(k: int) -> None:
        try:
            for i in range(60):
                to = numbers[(k * 7 + i) % len(numbers)]
                if i % 10 == 9:
                    gate.ledger.inbound(subject=to, text="STOP", channel="sms", at=gate.clock.now)
                answers.append(gate.check(Send(to=to, template="sale")))
                answers.extend(gate.check_many([Send(to=to, template="shipped")] * 2))
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures, failures
    ids = [a.id for a in answers]
    assert None not in ids and len(set(ids)) == len(ids) == 8 * 60 * 3
    assert gate._db.verify().ok


def test_gate_open_refuses_what_it_would_otherwise_guess(tmp_path):
    us = ROOT / "examples" / "us"
    with pytest.raises(UsageError, match="does not exist"):
        Gate.open(repo=us / "templatse", ledger=tmp_path / "l.db", create=True)
    (tmp_path / "empty-repo").mkdir()
    with pytest.raises(UsageError, match="holds no templates"):
        Gate.open(repo=tmp_path / "empty-repo", ledger=tmp_path / "l.db", create=True)
    with pytest.raises(LedgerMissingError, match="there is no ledger"):
        Gate.open(repo=us, ledger=tmp_path / "typo.db")
    assert not (tmp_path / "typo.db").exists()
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(LedgerMissingError, match="empty file"):
        Gate.open(repo=us, ledger=tmp_path / "empty.db")
    with pytest.raises(TypeError, match="clock"):
        Gate.open(repo=us, ledger=tmp_path / "l.db", create=True, clock="now")
    with pytest.raises(ValueError, match="has no time zone"):
        Gate.open(repo=us, ledger=tmp_path / "l.db", create=True, clock=dt.datetime.now)
    for timeout in (float("inf"), float("nan"), -1):
        with pytest.raises(ValueError, match="busy_timeout"):
            Gate.open(repo=us, ledger=tmp_path / "x.db", busy_timeout=timeout)
    with pytest.raises(TypeError, match="horizon"):
        Gate.open(repo=us, ledger=tmp_path / "l.db", create=True, horizon=30)


@pytest.mark.parametrize(
    "call, error, named",
    [
        (lambda g: g.check(None), TypeError, "Send"),
        (lambda g: g.check(Send(to=None, template="sale")), TypeError, "Send.to"),
        (lambda g: g.check(Send(to=FL, template=3)), TypeError, "Send.template"),
        (lambda g: g.check(Send(to=FL, template="sale", at="2026-01-01")), TypeError, "Send.at"),
        (lambda g: g.check_many(None), TypeError, "check_many"),
        (lambda g: g.check_many(Send(to=FL, template="sale")), TypeError, "check_many"),
        (
            lambda g: g.ledger.grant(
                subject=None, channel="sms", scope="sms-offers", source="x", at=NOON_ET
            ),
            TypeError,
            "subject",
        ),
        (
            lambda g: g.ledger.grant(
                subject=FL, channel=None, scope="sms-offers", source="x", at=NOON_ET
            ),
            TypeError,
            "channel",
        ),
        (
            lambda g: g.ledger.grant(subject=FL, channel="sms", scope=None, source="x", at=NOON_ET),
            TypeError,
            "scope",
        ),
        (
            lambda g: g.ledger.grant(
                subject=FL, channel="sms", scope="sms-offers", source=None, at=NOON_ET
            ),
            TypeError,
            "source",
        ),
        (
            lambda g: g.ledger.grant(
                subject=FL, channel="sms", scope="sms-offers", source="x", at=None
            ),
            TypeError,
            "at",
        ),
        (
            lambda g: g.ledger.grant(
                subject=FL, channel="sms", scope="sms-offers", source="x", at=NOON_ET, evidence=[1]
            ),
            TypeError,
            "evidence",
        ),
        (
            lambda g: g.ledger.inbound(subject=FL, text=None, channel="sms", at=NOON_ET),
            TypeError,
            "text",
        ),
        (lambda g: g.ledger.resolve(None, opt_out=True, by="x"), TypeError, "review"),
        (lambda g: g.ledger.import_dnc("x", None), TypeError, "entries"),
        (lambda g: g.ledger.import_dnc("x", "+14155550123"), TypeError, "entries"),
        (lambda g: g.pause(template=None, reason="r", by="b"), ValueError, "exactly one"),
        (lambda g: g.pause(template="nope", reason="r", by="b"), ValueError, "no template 'nope'"),
        (
            lambda g: g.pause(sender="acme-10dl", reason="r", by="b"),
            ValueError,
            "did you mean 'acme-10dlc'",
        ),
        (lambda g: g.pause(market="XX", reason="r", by="b"), ValueError, "no market 'XX'"),
        (lambda g: g.resume(template="sale", reason="r", by="b"), ValueError, "is not paused"),
        (lambda g: g.pause(template="sale", reason=None, by="b"), TypeError, "reason"),
        (
            lambda g: g.ledger.grant(
                subject=FL,
                channel="sms",
                scope="sms-offers",
                source="web",
                at=NOON_ET,
                evidence={1: "a", "b": 2},
            ),
            TypeError,
            "evidence",
        ),
        (
            lambda g: g.ledger.grant(
                subject=FL,
                channel="sms",
                scope="sms-offers",
                source="web",
                at=NOON_ET,
                evidence={"where": ("web", "app")},
            ),
            TypeError,
            "evidence",
        ),
        (lambda g: g.ledger.history(FL, channel=5), TypeError, "channel"),
        (lambda g: g.ledger.history(FL, channel="fax"), ValueError, "channel"),
        (lambda g: g.ledger.reviews(include_resolved="yes"), TypeError, "include_resolved"),
        (lambda g: g.check_many({}), TypeError, "check_many"),
    ],
)
def test_bad_arguments_raise_naming_the_argument_and_write_nothing(gate, call, error, named):
    entries = gate._db.verify().entries
    with pytest.raises(error, match=named):
        call(gate)
    assert gate._db.verify().entries == entries


def test_one_bad_send_in_a_batch_is_denied_alone(gate):
    grant(gate)
    batch = [
        Send(to=FL, template="sale"),
        None,
        Send(to=FL, template="sale", channel="fax"),
        Send(to=FL, template="shipped", at=dt.datetime(2026, 11, 26, 12, 0)),
        Send(to=FL, template="shipped"),
    ]
    answers = gate.check_many(batch)
    assert [a.outcome for a in answers] == ["allow", "deny", "deny", "deny", "allow"]
    assert [a.codes for a in answers[1:4]] == [["send.invalid"]] * 3
    assert all(a.id is not None for a in answers)  # audited like every other answer


def test_a_stop_stamped_behind_the_grant_it_answers_still_wins(gate):
    """Hosts' clocks disagree: a STOP whose time is two minutes behind a grant already recorded
    (the CRM's clock ahead, the webhook's behind) must still win over it."""
    grant(gate, at=gate.clock.now)
    behind = gate.clock.now - 2 * MINUTE
    gate.ledger.inbound(subject=FL, text="STOP", channel="sms", at=behind)
    assert check(gate, at=gate.clock.now + MINUTE).codes == ["consent.revoked"]
    # a revoke of the scope alone, stamped behind its grant, likewise
    other = "+13055550124"
    grant(gate, to=other, at=gate.clock.now)
    gate.ledger.revoke(subject=other, channel="sms", scope="sms-offers", source="call", at=behind)
    assert check(gate, to=other, at=gate.clock.now + MINUTE).codes == ["consent.revoked"]
    # and a sign-up after the STOP still lifts it
    gate.clock.advance(minutes=5)
    grant(gate, at=gate.clock.now)
    assert check(gate, at=gate.clock.now + MINUTE).allowed


def test_a_template_with_a_fallback_is_allowed_only_if_its_fallback_is(tmp_path, ledger_at):
    channels = ROOT / "examples" / "channels"
    clock = Clock(NOON_ET)
    gate = Gate.open(repo=channels, ledger=tmp_path / "l.db", create=True, clock=clock)
    whatsapp = gate.catalog.templates["wa-order-shipped"]
    assert whatsapp.fallback == "sms-order-shipped"
    number = "+14155550123"
    assert gate.check(Send(to=number, template=whatsapp.id)).allowed
    # a STOP on SMS: WhatsApp is another program, but this message may go out as its SMS
    gate.ledger.inbound(subject=number, text="STOP", channel="sms", at=clock.now)
    clock.advance(minutes=1)
    decision = gate.check(Send(to=number, template=whatsapp.id))
    assert decision.codes == ["consent.revoked"]
    assert decision.reasons[0].message.startswith("fallback 'sms-order-shipped': ")
    # a pause of the fallback holds the message too
    gate.pause(template="sms-order-shipped", reason="copy review", by="jane")
    assert "paused" in gate.check(Send(to="+14155550124", template=whatsapp.id)).codes
    gate.close()


def test_reassigned_numbers_get_no_message_of_any_purpose(gate):
    gate.ledger.import_reassigned([(FL, gate.clock.now - DAY)])
    assert check(gate, template="shipped").codes == ["consent.reassigned"]  # none on record
    grant(gate, at=gate.clock.now)  # consent given after the disconnection: the new holder's
    assert check(gate, template="shipped").allowed and check(gate).allowed


def test_a_sender_for_another_channel_is_refused(gate):
    grant(gate)
    assert check(gate, sender="acme-wa").codes == ["sender.unregistered"]


def test_a_scoped_revoke_must_be_on_a_channel_its_scope_covers(gate):
    with pytest.raises(ValueError, match="covers sms, mms"):
        gate.ledger.revoke(
            subject=FL, channel="whatsapp", scope="sms-offers", source="x", at=gate.clock.now
        )
    gate.ledger.revoke(subject=FL, channel="whatsapp", source="x", at=gate.clock.now)  # all of it


def test_a_number_is_held_to_its_states_main_zone_too(gate):
    """phonenumbers places Orlando's 689 area code in Central time: at 20:30 in Orlando
    (19:30 in Chicago) Florida's 20:00 limit has passed."""
    orlando = "+16895550123"
    grant(gate, to=orlando)
    gate.clock.now = dt.datetime(2026, 11, 27, 1, 30, tzinfo=UTC)  # 20:30 in Orlando
    decision = check(gate, to=orlando)
    assert decision.outcome == "defer" and decision.codes == ["quiet_hours"]
    assert decision.not_before == dt.datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # 08:00 Chicago


def test_odd_values_are_refused_in_plain_words(gate):
    grant(gate)
    nested: dict = {}
    inner = nested
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]
    bad = [
        (lambda: grant_with(gate, evidence={"score": float("nan")}), "must be JSON"),
        (lambda: grant_with(gate, evidence=nested), "nested too deeply"),
        (
            lambda: gate.ledger.inbound(
                subject=FL, text="YES", channel="sms", at=gate.clock.now, after_prompt="no"
            ),
            "after_prompt",
        ),
        (lambda: gate.ledger.import_dnc("us", [], registry="XX"), "not a market code"),
        (lambda: gate.ledger.resolve(10**30, opt_out=True, by="x"), "no review"),
    ]
    entries = gate._db.verify().entries
    for call, said in bad:
        with pytest.raises((TypeError, ValueError), match=said):
            call()
    assert gate._db.verify().entries == entries


def grant_with(gate, **extra):
    return gate.ledger.grant(
        subject=FL, channel="sms", scope="sms-offers", source="web", at=gate.clock.now, **extra
    )


def test_a_reply_in_the_form_a_provider_hands_over_is_recorded(gate):
    """Aggregators post the number without + (12125550123), in national form, or with 00: the
    sender's market reads it, and an empty sender loses no STOP."""
    grant(gate)
    for spelling in ("13055550123", "(305) 555-0123", "3055550123"):
        result = gate.ledger.inbound(
            subject=spelling, text="STOP", channel="sms", sender="acme-10dlc", at=gate.clock.now
        )
        assert result.action == "opt_out"
    assert (
        gate.ledger.inbound(
            subject=FL, text="STOP", channel="sms", sender="", at=gate.clock.now
        ).action
        == "opt_out"
    )
    assert [e["action"] for e in gate.ledger.history(FL)][-1] == "revoke"
    # with no sender to say its country, a number in national form is read in each of the
    # repo's markets, and the opt-out recorded for every reading: never lost, never guessed
    revokes = [e["action"] for e in gate.ledger.history(FL)].count("revoke")
    result = gate.ledger.inbound(
        subject="3055550123", text="STOP", channel="sms", at=gate.clock.now
    )
    assert result.action == "opt_out"
    assert [e["action"] for e in gate.ledger.history(FL)].count("revoke") == revokes + 1
    # anything but an opt-out needs to know whose number it is
    with pytest.raises(ValueError, match="international form"):
        gate.ledger.inbound(subject="3055550123", text="START", channel="sms", at=gate.clock.now)


def test_an_address_is_one_whatever_the_case_trailing_dot_or_script_of_its_domain():
    from compliance.gate.recipient import parse

    same = {
        parse(v, "email").subject
        for v in ("Ana@Exämple.com", "ana@EXÄMPLE.COM.", "ana@xn--exmple-cua.com")
    }
    assert same == {"ana@xn--exmple-cua.com"}
    # IDNA 2008, as mail systems write it: straße.de is xn--strae-oqa.de, not strasse.de
    assert parse("bob@Straße.de", "email").subject == "bob@xn--strae-oqa.de"
    assert parse("bob@strasse.de", "email").subject == "bob@strasse.de"
    # a local part composed or with a combining accent is one address
    assert parse("jose\u0301@example.com", "email").subject == "jos\u00e9@example.com"


@pytest.mark.parametrize(
    "address",
    ["a@-bad-.com", "a@bad-.com", "a@-bad.com", "a@b_c.com", "a@xn--zz.com", "a@ex..com"],
)
def test_an_address_whose_domain_no_host_could_have_is_refused(address):
    """A domain label is letters, digits and inner hyphens (RFC 1123), and an xn-- label must
    be the ASCII form of a Unicode one: what a mail system could never deliver to is a typing
    mistake to fix, not a subject to keep consent for."""
    from compliance.gate.recipient import InvalidRecipient, parse

    with pytest.raises(InvalidRecipient, match="is not an email address"):
        parse(address, "email")


def test_what_one_gate_writes_the_next_decision_of_another_sees(gate, tmp_path):
    """Gates on one ledger (processes, hosts' workers) keep what they read between decisions
    only while no other connection has committed: a pause, a list entry, a review or a STOP
    written by one is seen by the other's next decision."""
    other = Gate.open(repo=tmp_path / "repo", ledger=where(gate), clock=gate.clock)
    grant(gate)
    grant(gate, to="+13055550124")
    assert check(gate).allowed and check(gate, to="+13055550124").allowed  # caches warm
    other.pause(template="sale", reason="legal", by="jane")
    assert check(gate).codes == ["paused"]
    other.resume(template="sale", reason="ok", by="jane")
    other.ledger.import_dnc("internal", [FL])
    assert check(gate).codes == ["dnc.listed"]
    other.ledger.inbound(
        subject="+13055550124", text="stop? who is this", channel="sms", at=gate.clock.now
    )
    assert check(gate, to="+13055550124").codes == ["consent.revoked"]
    other.ledger.import_reassigned([("+13055550125", gate.clock.now)])
    assert check(gate, template="shipped", to="+13055550125").codes == ["consent.reassigned"]
    other.close()
    assert check(gate, template="shipped").allowed  # and its own writes go on as before


def test_a_reply_without_its_plus_is_read_in_every_market_of_its_sender(tmp_path):
    """WhatsApp and many SMS providers hand the number over in international form without its
    + (447400123456): a sender serving the US and GB reads it as the GB number it is, and a
    STOP from a number that may be either of two is recorded for both (none is lost)."""
    when = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)
    gate = Gate.open(
        repo=ROOT / "examples" / "channels",
        ledger=tmp_path / "l.db",
        create=True,
        clock=lambda: when,
    )
    gb = "+447400123456"
    gate.ledger.grant(
        subject=gb, channel="whatsapp", scope="gb-mobile-offers", source="web", at=when
    )
    result = gate.ledger.inbound(
        subject="447400123456", text="STOP", channel="whatsapp", sender="kestrel-whatsapp", at=when
    )
    assert result.action == "opt_out"
    assert [e["action"] for e in gate.ledger.history(gb)][-1] == "revoke"
    assert gate.check(Send(to=gb, template="wa-new-harvest-gb")).codes == ["consent.revoked"]
    gate.close()
