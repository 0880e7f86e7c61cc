"""Opt-out cases the report must judge as the gate does, each on a ledger written through the
gate on a fixed clock (examples/acme): an opt-out recorded late lets sends through, which the
report must find, or must not call breaches where the gate's rules allow them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from compliance import Gate, Send
from tests.report.conftest import ACME, report_json

UTC = dt.timezone.utc
START = dt.datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
SF = "+14155550142"  # San Francisco: quiet hours end at 08:00 Pacific (16:00 UTC)
UNTIL = "2026-12-01T00:00:00Z"


class Clock:
    def __init__(self) -> None:
        self.at = START + dt.timedelta(hours=17)

    def __call__(self) -> dt.datetime:
        return self.at


def ledger_with(tmp_path: Path, story) -> Path:
    path = tmp_path / "ledger.db"
    clock = Clock()
    gate = Gate.open(repo=ACME, ledger=path, create=True, clock=clock)
    try:
        gate.ledger.grant(
            subject=SF,
            channel="sms",
            scope="us-sms-promotions",
            source="web-checkout",
            at=START - dt.timedelta(days=30),
        )
        gate.ledger.grant(
            subject=SF,
            channel="whatsapp",
            scope="whatsapp-service",
            source="checkout",
            at=START - dt.timedelta(days=30),
        )
        story(gate, clock)
    finally:
        gate.close()
    return path


def daily(gate, clock, template: str, days: range, hour: int = 17) -> None:
    for day in days:
        clock.at = START + dt.timedelta(days=day, hours=hour)
        if clock.at.weekday() < 5:
            assert gate.check(Send(to=SF, template=template)).outcome == "allow", (template, day)


def late_stop(gate, clock, *, scope: str | None = None, channel: str = "sms", made_day: int = 1):
    """The person asked to stop on day `made_day` at 15:00 UTC; it is recorded on day 22."""
    clock.at = START + dt.timedelta(days=22, hours=20)
    gate.ledger.revoke(
        subject=SF,
        channel=channel,
        scope=scope,
        source="call-centre",
        at=START + dt.timedelta(days=made_day, hours=15),
    )


def test_a_fallback_to_the_stopped_channel_counts(cli, tmp_path):
    """A WhatsApp template that falls back to SMS reaches the number an SMS STOP covers."""

    def story(gate, clock):
        daily(gate, clock, "delivery-update-whatsapp", range(2, 22))
        late_stop(gate, clock)

    found = report_json(cli, ledger_with(tmp_path, story))
    [row] = found["opt_outs"]["followed"]
    assert row["templates"] == ["delivery-update-whatsapp"]
    assert row["breach"] is True


def test_new_consent_to_another_scope_does_not_end_a_stop_to_everything(cli, tmp_path):
    """After a STOP to everything on SMS, a WhatsApp service sign-up renews nothing on SMS,
    and SMS marketing stays stopped until its own scope is granted again."""

    def story(gate, clock):
        gate.ledger.grant(
            subject=SF,
            channel="whatsapp",
            scope="whatsapp-service",
            source="checkout",
            at=START + dt.timedelta(days=3),
        )
        daily(gate, clock, "spring-sale", range(2, 22))
        late_stop(gate, clock)

    found = report_json(cli, ledger_with(tmp_path, story))
    [row] = found["opt_outs"]["followed"]
    assert row["breach"] is True
    assert row["templates"] == ["spring-sale"]


def test_signing_up_again_ends_the_stop_for_that_scope(cli, tmp_path):
    def story(gate, clock):
        daily(gate, clock, "spring-sale", range(2, 22))
        late_stop(gate, clock)
        clock.at = START + dt.timedelta(days=22, hours=21)
        gate.ledger.grant(
            subject=SF,
            channel="sms",
            scope="us-sms-promotions",
            source="web-checkout",
            at=START + dt.timedelta(days=4, hours=12),
        )

    found = report_json(cli, ledger_with(tmp_path, story))
    [row] = found["opt_outs"]["followed"]
    # only the sends of 2 and 3 Nov (after the opt-out, before the sign-up on the 6th) count
    assert row["sends_after"] == 2
    assert row["breach"] is False


def test_a_scoped_revoke_stops_that_scopes_marketing_only(cli, tmp_path):
    """Revoking the WhatsApp service scope does not stop its transactional messages in the
    gate, so the report does not call them breaches."""

    def story(gate, clock):
        daily(gate, clock, "delivery-update-whatsapp", range(2, 22))
        late_stop(gate, clock, scope="whatsapp-service", channel="whatsapp")

    found = report_json(cli, ledger_with(tmp_path, story))
    assert found["opt_outs"]["total"] == 1
    assert found["opt_outs"]["followed"] == []


def test_a_confirmation_is_excused_only_within_five_minutes(cli, tmp_path):
    def story(gate, clock):
        clock.at = START + dt.timedelta(days=1, hours=17)
        gate.ledger.inbound(
            subject=SF, text="STOP", channel="sms", sender="acme-us-10dlc", at=clock.at
        )

    def sends_after(minutes: int) -> dict:
        folder = tmp_path / f"m{minutes}"
        folder.mkdir()

        def told(gate, clock):
            # the send is decided before the STOP reaches the ledger, to go out after it
            clock.at = START + dt.timedelta(days=1, hours=16, minutes=59)
            when = START + dt.timedelta(days=1, hours=17, minutes=minutes)
            decision = gate.check(Send(to=SF, template="order-shipped", at=when))
            assert decision.outcome == "allow"
            story(gate, clock)

        return report_json(cli, ledger_with(folder, told))["opt_outs"]

    assert sends_after(3)["followed"] == []  # the confirmation
    [row] = sends_after(60)["followed"]  # an hour later: not a confirmation
    assert row["sends_after"] == 1 and row["breach"] is False


def test_lapsed_consent_is_counted_back_from_the_end_of_the_period(cli, tmp_path):
    """Two-year soft opt-in (GB): given on 30 Nov 2024 it lapsed on 30 Nov 2026; given on
    1 Dec 2024 it lapses on the last day of the period's end."""

    def story(gate, clock):
        for n, day in enumerate((dt.datetime(2024, 11, 30, 12), dt.datetime(2024, 12, 1, 12))):
            gate.ledger.grant(
                subject=f"+4474001234{60 + n}",
                channel="sms",
                scope="gb-customer-offers",
                source="checkout",
                at=day.replace(tzinfo=UTC),
            )

    found = report_json(cli, ledger_with(tmp_path, story))
    [gb] = [r for r in found["consent"]["subjects"] if r["scope"] == "gb-customer-offers"]
    assert (gb["in_force"], gb["lapsed"]) == (1, 1)
    [expiring] = found["consent"]["expiring"]
    assert expiring["within_30_days"] == 1
