"""Quiet hours in the recipient's local time, as a sender relies on them: the edges of the
window on daylight-saving days (US and EU), the skipped and repeated local hours, numbers that
may be in several zones, French Sundays and public holidays, and India's day boundary.

Every case gives the send's instant in UTC and, where it helps, the local wall clock it must be
(checked against zoneinfo), and expects the exact UTC instant the next window opens. Consent is
granted for every recipient, so quiet hours are the only reason a send is held.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from compliance import Gate, Send
from compliance.gate.recipient import parse
from tests.conftest import Repo
from tests.gate.test_gate import SALE, SCOPE, SENDER, SHIPPED
from tests.pg import create_database, drop_database

UTC = dt.timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
CHICAGO = ZoneInfo("America/Chicago")
PARIS = ZoneInfo("Europe/Paris")
KOLKATA = ZoneInfo("Asia/Kolkata")

NY = "+12125550123"  # Manhattan: US-NY, America/New_York only
LA = "+13105550123"  # Los Angeles: US-CA, America/Los_Angeles only
TX = "+12145550123"  # Dallas: US-TX, America/Chicago only
SD = "+16055550123"  # South Dakota: America/Denver and America/North_Dakota/Center
AK = "+19075550123"  # Alaska: America/Adak and America/Anchorage
TOLL_FREE = "+18005550123"  # no place: every zone of the North American plan
FR = "+33612345678"  # French mobile: Europe/Paris
IN = "+919876543210"  # Indian mobile: Asia/Kolkata

GRANTED = dt.datetime(2026, 10, 1, tzinfo=UTC)  # before every send below

# A US sender, scope and templates: test_gate.py's, the scope without a consent lifetime.
US_SENDER, US_SALE, US_SHIPPED = SENDER, SALE, SHIPPED
US_SCOPE = SCOPE.replace("expires_after: P1Y\n", "")
assert US_SCOPE != SCOPE

# France, from examples/europe (Velora).
FR_SENDER = """
kind: sender
id: velora-fr
channel: sms
type: alphanumeric
address: Velora
brand: Velora
markets: [FR]
purposes: [marketing, transactional]
"""
FR_SCOPE = """
kind: consent_scope
id: fr-sms-offres
consent: express
purposes: [marketing]
channels: [sms]
markets: [FR]
capture:
  - source: creation-compte
    url: https://velora.example/fr/compte/creation
    text: "J'accepte de recevoir les offres et nouveautés Velora par SMS (case non cochée par \
défaut). Je peux retirer mon consentement à tout moment en envoyant STOP au 36173 (gratuit) ou \
depuis mon compte."
"""
FR_SALE = """
kind: template
id: fr-soldes-hiver
channel: sms
purpose: marketing
markets: [FR]
sender: velora-fr
consent_scope: fr-sms-offres
locale: fr_FR
status: approved
body: "Velora : les soldes d'hiver commencent, jusqu'à -50 % sur velora.example/fr. STOP au 36173"
"""
FR_SHIPPED = """
kind: template
id: fr-commande-expediee
channel: sms
purpose: transactional
markets: [FR]
sender: velora-fr
locale: fr_FR
status: approved
body: "Velora : votre commande {{order_id}} a été expédiée. Suivi : velora.example/fr/s/{{order_id}}"
variables:
  order_id: {example: VL-48213, max_length: 10}
"""

# India, from examples/india (Tiffinly), without links: the shipped IN market whitelists none.
IN_PROMO_SENDER = """
kind: sender
id: tiffinly-promo
channel: sms
type: short_code
address: "812345"
brand: Tiffinly
markets: [IN]
purposes: [marketing]
registrations:
  IN:
    program: dlt
    header: "812345"
    entity_id: "1201162245678901234"
    status: active
