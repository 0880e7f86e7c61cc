"""The reference model alone, on cases worked out by hand from the gate's specification.

Each expected answer below was derived from the market files and the spec, not from running the
gate. Times are written in the recipient's local zone where that makes the case readable.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.gate.reference_model import Model, ModelDecision, ModelSend, shipped_market_parameters

MARKETS = shipped_market_parameters()
ROOT = Path(__file__).resolve().parents[2]

# numbers: region, state (geocoder), zones
FL = "+13055550123"  # US-FL, America/New_York
OK = "+14055550123"  # US-OK, America/Chicago
MD = "+14105550123"  # US-MD, America/New_York
CT = "+12035550123"  # US-CT, America/New_York
TX = "+15125550123"  # US-TX, America/Chicago
SF = "+14155550123"  # US-CA, America/Los_Angeles (no stricter state window)
ON = "+14165550123"  # CA (Ontario), America/Toronto
GB = "+447400123456"  # GB, Europe/London and the Crown dependencies' zones
DE = "+4915112345678"  # DE, Europe/Berlin
FR = "+33612345678"  # FR, Europe/Paris
IN = "+919812345678"  # IN, Asia/Calcutta
SG = "+6581234567"  # SG, Asia/Singapore
AU = "+61412345678"  # AU, eight zones
BR = "+5511912345678"  # BR, America/Sao_Paulo

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
PARIS = ZoneInfo("Europe/Paris")
KOLKATA = ZoneInfo("Asia/Kolkata")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
UTC = dt.timezone.utc


def at(zone: dt.tzinfo, y: int, m: int, d: int, h: int = 12, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=zone)


def sender(ident, channel, markets=(), purposes=(), status="active"):
    return {
        "id": ident,
        "channel": channel,
        "markets": list(markets),
        "purposes": list(purposes),
        "status": status,
    }


def scope(ident, consent, basis=None, expires_after=None, channels=()):
    return {
        "id": ident,
        "consent": consent,
        "basis": basis,
        "expires_after": expires_after,
        "channels": list(channels),
    }


def template(ident, channel, purpose, markets, sender=None, consent_scope=None, status="approved"):
    return {
        "id": ident,
        "channel": channel,
        "purpose": purpose,
        "markets": list(markets),
        "sender": sender,
        "consent_scope": consent_scope,
        "status": status,
    }


SENDERS = [
    sender("us-10dlc", "sms", ["US"]),
    sender("us-mms", "mms", ["US"]),
    sender("us-rcs", "rcs", ["US"]),
    sender("us-wa", "whatsapp", ["US"]),
    sender("us-otp-only", "sms", ["US"], purposes=["otp"]),
    sender("us-pending", "sms", ["US"], status="pending"),
    sender("ca-sc", "sms", ["CA"]),
    sender("gb-alpha", "sms", ["GB"]),
    sender("eu-sms", "sms", ["DE", "FR", "EU"]),
    sender("fr-mms", "mms", ["FR"]),
    sender("fr-rcs", "rcs", ["FR"]),
    sender("in-dlt", "sms", ["IN"]),
    sender("sg-sms", "sms", ["SG"]),
    sender("sg-wa", "whatsapp", ["SG"]),
    sender("au-sms", "sms", ["AU"]),
    sender("br-wa", "whatsapp", ["BR"]),
    sender("mail", "email"),
    sender("linted", "sms", ["US"]),
]
SCOPES = [
    scope("us-sms-offers", "express_written", channels=["sms", "mms", "rcs"]),
    scope("us-sms-express", "express", channels=["sms"]),
    scope("us-sms-alerts", "express", channels=["sms"]),
    scope("us-wa-offers", "express", channels=["whatsapp"]),
    scope("ca-purchase", "implied", basis="purchase"),
    scope("ca-inquiry", "implied", basis="inquiry", expires_after="P1Y"),
    scope("ca-express", "express", expires_after="P18M"),
    scope("gb-soft", "soft_opt_in", basis="purchase"),
    scope("eu-express", "express"),
    scope("in-express", "express"),
    scope("sg-implied", "implied", basis="purchase"),
    scope("sg-express", "express"),
    scope("au-express", "express"),
    scope("br-optin", "express"),
    scope("email-news", "express", channels=["email"]),
]
TEMPLATES = [
    template("us-sale", "sms", "marketing", ["US"], "us-10dlc", "us-sms-offers"),
    template("us-sale-mms", "mms", "marketing", ["US"], "us-mms", "us-sms-offers"),
    template("us-sale-rcs", "rcs", "marketing", ["US"], "us-rcs", "us-sms-offers"),
    template("us-sale-express", "sms", "marketing", ["US"], "us-10dlc", "us-sms-express"),
    template("us-wa-sale", "whatsapp", "marketing", ["US"], "us-wa", "us-wa-offers"),
    template("us-otp", "sms", "otp", ["US"], "us-10dlc"),
    template("us-order", "sms", "transactional", ["US"], "us-10dlc"),
    template("us-order-mms", "mms", "transactional", ["US"], "us-mms"),
    template("us-otp-sender", "sms", "marketing", ["US"], "us-otp-only", "us-sms-offers"),
    template("us-pending-sender", "sms", "otp", ["US"], "us-pending"),
    template("us-linted-sender", "sms", "otp", ["US"], "linted"),
    template("us-no-sender", "sms", "otp", ["US"]),
    template("us-draft", "sms", "otp", ["US"], "us-10dlc", status="draft"),
    template("us-retired", "sms", "otp", ["US"], "us-10dlc", status="retired"),
    template("us-linted", "sms", "otp", ["US"], "us-10dlc"),
    template("us-ca-order", "sms", "transactional", ["US", "CA"], "us-10dlc"),
    template("ca-sale", "sms", "marketing", ["CA"], "ca-sc", "ca-purchase"),
    template("ca-inquiry-sale", "sms", "marketing", ["CA"], "ca-sc", "ca-inquiry"),
    template("ca-express-sale", "sms", "marketing", ["CA"], "ca-sc", "ca-express"),
    template("gb-sale", "sms", "marketing", ["GB"], "gb-alpha", "gb-soft"),
    template("gb-order", "sms", "transactional", ["GB"], "gb-alpha"),
    template("de-sale", "sms", "marketing", ["DE", "EU"], "eu-sms", "eu-express"),
    template("de-order", "sms", "transactional", ["DE", "EU"], "eu-sms"),
    template("fr-sale", "sms", "marketing", ["FR"], "eu-sms", "eu-express"),
    template("fr-sale-mms", "mms", "marketing", ["FR"], "fr-mms", "eu-express"),
    template("fr-sale-rcs", "rcs", "marketing", ["FR"], "fr-rcs", "eu-express"),
    template("in-sale", "sms", "marketing", ["IN"], "in-dlt", "in-express"),
    template("sg-sale", "sms", "marketing", ["SG"], "sg-sms", "sg-implied"),
    template("sg-sale-express", "sms", "marketing", ["SG"], "sg-sms", "sg-express"),
    template("sg-wa-sale", "whatsapp", "marketing", ["SG"], "sg-wa", "sg-implied"),
    template("au-order", "sms", "transactional", ["AU"], "au-sms"),
    template("au-sale", "sms", "marketing", ["AU"], "au-sms", "au-express"),
    template("br-wa-sale", "whatsapp", "marketing", ["BR"], "br-wa", "br-optin"),
    template("news-email", "email", "marketing", ["US"], "mail", "email-news"),
    template("receipt-email", "email", "transactional", ["GB"], "mail"),
    template("app-push", "push", "transactional", ["US"]),
]
LINT = {("template", "us-linted"), ("sender", "linted")}


@pytest.fixture
def model() -> Model:
    return Model(TEMPLATES, SENDERS, SCOPES, LINT, MARKETS)


def send(to, template_id, at=None, **extra) -> ModelSend:
    return ModelSend(to=to, template=template_id, at=at, **extra)


def granted(model: Model, to: str, channel: str, scope_id: str, when: dt.datetime) -> None:
    model.grant(to, channel, scope_id, at=when, recorded=when)


def allow() -> ModelDecision:
    return ModelDecision("allow", set(), None)


def deny(*codes: str) -> ModelDecision:
    return ModelDecision("deny", set(codes), None)


# --------------------------------------------------------------------------- quiet hours, US


def test_florida_at_20_30_is_deferred_to_08_00_next_day(model):
    now = at(NEW_YORK, 2026, 6, 9, 20, 30)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    decision = model.decide(send(FL, "us-sale"), now)
    assert decision == ModelDecision("defer", {"quiet_hours"}, at(NEW_YORK, 2026, 6, 10, 8, 0))


def test_florida_at_19_59_is_allowed(model):
    now = at(NEW_YORK, 2026, 6, 9, 19, 59)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    assert model.decide(send(FL, "us-sale"), now) == allow()


def test_california_number_at_20_30_uses_the_federal_window(model):
    now = at(LOS_ANGELES, 2026, 6, 9, 20, 30)
    granted(model, SF, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    assert model.decide(send(SF, "us-sale"), now) == allow()
    late = at(LOS_ANGELES, 2026, 6, 9, 21, 0)
    assert model.decide(send(SF, "us-sale"), late) == ModelDecision(
        "defer", {"quiet_hours"}, at(LOS_ANGELES, 2026, 6, 10, 8, 0)
    )


def test_texas_on_sunday_10_00_is_deferred_to_12_00(model):
    now = at(CHICAGO, 2026, 6, 14, 10, 0)  # a Sunday
    granted(model, TX, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    decision = model.decide(send(TX, "us-sale"), now)
    assert decision == ModelDecision("defer", {"quiet_hours"}, at(CHICAGO, 2026, 6, 14, 12, 0))


def test_texas_on_saturday_09_30_is_allowed(model):
    now = at(CHICAGO, 2026, 6, 13, 9, 30)
    granted(model, TX, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    assert model.decide(send(TX, "us-sale"), now) == allow()


def test_connecticut_at_08_30_is_deferred_to_09_00(model):
    now = at(NEW_YORK, 2026, 6, 9, 8, 30)
    granted(model, CT, "mms", "us-sms-offers", now - dt.timedelta(days=1))
    decision = model.decide(send(CT, "us-sale-mms"), now)
    assert decision == ModelDecision("defer", {"quiet_hours"}, at(NEW_YORK, 2026, 6, 9, 9, 0))


def test_oklahoma_and_maryland_at_20_00_wait_for_the_morning(model):
    ok_now = at(CHICAGO, 2026, 6, 9, 20, 0)
    granted(model, OK, "rcs", "us-sms-offers", ok_now - dt.timedelta(days=1))
    assert model.decide(send(OK, "us-sale-rcs"), ok_now) == ModelDecision(
        "defer", {"quiet_hours"}, at(CHICAGO, 2026, 6, 10, 8, 0)
    )
    md_now = at(NEW_YORK, 2026, 6, 9, 7, 59)
    granted(model, MD, "sms", "us-sms-offers", md_now - dt.timedelta(days=1))
    assert model.decide(send(MD, "us-sale"), md_now) == ModelDecision(
        "defer", {"quiet_hours"}, at(NEW_YORK, 2026, 6, 9, 8, 0)
    )


def test_not_before_is_a_whole_minute_after_a_time_with_seconds(model):
    now = at(NEW_YORK, 2026, 6, 9, 7, 59) + dt.timedelta(seconds=30)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    assert model.decide(send(FL, "us-sale"), now).not_before == at(NEW_YORK, 2026, 6, 9, 8, 0)


def test_quiet_hours_do_not_hold_us_otp_or_whatsapp_marketing(model):
    now = at(NEW_YORK, 2026, 6, 9, 23, 30)
    granted(model, FL, "whatsapp", "us-wa-offers", now - dt.timedelta(days=1))
    assert model.decide(send(FL, "us-otp"), now) == allow()
    assert model.decide(send(FL, "us-wa-sale"), now) == allow()


def test_a_scheduled_send_is_judged_at_its_own_time(model):
    now = at(NEW_YORK, 2026, 6, 9, 23, 0)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    tomorrow = at(NEW_YORK, 2026, 6, 10, 10, 0)
    assert model.decide(send(FL, "us-sale", at=tomorrow), now) == allow()
    # a send "at" a past instant is judged now
    past = now - dt.timedelta(hours=5)
    assert model.decide(send(FL, "us-sale", at=past), now).outcome == "defer"


def test_send_timezone_adds_a_zone_that_must_also_admit(model):
    # 07:30 in Los Angeles is 10:30 in Florida: the Florida window admits, the extra zone not
    now = at(LOS_ANGELES, 2026, 6, 9, 7, 30)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    assert model.decide(send(FL, "us-sale"), now) == allow()
    decision = model.decide(send(FL, "us-sale", timezone="America/Los_Angeles"), now)
    assert decision == ModelDecision("defer", {"quiet_hours"}, at(LOS_ANGELES, 2026, 6, 9, 8, 0))


# --------------------------------------------------------------------------- quiet hours, others


def test_india_sms_marketing_after_21_00_waits_for_10_00(model):
    now = at(KOLKATA, 2026, 6, 9, 21, 30)
    granted(model, IN, "sms", "in-express", now - dt.timedelta(days=1))
    assert model.decide(send(IN, "in-sale"), now) == ModelDecision(
        "defer", {"quiet_hours"}, at(KOLKATA, 2026, 6, 10, 10, 0)
    )


def test_france_sms_marketing_on_sunday_waits_for_monday_and_mms_is_advisory(model):
    now = at(PARIS, 2026, 6, 14, 11, 0)  # Sunday
    for channel in ("sms", "mms", "rcs"):
        granted(model, FR, channel, "eu-express", now - dt.timedelta(days=1))
    monday_8 = at(PARIS, 2026, 6, 15, 8, 0)
    assert model.decide(send(FR, "fr-sale"), now) == ModelDecision(
        "defer", {"quiet_hours"}, monday_8
    )
    assert model.decide(send(FR, "fr-sale-rcs"), now) == ModelDecision(
        "defer", {"quiet_hours"}, monday_8
    )
    # the only MMS block in France is advisory: it never denies
    assert model.decide(send(FR, "fr-sale-mms"), now) == allow()


def test_france_public_holiday_moves_to_the_next_working_day(model):
    now = at(PARIS, 2026, 5, 1, 10, 0)  # Friday 1 May, Labour Day
    granted(model, FR, "sms", "eu-express", now - dt.timedelta(days=1))
    assert model.decide(send(FR, "fr-sale"), now) == ModelDecision(
        "defer", {"quiet_hours"}, at(PARIS, 2026, 5, 2, 8, 0)
    )
    # 21:30 on an ordinary Tuesday is inside the required 08:00-22:00 (20:00 is advisory)
    evening = at(PARIS, 2026, 6, 9, 21, 30)
    assert model.decide(send(FR, "fr-sale"), evening) == allow()


def test_brazil_whatsapp_marketing_on_sunday_night_is_only_advisory(model):
    now = at(SAO_PAULO, 2026, 6, 14, 23, 0)
    granted(model, BR, "whatsapp", "br-optin", now - dt.timedelta(days=1))
    assert model.decide(send(BR, "br-wa-sale"), now) == allow()


# --------------------------------------------------------------------------- consent lifetimes


def test_casl_implied_consent_from_a_purchase_lasts_two_calendar_years(model):
    purchase = dt.datetime(2024, 2, 29, 15, 0, tzinfo=UTC)  # a leap day
    granted(model, ON, "sms", "ca-purchase", purchase)
    # 2024-02-29 + 2 calendar years = 2026-02-28 15:00 UTC (relativedelta), not 730 days
    assert model.decide(send(ON, "ca-sale"), dt.datetime(2026, 2, 28, 15, 0, tzinfo=UTC)) == allow()
    assert model.decide(send(ON, "ca-sale"), dt.datetime(2026, 2, 28, 15, 1, tzinfo=UTC)) == deny(
        "consent.expired"
    )


def test_casl_inquiry_is_capped_at_six_months_below_the_scope_lifetime(model):
    inquiry = dt.datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    granted(model, ON, "sms", "ca-inquiry", inquiry)  # the scope says P1Y, CASL caps at P6M
    assert (
        model.decide(send(ON, "ca-inquiry-sale"), dt.datetime(2026, 7, 31, 12, 0, tzinfo=UTC))
        == allow()
    )
    assert model.decide(
        send(ON, "ca-inquiry-sale"), dt.datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
    ) == deny("consent.expired")


def test_express_consent_is_not_capped_but_keeps_its_own_lifetime(model):
    granted(model, ON, "sms", "ca-express", dt.datetime(2025, 1, 10, tzinfo=UTC))
    assert model.decide(send(ON, "ca-express-sale"), dt.datetime(2026, 7, 9, tzinfo=UTC)) == allow()
    assert model.decide(send(ON, "ca-express-sale"), dt.datetime(2026, 7, 11, tzinfo=UTC)) == deny(
        "consent.expired"
    )


def test_expiry_is_judged_at_the_scheduled_time(model):
    granted(model, ON, "sms", "ca-purchase", dt.datetime(2024, 6, 1, tzinfo=UTC))
    now = dt.datetime(2026, 5, 20, tzinfo=UTC)
    assert model.decide(send(ON, "ca-sale"), now) == allow()
    later = dt.datetime(2026, 6, 2, tzinfo=UTC)
    assert model.decide(send(ON, "ca-sale", at=later), now) == deny("consent.expired")


def test_gb_soft_opt_in_has_no_legal_term(model):
    granted(model, GB, "sms", "gb-soft", dt.datetime(2019, 1, 1, tzinfo=UTC))
    assert model.decide(send(GB, "gb-sale"), dt.datetime(2026, 6, 9, 12, tzinfo=UTC)) == allow()


# --------------------------------------------------------------------------- consent, opt-outs


def test_a_stop_on_sms_blocks_mms_and_not_whatsapp(model):
    now = at(NEW_YORK, 2026, 6, 9, 12, 0)
    day_before = now - dt.timedelta(days=1)
    granted(model, FL, "mms", "us-sms-offers", day_before)
    granted(model, FL, "whatsapp", "us-wa-offers", day_before)
    model.inbound(
        FL, "sms", "opt_out", at=now - dt.timedelta(hours=1), recorded=now - dt.timedelta(hours=1)
    )
    assert model.decide(send(FL, "us-sale-mms"), now) == deny("consent.revoked")
    assert model.decide(send(FL, "us-order-mms"), now) == deny("consent.revoked")
    assert model.decide(send(FL, "us-wa-sale"), now) == allow()


def test_a_stop_and_a_grant_at_the_same_instant_the_stop_wins(model):
    now = at(NEW_YORK, 2026, 6, 9, 12, 0)
    instant = now - dt.timedelta(hours=2)
    model.inbound(FL, "sms", "opt_out", at=instant, recorded=instant)
    model.grant(FL, "sms", "us-sms-offers", at=instant, recorded=instant)  # fed after, same time
    assert model.decide(send(FL, "us-sale"), now) == deny("consent.revoked")
    assert model.decide(send(FL, "us-otp"), now) == deny("consent.revoked")


def test_a_later_grant_lifts_a_stop(model):
    now = at(NEW_YORK, 2026, 6, 9, 12, 0)
    model.inbound(
        FL, "sms", "opt_out", at=now - dt.timedelta(hours=3), recorded=now - dt.timedelta(hours=3)
    )
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(hours=2))
    assert model.decide(send(FL, "us-sale"), now) == allow()
    assert model.decide(send(FL, "us-otp"), now) == allow()


def test_start_lifts_a_stop_for_otp(model):
    now = at(NEW_YORK, 2026, 6, 9, 12, 0)
    model.inbound(
        FL, "sms", "opt_out", at=now - dt.timedelta(hours=3), recorded=now - dt.timedelta(hours=3)
    )
    assert model.decide(send(FL, "us-otp"), now) == deny("consent.revoked")
    model.inbound(
        FL, "sms", "opt_in", at=now - dt.timedelta(hours=2), recorded=now - dt.timedelta(hours=2)
    )
    assert model.decide(send(FL, "us-otp"), now) == allow()
    assert model.decide(send(FL, "us-sale"), now) == deny("consent.missing")


def test_opt_out_stops_follow_the_market(model):
    now = dt.datetime(2026, 6, 9, 12, 0, tzinfo=UTC)
    hour_ago = now - dt.timedelta(hours=1)
    for number in (GB, DE, AU):
        model.inbound(number, "sms", "opt_out", at=hour_ago, recorded=hour_ago)
    # GB and the EU stop marketing only; Australia stops everything
    assert model.decide(send(GB, "gb-order"), now) == allow()
    assert model.decide(send(DE, "de-order"), now) == allow()
    assert model.decide(send(DE, "de-order", market="EU"), now) == allow()
    assert model.decide(send(AU, "au-order"), now) == deny("consent.revoked")
    granted(model, GB, "sms", "gb-soft", now - dt.timedelta(days=30))
    assert model.decide(send(GB, "gb-sale"), now) == deny("consent.revoked")


def test_revoking_the_scope_and_missing_or_other_scopes(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)  # 12:00 in Florida
    assert model.decide(send(FL, "us-sale"), now) == deny("consent.missing")
    granted(model, FL, "sms", "us-sms-alerts", now - dt.timedelta(days=2))
    assert model.decide(send(FL, "us-sale"), now) == deny("consent.scope")
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=2))
    assert model.decide(send(FL, "us-sale"), now) == allow()
    model.revoke(
        FL,
        "sms",
        "us-sms-offers",
        at=now - dt.timedelta(days=1),
        recorded=now - dt.timedelta(days=1),
    )
    assert model.decide(send(FL, "us-sale"), now) == deny("consent.revoked")
    # a scope revoke is not channel-wide: otp still goes
    assert model.decide(send(FL, "us-otp"), now) == allow()


def test_a_revoke_recorded_now_with_a_future_at_takes_effect_now(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=2))
    model.revoke(
        FL, "sms", None, at=now + dt.timedelta(days=3), recorded=now - dt.timedelta(minutes=1)
    )
    assert model.decide(send(FL, "us-sale"), now) == deny("consent.revoked")
    # and a grant "at" tomorrow, recorded after the revoke, counts from when it was recorded
    model.grant(FL, "sms", "us-sms-offers", at=now + dt.timedelta(days=1), recorded=now)
    assert model.decide(send(FL, "us-sale"), now) == allow()


def test_a_review_holds_marketing_until_resolved(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=2))
    review = model.inbound(
        FL, "mms", "review", at=now - dt.timedelta(hours=2), recorded=now - dt.timedelta(hours=2)
    )
    assert model.decide(send(FL, "us-sale"), now) == deny("consent.revoked")
    assert model.decide(send(FL, "us-otp"), now) == allow()
    model.resolve(review, opt_out=False)
    assert model.decide(send(FL, "us-sale"), now) == allow()
    with pytest.raises(ValueError):
        model.resolve(review, opt_out=True)


def test_a_review_resolved_as_opt_out_is_a_stop_at_the_message_time(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=2))
    review = model.inbound(
        FL,
        "sms",
        "review",
        at=now - dt.timedelta(hours=5),
        recorded=now - dt.timedelta(hours=5),
        review_id=17,
    )
    assert review == 17
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(hours=3))  # after the message
    model.resolve(17, opt_out=True, recorded=now - dt.timedelta(hours=1))
    # the regrant is newer than the message, but an opt-out never takes effect before a grant
    # recorded before it (here: before the resolution), so the opt-out wins
    assert model.decide(send(FL, "us-sale"), now) == deny("consent.revoked")
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(minutes=30))  # signs up again
    assert model.decide(send(FL, "us-sale"), now) == allow()
    other = model.inbound(
        TX, "sms", "review", at=now - dt.timedelta(hours=2), recorded=now - dt.timedelta(hours=2)
    )
    model.resolve(other, opt_out=True)
    assert model.decide(send(TX, "us-otp"), now) == deny("consent.revoked")


def test_a_reassigned_number_loses_earlier_consent(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=10))
    model.reassigned(
        FL, disconnected_at=now - dt.timedelta(days=20), recorded=now - dt.timedelta(days=1)
    )
    assert model.decide(send(FL, "us-sale"), now) == allow()  # disconnected before the grant
    model.reassigned(
        FL, disconnected_at=now - dt.timedelta(days=5), recorded=now - dt.timedelta(days=1)
    )
    assert model.decide(send(FL, "us-sale"), now) == deny("consent.reassigned")
    # the new holder of the number consented to nothing: no message of any purpose
    assert model.decide(send(FL, "us-otp"), now) == deny("consent.reassigned")


def test_email_addresses_compare_case_insensitively(model):
    now = dt.datetime(2026, 6, 9, 3, 0, tzinfo=UTC)  # night in the US: email has no quiet hours
    granted(model, "Ann@Example.COM", "email", "email-news", now - dt.timedelta(days=1))
    assert model.decide(send("ann@example.com", "news-email"), now) == allow()
    model.revoke("ANN@example.com", "email", None, at=now, recorded=now)
    assert model.decide(send("ann@EXAMPLE.com", "news-email"), now) == deny("consent.revoked")


# --------------------------------------------------------------------------- lists


def test_internal_dnc_list_blocks_marketing_only(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    model.dnc("internal", ["+1 305-555-0123"], recorded=now - dt.timedelta(hours=1))
    assert model.decide(send(FL, "us-sale"), now) == deny("dnc.listed")
    assert model.decide(send(FL, "us-order"), now) == allow()


def test_erased_subject_is_denied_for_every_purpose(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    model.erase(FL, recorded=now - dt.timedelta(minutes=5))
    assert model.decide(send(FL, "us-otp"), now) == deny("dnc.listed")
    assert model.decide(send(FL, "us-sale"), now) == deny("dnc.listed")


def test_us_registry_check_needed_unless_express_written(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    granted(model, FL, "sms", "us-sms-express", now - dt.timedelta(days=1))
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    assert model.decide(send(FL, "us-sale-express"), now) == deny("dnc.check_stale")
    assert model.decide(send(FL, "us-sale"), now) == allow()  # express_written is exempt
    model.dnc(
        "us-registry",
        [],
        registry_market="US",
        checked_at=now - dt.timedelta(days=31),
        recorded=now,
    )
    assert model.decide(send(FL, "us-sale-express"), now) == allow()  # exactly P31D old
    later = now + dt.timedelta(days=1)
    assert model.decide(send(FL, "us-sale-express", at=later), now) == deny("dnc.check_stale")


def test_singapore_registry_covers_whatsapp_and_exempts_express(model):
    now = dt.datetime(2026, 6, 9, 4, 0, tzinfo=UTC)
    granted(model, SG, "sms", "sg-implied", now - dt.timedelta(days=1))
    granted(model, SG, "sms", "sg-express", now - dt.timedelta(days=1))
    granted(model, SG, "whatsapp", "sg-implied", now - dt.timedelta(days=1))
    assert model.decide(send(SG, "sg-sale"), now) == deny("dnc.check_stale")
    assert model.decide(send(SG, "sg-wa-sale"), now) == deny("dnc.check_stale")
    assert model.decide(send(SG, "sg-sale-express"), now) == allow()
    model.dnc(
        "sg-dnc", [], registry_market="SG", checked_at=now - dt.timedelta(days=22), recorded=now
    )
    assert model.decide(send(SG, "sg-sale"), now) == deny("dnc.check_stale")  # P21D is exceeded
    model.dnc(
        "sg-dnc",
        ["+65 8123 4567"],
        registry_market="SG",
        checked_at=now - dt.timedelta(days=2),
        recorded=now,
    )
    assert model.decide(send(SG, "sg-sale"), now) == deny("dnc.listed")
    # a registry of another market is no check for this one
    model2 = Model(TEMPLATES, SENDERS, SCOPES, LINT, MARKETS)
    granted(model2, SG, "sms", "sg-implied", now - dt.timedelta(days=1))
    model2.dnc("us-registry", [], registry_market="US", checked_at=now, recorded=now)
    assert model2.decide(send(SG, "sg-sale"), now) == deny("dnc.check_stale")


# --------------------------------------------------------------------------- frequency caps


def test_fourth_florida_marketing_sms_in_24_hours_is_denied(model):
    now = at(NEW_YORK, 2026, 6, 9, 10, 0)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=3))
    for hours in (0, 2, 4):
        when = now + dt.timedelta(hours=hours)
        assert model.decide(send(FL, "us-sale"), when) == allow()
        model.sent(send(FL, "us-sale"), allow(), now=when)
    assert model.decide(send(FL, "us-sale"), now + dt.timedelta(hours=6)) == deny("frequency_cap")
    # 24 hours after the second send, only the third is left in the window
    assert model.decide(send(FL, "us-sale"), now + dt.timedelta(hours=26, minutes=1)) == allow()


def test_sends_scheduled_later_count_for_the_cap(model):
    now = at(NEW_YORK, 2026, 6, 9, 9, 0)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=3))
    for hours in (8, 9, 10):  # 17:00, 18:00, 19:00 today, scheduled from 09:00
        scheduled = send(FL, "us-sale", at=now + dt.timedelta(hours=hours))
        assert model.decide(scheduled, now) == allow()
        model.sent(scheduled, allow(), now=now)
    assert model.decide(send(FL, "us-sale"), now) == deny("frequency_cap")
    # MMS shares the cap; an OTP does not count
    granted(model, FL, "mms", "us-sms-offers", now - dt.timedelta(days=3))
    assert model.decide(send(FL, "us-sale-mms"), now) == deny("frequency_cap")
    assert model.decide(send(FL, "us-otp"), now) == allow()


def test_cap_applies_to_florida_not_texas_and_ignores_refusals(model):
    now = at(CHICAGO, 2026, 6, 9, 10, 0)
    granted(model, TX, "sms", "us-sms-offers", now - dt.timedelta(days=3))
    for minutes in (0, 10, 20, 30):
        assert model.decide(send(TX, "us-sale"), now + dt.timedelta(minutes=minutes)) == allow()
        model.sent(send(TX, "us-sale"), allow(), now=now + dt.timedelta(minutes=minutes))
    assert model.decide(send(TX, "us-sale"), now + dt.timedelta(minutes=40)) == allow()
    # a decision that was not an allow is not counted
    assert model.sent(send(FL, "us-sale"), deny("consent.missing"), now=now) is False
    assert model.sent_messages[-1].subject == TX


def test_cap_window_is_half_open_at_exactly_24_hours(model):
    now = at(NEW_YORK, 2026, 6, 9, 10, 0)
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=3))
    for hours in (0, 1, 2):
        model.sent(send(FL, "us-sale"), allow(), now=now + dt.timedelta(hours=hours))
    # Q4: a send exactly 24 hours after the first is in no window with it
    later = now + dt.timedelta(hours=24)
    assert model.decide(send(FL, "us-sale"), later - dt.timedelta(seconds=1)) == deny(
        "frequency_cap"
    )
    assert model.decide(send(FL, "us-sale"), later) == allow()


# --------------------------------------------------------------------------- send, template, sender


def test_malformed_sends(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    assert model.decide(send(FL, "us-otp", at=dt.datetime(2026, 6, 9, 17)), now) == deny(
        "send.invalid"
    )
    assert model.decide(send(FL, "us-otp", channel="fax"), now) == deny("send.invalid")
    assert model.decide(send(FL, "us-otp", timezone="Mars/Olympus"), now) == deny("send.invalid")
    assert model.decide(send(13055550123, "us-otp"), now) == deny("send.invalid")
    assert model.decide(send(FL, None), now) == deny("send.invalid")


def test_unknown_template_channel_and_horizon(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    assert model.decide(send(FL, "nope"), now) == deny("template.unknown")
    assert model.decide(send(FL, "us-otp", channel="mms"), now) == deny("send.channel")
    far = now + dt.timedelta(days=30, seconds=1)
    assert model.decide(send(FL, "us-otp", at=far), now) == deny("send.horizon")
    assert model.decide(send(FL, "us-otp", at=now + dt.timedelta(days=30)), now) == allow()


def test_invalid_recipients(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    assert model.decide(send("ann@example.com", "us-otp"), now) == deny("recipient.invalid")
    assert model.decide(send("3055550123", "us-otp"), now) == deny(
        "recipient.invalid"
    )  # not international
    assert model.decide(send("+15555550123", "us-otp"), now) == deny(
        "recipient.invalid"
    )  # not a valid number
    assert model.decide(send(FL, "news-email"), now) == deny("recipient.invalid")
    assert model.decide(send("ann@example", "news-email"), now) == deny("recipient.invalid")


def test_template_and_sender_states(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    assert model.decide(send(FL, "us-draft"), now) == deny("template.not_approved")
    assert model.decide(send(FL, "us-retired"), now) == deny("template.not_approved")
    assert model.decide(send(FL, "us-linted"), now) == deny("template.lint")
    assert model.decide(send(FL, "us-pending-sender"), now) == deny("sender.unregistered")
    assert model.decide(send(FL, "us-linted-sender"), now) == deny("sender.unregistered")
    assert model.decide(send(FL, "us-no-sender"), now) == deny("sender.unregistered")
    assert model.decide(send(FL, "us-otp", sender="nobody"), now) == deny("sender.unregistered")
    granted(model, FL, "sms", "us-sms-offers", now - dt.timedelta(days=1))
    # the sender is registered for OTP only
    assert model.decide(send(FL, "us-otp-sender"), now) == deny("sender.unregistered")
    # a Canadian number: the template is US only and so is its sender
    assert model.decide(send(ON, "us-otp"), now) == deny("template.market", "sender.unregistered")


def test_send_market_adds_its_rules(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    assert model.decide(send(FL, "us-otp", market="CA"), now) == deny(
        "template.market", "sender.unregistered"
    )
    # both markets listed by the template: the US sender is US-only
    assert model.decide(send(FL, "us-ca-order", market="CA"), now) == deny("sender.unregistered")
    assert model.decide(send(FL, "us-ca-order"), now) == allow()


def test_pauses_and_resumes(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    for kind, target in (("template", "us-otp"), ("sender", "us-10dlc"), ("market", "US")):
        model.pause(kind, target, recorded=now - dt.timedelta(hours=1))
        assert model.decide(send(FL, "us-otp"), now) == deny("paused")
        model.resume(kind, target, recorded=now - dt.timedelta(minutes=30))
        assert model.decide(send(FL, "us-otp"), now) == allow()
    model.pause("market", "GB", recorded=now)
    assert model.decide(send(FL, "us-otp"), now) == allow()


def test_email_uses_the_template_market_and_push_needs_no_sender(model):
    now = dt.datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
    assert model.decide(send("ann@example.co.uk", "receipt-email"), now) == allow()
    model.pause("market", "GB", recorded=now)
    assert model.decide(send("ann@example.co.uk", "receipt-email"), now) == deny("paused")
    assert model.decide(send("device-token-abc", "app-push"), now) == allow()
    assert model.decide(send("bad@address", "app-push"), now) == deny("recipient.invalid")


def test_several_reasons_make_a_deny_not_a_defer(model):
    now = at(NEW_YORK, 2026, 6, 9, 22, 0)
    decision = model.decide(send(FL, "us-sale"), now)
    assert decision.outcome == "deny"
    assert decision.codes == {"consent.missing", "quiet_hours"}
    assert decision.not_before == at(NEW_YORK, 2026, 6, 10, 8, 0)


def test_the_model_does_not_import_the_gate():
    code = (
        "import sys; import tests.gate.reference_model as m; "
        "m.shipped_market_parameters(); "
        "assert not [n for n in sys.modules if n.startswith('compliance.gate')], 'gate imported'"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def test_the_catalog_may_be_the_document_models_and_markets_the_packs():
    from compliance.documents import ConsentScopeModel, SenderModel, TemplateModel
    from compliance.packs import load_packs

    documents = [
        TemplateModel(
            kind="template",
            id="wa-sale",
            channel="whatsapp",
            purpose="marketing",
            markets=["BR"],
            body="Oferta",
            sender="br-wa",
            consent_scope="br-optin",
            status="approved",
        ),
        SenderModel(
            kind="sender", id="br-wa", channel="whatsapp", type="whatsapp", address="+5511912345678"
        ),
        ConsentScopeModel(
            kind="consent_scope", id="br-optin", consent="express", expires_after="P6M"
        ),
    ]
    model = Model(
        templates=[documents[0]],
        senders=[documents[1]],
        scopes=[documents[2]],
        markets=load_packs().markets,
    )
    granted(model, BR, "whatsapp", "br-optin", dt.datetime(2026, 1, 9, 12, tzinfo=UTC))
    assert model.decide(send(BR, "wa-sale"), dt.datetime(2026, 7, 9, 12, tzinfo=UTC)) == allow()
    assert model.decide(send(BR, "wa-sale"), dt.datetime(2026, 7, 9, 12, 1, tzinfo=UTC)) == deny(
        "consent.expired"
    )