"""
IN_SERVICE_SENDER = """
kind: sender
id: tiffinly-service
channel: sms
type: alphanumeric
address: TIFFLY
brand: Tiffinly
markets: [IN]
purposes: [transactional, otp]
registrations:
  IN:
    program: dlt
    header: TIFFLY
    entity_id: "1201162245678901234"
    status: active
"""
IN_SCOPE = """
kind: consent_scope
id: in-sms-offers
consent: express
purposes: [marketing]
channels: [sms]
markets: [IN]
capture:
  - source: app-signup
    text: >-
      Yes, send me Tiffinly offers and new menu updates by SMS. I can withdraw this consent at
      any time in the app under Profile > Notifications.
"""
IN_OFFER = """
kind: template
id: weekend-thali-offer
channel: sms
purpose: marketing
markets: [IN]
sender: tiffinly-promo
consent_scope: in-sms-offers
status: approved
body: "Tiffinly: flat 20% off your next 3 tiffins this weekend with code {{code}}. T&C apply"
variables:
  code: {example: THALI20, max_length: 10}
registrations:
  IN:
    dlt_template_id: "1207170012345678906"
    category: promotional
    content: "Tiffinly: flat 20% off your next 3 tiffins this weekend with code \
{#alphanumeric#}. T&C apply"
"""
IN_DELIVERY = """
kind: template
id: out-for-delivery
channel: sms
purpose: transactional
markets: [IN]
sender: tiffinly-service
status: approved
body: "Your Tiffinly order {{order_id}} is out for delivery. - Tiffinly"
variables:
  order_id: {example: TF-20931, max_length: 12}
registrations:
  IN:
    dlt_template_id: "1207170012345678905"
    category: service_implicit
    content: "Your Tiffinly order {#alphanumeric#} is out for delivery. - Tiffinly"
"""

DOCUMENTS = {
    "senders/acme.yaml": US_SENDER,
    "scopes/sms-offers.yaml": US_SCOPE,
    "templates/sale.yaml": US_SALE,
    "templates/shipped.yaml": US_SHIPPED,
    "senders/velora-fr.yaml": FR_SENDER,
    "scopes/fr-sms-offres.yaml": FR_SCOPE,
    "templates/fr-soldes-hiver.yaml": FR_SALE,
    "templates/fr-commande-expediee.yaml": FR_SHIPPED,
    "senders/tiffinly-promo.yaml": IN_PROMO_SENDER,
    "senders/tiffinly-service.yaml": IN_SERVICE_SENDER,
    "scopes/in-sms-offers.yaml": IN_SCOPE,
    "templates/weekend-thali-offer.yaml": IN_OFFER,
    "templates/out-for-delivery.yaml": IN_DELIVERY,
}
MARKETING = {"US": "sale", "FR": "fr-soldes-hiver", "IN": "weekend-thali-offer"}
TRANSACTIONAL = {"US": "shipped", "FR": "fr-commande-expediee", "IN": "out-for-delivery"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gate(tmp_path_factory, request):
    """One gate for the module, on either backend: its decisions change nothing the others
    read (no recipient is in a state with a frequency cap)."""
    root = tmp_path_factory.mktemp("time")
    where = root / "ledger.db"
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        where = create_database(server)
        request.addfinalizer(lambda: drop_database(server, where))
    repo = Repo(root / "repo")
    for rel, text in DOCUMENTS.items():
        repo.write(rel, text)
    # the clock stands just after the grants, with a horizon wide enough for every send below:
    # these tests are about windows, not about how far ahead a send may be decided
    opened = Gate.open(
        repo=repo.path,
        ledger=where,
        create=True,
        clock=lambda: GRANTED + dt.timedelta(hours=1),
        horizon=dt.timedelta(days=3 * 366),
    )
    for to in (NY, LA, TX, SD, AK, TOLL_FREE):
        opened.ledger.grant(
            subject=to, channel="sms", scope="sms-offers", source="web-checkout", at=GRANTED
        )
    opened.ledger.grant(
        subject=FR, channel="sms", scope="fr-sms-offres", source="creation-compte", at=GRANTED
    )
    opened.ledger.grant(
        subject=IN, channel="sms", scope="in-sms-offers", source="app-signup", at=GRANTED
    )
    yield opened
    opened.close()


def utc(text: str) -> dt.datetime:
    """'2027-03-14 12:00' read as UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def wall(zone: ZoneInfo, text: str) -> dt.datetime:
    """'2026-11-01 01:30' on the recipient's wall clock; a trailing ' (2nd)' is the second
    time a repeated hour shows it (fold=1)."""
    fold = int(text.endswith(" (2nd)"))
    return dt.datetime.fromisoformat(text.removesuffix(" (2nd)")).replace(tzinfo=zone, fold=fold)


def market(to: str) -> str:
    return {"+1": "US", "+3": "FR", "+9": "IN"}[to[:2]]


def check(gate, to, at, *, purpose="marketing", **kw):
    names = MARKETING if purpose == "marketing" else TRANSACTIONAL
    return gate.check(Send(to=to, template=names[market(to)], at=at, **kw))


def assert_decision(decision, not_before):
    """`not_before` None: allowed with no reason; else deferred for quiet hours only, to
    exactly that instant, which is aware and in UTC."""
    if not_before is None:
        assert (decision.outcome, decision.codes, decision.not_before) == ("allow", [], None)
        return
    assert decision.outcome == "defer", decision
    assert decision.codes == ["quiet_hours"]
    assert decision.not_before == not_before
    assert decision.not_before.utcoffset() == dt.timedelta(0)


def fits_everywhere(to: str, instant: dt.datetime, start: int = 8, end: int = 21) -> bool:
    """Independent of the gate: is `instant` inside [start, end) in every zone of the number?"""
    zones = parse(to).timezones
    assert zones
    return all(
        start * 60 <= (t := instant.astimezone(ZoneInfo(z))).hour * 60 + t.minute < end * 60
        for z in zones
    )


def cases(zone: ZoneInfo, rows: list[tuple[str, str, str, str | None]]) -> list[Any]:
    """(id, recipient's wall clock, the same instant in UTC, not_before in UTC or None)."""
    return [
        pytest.param(wall(zone, local), utc(at), utc(nb) if nb else None, id=name)
        for name, local, at, nb in rows
    ]


# 1. US daylight saving: spring forward on Sunday 2027-03-14, fall back on Sunday 2026-11-01.
# Federal window 08:00-21:00 local; Texas adds 09:00-21:00 Mon-Sat and 12:00-21:00 on Sundays.

NY_CASES = cases(
    NEW_YORK,
    [
        # spring forward: EST (UTC-5) until 02:00, EDT (UTC-4) after
        ("spring-eve-21:00EST", "2027-03-13 21:00", "2027-03-14 02:00", "2027-03-14 12:00"),
        ("spring-07:59EDT", "2027-03-14 07:59", "2027-03-14 11:59", "2027-03-14 12:00"),
        ("spring-08:00EDT", "2027-03-14 08:00", "2027-03-14 12:00", None),
        # with the previous day's offset 08:30 EDT would read 07:30 and be held
        ("spring-08:30EDT", "2027-03-14 08:30", "2027-03-14 12:30", None),
        ("spring-20:59EDT", "2027-03-14 20:59", "2027-03-15 00:59", None),
        ("spring-21:00EDT", "2027-03-14 21:00", "2027-03-15 01:00", "2027-03-15 12:00"),
        # fall back: EDT until 02:00, EST after
        ("fall-eve-21:00EDT", "2026-10-31 21:00", "2026-11-01 01:00", "2026-11-01 13:00"),
        # with the previous day's offset 07:30 EST would read 08:30 and be let through
        ("fall-07:30EST", "2026-11-01 07:30", "2026-11-01 12:30", "2026-11-01 13:00"),
        ("fall-07:59EST", "2026-11-01 07:59", "2026-11-01 12:59", "2026-11-01 13:00"),
        ("fall-08:00EST", "2026-11-01 08:00", "2026-11-01 13:00", None),
        ("fall-20:59EST", "2026-11-01 20:59", "2026-11-02 01:59", None),
        ("fall-21:00EST", "2026-11-01 21:00", "2026-11-02 02:00", "2026-11-02 13:00"),
    ],
)
LA_CASES = cases(
    LOS_ANGELES,
    [
        # PST (UTC-8) and PDT (UTC-7)
        ("spring-eve-21:00PST", "2027-03-13 21:00", "2027-03-14 05:00", "2027-03-14 15:00"),
        ("spring-07:59PDT", "2027-03-14 07:59", "2027-03-14 14:59", "2027-03-14 15:00"),
        ("spring-08:00PDT", "2027-03-14 08:00", "2027-03-14 15:00", None),
        ("spring-20:59PDT", "2027-03-14 20:59", "2027-03-15 03:59", None),
        ("spring-21:00PDT", "2027-03-14 21:00", "2027-03-15 04:00", "2027-03-15 15:00"),
        ("fall-eve-21:00PDT", "2026-10-31 21:00", "2026-11-01 04:00", "2026-11-01 16:00"),
        ("fall-07:59PST", "2026-11-01 07:59", "2026-11-01 15:59", "2026-11-01 16:00"),
        ("fall-08:00PST", "2026-11-01 08:00", "2026-11-01 16:00", None),
        ("fall-20:59PST", "2026-11-01 20:59", "2026-11-02 04:59", None),
        ("fall-21:00PST", "2026-11-01 21:00", "2026-11-02 05:00", "2026-11-02 16:00"),
    ],
)
TX_CASES = cases(
    CHICAGO,
    [
        # both switches fall on a Sunday, when Texas opens at noon: CST (UTC-6), CDT (UTC-5)
        ("spring-sat-21:00CST", "2027-03-13 21:00", "2027-03-14 03:00", "2027-03-14 17:00"),
        ("spring-sun-11:59CDT", "2027-03-14 11:59", "2027-03-14 16:59", "2027-03-14 17:00"),
        ("spring-sun-12:00CDT", "2027-03-14 12:00", "2027-03-14 17:00", None),
        ("fall-sat-08:59CDT", "2026-10-31 08:59", "2026-10-31 13:59", "2026-10-31 14:00"),
        ("fall-sun-09:00CST", "2026-11-01 09:00", "2026-11-01 15:00", "2026-11-01 18:00"),
        ("fall-sun-11:59CST", "2026-11-01 11:59", "2026-11-01 17:59", "2026-11-01 18:00"),
        ("fall-sun-12:00CST", "2026-11-01 12:00", "2026-11-01 18:00", None),
        ("fall-sun-21:00CST", "2026-11-01 21:00", "2026-11-02 03:00", "2026-11-02 15:00"),
    ],
)
US_EDGES = (
    [pytest.param(NY, *c.values, id=f"ny-{c.id}") for c in NY_CASES]
    + [pytest.param(LA, *c.values, id=f"la-{c.id}") for c in LA_CASES]
    + [pytest.param(TX, *c.values, id=f"tx-{c.id}") for c in TX_CASES]
)


@pytest.mark.parametrize(("to", "local", "at", "not_before"), US_EDGES)
def test_us_window_edges_on_daylight_saving_days(gate, to, local, at, not_before):
    assert local.astimezone(UTC) == at  # the case's own arithmetic
    assert_decision(check(gate, to, at), not_before)
    # the same instant given as the recipient's wall clock is the same send
    assert_decision(check(gate, to, local), not_before)


@pytest.mark.parametrize(
    ("to", "at", "not_before"),
    [
        # New York 2027-03-14: 01:59 EST is followed by 03:00 EDT
        pytest.param(NY, utc("2027-03-14 06:59"), utc("2027-03-14 12:00"), id="ny-01:59EST"),
        pytest.param(NY, utc("2027-03-14 07:00"), utc("2027-03-14 12:00"), id="ny-03:00EDT"),
        # a wall clock in the skipped hour: zoneinfo reads 02:30 with the old offset (EST)
        pytest.param(
            NY, wall(NEW_YORK, "2027-03-14 02:30"), utc("2027-03-14 12:00"), id="ny-02:30"
        ),
        pytest.param(
            LA, wall(LOS_ANGELES, "2027-03-14 02:30"), utc("2027-03-14 15:00"), id="la-02:30"
        ),
    ],
)
def test_us_send_in_the_skipped_hour_defers_to_the_opening_in_daylight_time(
    gate, to, at, not_before
):
    assert_decision(check(gate, to, at), not_before)
    assert_decision(check(gate, to, at, purpose="transactional"), None)


@pytest.mark.parametrize(
    ("zone", "to", "first", "second", "not_before"),
    [
        (NEW_YORK, NY, "2026-11-01 05:30", "2026-11-01 06:30", "2026-11-01 13:00"),
        (LOS_ANGELES, LA, "2026-11-01 08:30", "2026-11-01 09:30", "2026-11-01 16:00"),
    ],
    ids=["ny", "la"],
)
def test_us_send_in_the_repeated_hour_defers_to_the_opening_in_standard_time(
    gate, zone, to, first, second, not_before
):
    # 01:30 shows twice: first in daylight time, then in standard time
    assert wall(zone, "2026-11-01 01:30").astimezone(UTC) == utc(first)
    assert wall(zone, "2026-11-01 01:30 (2nd)").astimezone(UTC) == utc(second)
    for at in (utc(first), utc(second), wall(zone, "2026-11-01 01:30 (2nd)")):
        assert_decision(check(gate, to, at), utc(not_before))
        # order updates are not held
        assert_decision(check(gate, to, at, purpose="transactional"), None)


def test_us_batch_across_the_switches_answers_as_single_checks(gate):
    sends = [Send(to=c.values[0], template="sale", at=c.values[2]) for c in US_EDGES]
    batch = gate.check_many(sends)
    assert [(d.outcome, d.not_before) for d in batch] == [
        (d.outcome, d.not_before) for d in map(gate.check, sends)
    ]
    assert [d.not_before for d in batch] == [c.values[3] for c in US_EDGES]


# 3. Numbers that may be in several zones: the send must fit every one of them, so the window
# opens when the last zone's opens and closes when the first zone's closes.

SEVERAL_ZONES = [
    # South Dakota, 2027-03-14: 08:00 CDT is 13:00 UTC, 08:00 MDT 14:00 UTC
    ("sd-spring-08:30CDT", SD, "2027-03-14 13:30", "2027-03-14 14:00"),
    ("sd-spring-08:00MDT", SD, "2027-03-14 14:00", None),
    # 21:00 CDT (20:00 MDT) closes it for both
    ("sd-spring-20:59CDT", SD, "2027-03-15 01:59", None),
    ("sd-spring-21:00CDT", SD, "2027-03-15 02:00", "2027-03-15 14:00"),
    # 2026-11-01: 08:00 CST is 14:00 UTC, 08:00 MST 15:00 UTC
    ("sd-fall-08:30CST", SD, "2026-11-01 14:30", "2026-11-01 15:00"),
    # Alaska, 2027-03-14: 08:00 AKDT is 16:00 UTC, 08:00 HDT (Adak) 17:00 UTC; and phonenumbers
    # places one exchange of 907 in Honolulu time, which keeps no summer time: 08:00 HST is
    # 18:00 UTC (every zone of the area code is held, recipient._area_zones)
    ("ak-spring-08:00AKDT", AK, "2027-03-14 16:00", "2027-03-14 18:00"),
    ("ak-spring-08:00HST", AK, "2027-03-14 18:00", None),
    ("ak-spring-21:00AKDT", AK, "2027-03-15 05:00", "2027-03-15 18:00"),
    # 2026-11-01: 08:00 AKST is 17:00 UTC, 08:00 HST (Adak) 18:00 UTC
    ("ak-fall-08:30AKST", AK, "2026-11-01 17:30", "2026-11-01 18:00"),
    # a toll-free number is in all 42 zones of +1, from Guam (UTC+10) to Pago Pago (UTC-11):
    # 08:00 in Guam is 22:00 UTC, 21:00 in St John's (NDT, UTC-2:30) 23:30 UTC
    ("toll-free-noon-utc", TOLL_FREE, "2027-03-14 12:00", "2027-03-14 22:00"),
    ("toll-free-23:29-utc", TOLL_FREE, "2027-03-14 23:29", None),
    ("toll-free-23:30-utc", TOLL_FREE, "2027-03-14 23:30", "2027-03-15 22:00"),
]


@pytest.mark.parametrize(
    ("to", "at", "not_before"),
    [pytest.param(to, at, nb, id=name) for name, to, at, nb in SEVERAL_ZONES],
)
def test_a_number_in_several_zones_must_fit_all_of_them(gate, to, at, not_before):
    assert len(parse(to).timezones) > 1
    at, not_before = utc(at), utc(not_before) if not_before else None
    assert_decision(check(gate, to, at), not_before)
    # the gate's answer against zoneinfo's: at not_before every zone is open, a minute
    # earlier one is not
    assert fits_everywhere(to, at) == (not_before is None)
    if not_before is not None:
        assert fits_everywhere(to, not_before)
        assert not fits_everywhere(to, not_before - dt.timedelta(minutes=1))


def test_the_senders_own_zone_for_the_recipient_adds_to_the_numbers(gate):
    # a New York number whose owner the business knows to live in Los Angeles: both windows
    at = utc("2027-03-14 14:30")  # 10:30 EDT, 07:30 PDT
    assert_decision(check(gate, NY, at), None)
    decision = check(gate, NY, at, timezone="America/Los_Angeles")
    assert_decision(decision, utc("2027-03-14 15:00"))


# 2. EU daylight saving in France, the one European market file with quiet hours (DE, GB and
# the EU layer have none): the required window (af2m charter) is 08:00-22:00 Monday to
# Saturday except public holidays; 08:00-20:00 is advisory (a warning, not a deferral). Europe
# switches at 01:00 UTC on the last Sunday of the month: 2026-10-25 and 2027-03-28.

FR_DST = cases(
    PARIS,
    [
        # autumn: Saturday 2026-10-24 is CEST (UTC+2), Monday 2026-10-26 CET (UTC+1)
        ("sat-07:59CEST", "2026-10-24 07:59", "2026-10-24 05:59", "2026-10-24 06:00"),
        ("sat-21:59CEST", "2026-10-24 21:59", "2026-10-24 19:59", None),
        ("sat-22:00CEST", "2026-10-24 22:00", "2026-10-24 20:00", "2026-10-26 07:00"),
        # Sunday 2026-10-25: 02:30 shows twice, a Sunday both times
        ("sun-02:30CEST", "2026-10-25 02:30", "2026-10-25 00:30", "2026-10-26 07:00"),
        ("sun-02:30CET", "2026-10-25 02:30 (2nd)", "2026-10-25 01:30", "2026-10-26 07:00"),
        ("sun-noon", "2026-10-25 12:00", "2026-10-25 11:00", "2026-10-26 07:00"),
        # with Saturday's offset Monday 07:30 CET would read 08:30 and be let through
        ("mon-07:30CET", "2026-10-26 07:30", "2026-10-26 06:30", "2026-10-26 07:00"),
        ("mon-08:00CET", "2026-10-26 08:00", "2026-10-26 07:00", None),
        ("mon-22:00CET", "2026-10-26 22:00", "2026-10-26 21:00", "2026-10-27 07:00"),
        # spring: Friday 26 and Saturday 27 March 2027 are CET; Sunday 28 is Easter and
        # Monday 29 Easter Monday, a public holiday: the next window is Tuesday 30, in CEST
        ("fri-22:00CET", "2027-03-26 22:00", "2027-03-26 21:00", "2027-03-27 07:00"),
        ("sat-21:59CET", "2027-03-27 21:59", "2027-03-27 20:59", None),
        ("sat-22:00CET", "2027-03-27 22:00", "2027-03-27 21:00", "2027-03-30 06:00"),
        # 02:30 on Sunday 28 does not exist: zoneinfo reads it with CET, i.e. 03:30 CEST
        ("sun-02:30-skipped", "2027-03-28 02:30", "2027-03-28 01:30", "2027-03-30 06:00"),
        ("easter-monday", "2027-03-29 10:00", "2027-03-29 08:00", "2027-03-30 06:00"),
        ("tue-07:59CEST", "2027-03-30 07:59", "2027-03-30 05:59", "2027-03-30 06:00"),
        # with Saturday's offset 08:30 CEST would read 07:30 and be held
        ("tue-08:30CEST", "2027-03-30 08:30", "2027-03-30 06:30", None),
    ],
)


@pytest.mark.parametrize(("local", "at", "not_before"), FR_DST)
def test_fr_window_edges_on_eu_daylight_saving_days(gate, local, at, not_before):
    assert local.astimezone(UTC) == at
    assert_decision(check(gate, FR, at), not_before)
    assert_decision(check(gate, FR, local), not_before)
    # order updates go out whatever the day and hour
    assert_decision(check(gate, FR, at, purpose="transactional"), None)


@pytest.mark.parametrize(
    ("at", "advised"),
    [
        ("2026-10-24 17:59", False),  # 19:59 CEST
        ("2026-10-24 18:00", True),  # 20:00 CEST: past the advisory 20:00
        ("2026-10-26 18:59", False),  # 19:59 CET
        ("2026-10-26 19:00", True),  # 20:00 CET
    ],
)
def test_fr_advisory_evening_warns_in_local_time(gate, at, advised):
    decision = check(gate, FR, utc(at))
    assert decision.outcome == "allow" and decision.codes == []
    assert [w.code for w in decision.warnings] == (["quiet_hours"] if advised else [])


# 4. France: no commercial SMS on Sundays and public holidays; the send waits for 08:00 in
# Paris on the next working day.

FR_CLOSED = cases(
    PARIS,
    [
        # Christmas, Friday 2026-12-25 (CET): Saturday 26 is a working day
        ("christmas", "2026-12-25 10:00", "2026-12-25 09:00", "2026-12-26 07:00"),
        ("christmas-eve-late", "2026-12-24 22:30", "2026-12-24 21:30", "2026-12-26 07:00"),
        # New Year's Day, Friday 2027-01-01
        ("new-year", "2027-01-01 10:00", "2027-01-01 09:00", "2027-01-02 07:00"),
        ("new-years-eve-late", "2026-12-31 22:30", "2026-12-31 21:30", "2027-01-02 07:00"),
        # 1 May 2027 is a Saturday (CEST): then Sunday, so Monday 3 May
        ("may-day-saturday", "2027-05-01 10:00", "2027-05-01 08:00", "2027-05-03 06:00"),
        # Friday 7 May after 22:00: Saturday 8 May (Victoire 1945), Sunday, Monday 10
        ("victory-day-weekend", "2027-05-07 22:00", "2027-05-07 20:00", "2027-05-10 06:00"),
        # 14 July 2027 is a Wednesday
        ("bastille-day", "2027-07-14 10:00", "2027-07-14 08:00", "2027-07-15 06:00"),
        ("bastille-eve-late", "2027-07-13 22:00", "2027-07-13 20:00", "2027-07-15 06:00"),
        # an ordinary Sunday, 2026-11-29 (CET), and the Saturday night before it
        ("sunday", "2026-11-29 11:00", "2026-11-29 10:00", "2026-11-30 07:00"),
        ("saturday-23:59", "2026-11-28 23:59", "2026-11-28 22:59", "2026-11-30 07:00"),
    ],
)


@pytest.mark.parametrize(("local", "at", "not_before"), FR_CLOSED)
def test_fr_sundays_and_public_holidays_defer_to_the_next_working_day(gate, local, at, not_before):
    assert local.astimezone(UTC) == at
    decision = check(gate, FR, at)
    assert_decision(decision, not_before)
    (reason,) = decision.reasons
    assert reason.market == "FR" and reason.citation.startswith("af2m")
    assert not_before.astimezone(PARIS).time() == dt.time(8, 0)
    assert_decision(check(gate, FR, at, purpose="transactional"), None)


def test_fr_the_day_after_a_holiday_opens_as_usual(gate):
    assert_decision(check(gate, FR, utc("2026-12-26 07:00")), None)  # Saturday 08:00 CET
    assert_decision(check(gate, FR, utc("2027-07-15 06:00")), None)  # Thursday 08:00 CEST


# 5. India: promotional SMS 10:00-21:00 IST (UTC+5:30, no daylight saving) every day. The
# Indian day starts at 18:30 UTC; UTC midnight is 05:30 IST.

IN_CASES = cases(
    KOLKATA,
    [
        ("09:59IST", "2027-01-05 09:59", "2027-01-05 04:29", "2027-01-05 04:30"),
        ("10:00IST", "2027-01-05 10:00", "2027-01-05 04:30", None),
        ("20:59IST", "2027-01-05 20:59", "2027-01-05 15:29", None),
        ("21:00IST", "2027-01-05 21:00", "2027-01-05 15:30", "2027-01-06 04:30"),
        # the last minute of the Indian day and the first of the next: the same opening
        ("23:59IST", "2027-01-05 23:59", "2027-01-05 18:29", "2027-01-06 04:30"),
        ("00:00IST", "2027-01-06 00:00", "2027-01-05 18:30", "2027-01-06 04:30"),
        # either side of UTC midnight: still that opening
        ("05:29IST", "2027-01-06 05:29", "2027-01-05 23:59", "2027-01-06 04:30"),
        ("05:30IST", "2027-01-06 05:30", "2027-01-06 00:00", "2027-01-06 04:30"),
        # a new year in India while it is still the old one in UTC
        ("new-year-00:30IST", "2027-01-01 00:30", "2026-12-31 19:00", "2027-01-01 04:30"),
        # the days the US and Europe change their clocks change nothing in India
        ("us-spring-21:00IST", "2027-03-14 21:00", "2027-03-14 15:30", "2027-03-15 04:30"),
        ("eu-fall-09:00IST", "2026-10-25 09:00", "2026-10-25 03:30", "2026-10-25 04:30"),
    ],
)


@pytest.mark.parametrize(("local", "at", "not_before"), IN_CASES)
def test_in_promotional_window_in_ist(gate, local, at, not_before):
    assert local.astimezone(UTC) == at
    assert_decision(check(gate, IN, at), not_before)
    # service messages are not bound by the promotional time bands
    assert_decision(check(gate, IN, at, purpose="transactional"), None)


def test_in_local_time_given_with_a_half_hour_offset(gate):
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert_decision(check(gate, IN, dt.datetime(2027, 1, 5, 20, 59, 59, tzinfo=ist)), None)
    decision = check(gate, IN, dt.datetime(2027, 1, 5, 21, 0, tzinfo=ist))
    assert_decision(decision, utc("2027-01-06 04:30"))
    assert decision.not_before.astimezone(KOLKATA) == wall(KOLKATA, "2027-01-06 10:00")
