"""Build the example ledger: a month of Acme's sends through the gate, for `compliance report`.

    python examples/make_ledger.py demo-ledger.db
    compliance report --repo examples/acme --ledger demo-ledger.db -o report.html

Everything goes through the gate as production code would (grants, checks, inbound replies,
reviews, lists, pauses), on a fixed clock from 2 to 30 November 2026, so the ledger and the
report's figures are the same on every run. One opt-out is recorded late on purpose: a
customer asked the call centre to stop on 3 November and it reached the ledger on the 24th,
so the sends between broke the US ten-business-day deadline, which the report shows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from compliance import Gate, Send

UTC = dt.timezone.utc
REPO = Path(__file__).resolve().parent / "acme"
START = dt.datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
UNTIL = dt.datetime(2026, 12, 1, tzinfo=UTC)  # the report's period ends here

US = [f"+1415555{n:04d}" for n in range(100, 130)]  # San Francisco numbers (Pacific time)
UK = [f"+44740012{n:04d}" for n in range(3450, 3455)]  # UK mobiles
STOPPED = US[0]  # replies STOP on 4 November
LATE = US[1]  # asked the call centre to stop on 3 November; recorded on the 24th
DOUBTFUL = US[2]  # "stop? who is this": waits for a person
RESOLVED = US[3]  # "not interested": a person reads it as an opt-out
LISTED = US[4]  # on the internal do-not-contact list


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def build(path: Path, repo: Path = REPO) -> None:
    """Write the example ledger to `path` (which must not exist)."""
    clock = Clock(START + dt.timedelta(hours=14))
    gate = Gate.open(repo=repo, ledger=path, create=True, clock=clock)
    try:
        _month(gate, clock)
    finally:
        gate.close()


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return START + dt.timedelta(days=day, hours=hour, minutes=minute)


def _month(gate: Gate, clock: Clock) -> None:
    ledger = gate.ledger
    for n, subject in enumerate(US):
        ledger.grant(
            subject=subject,
            channel="sms",
            scope="us-sms-promotions",
            source="web-checkout",
            at=_at(0, 14) - dt.timedelta(days=40 + n),
            evidence={"form": "checkout-v3"},
        )
    # UK customers' soft opt-in lasts two years from the purchase: two lapse in December,
    # one in February, two in 2028
    bought = [
        dt.datetime(2024, 12, 10, 12, tzinfo=UTC),
        dt.datetime(2024, 12, 20, 12, tzinfo=UTC),
        dt.datetime(2025, 2, 15, 12, tzinfo=UTC),
        dt.datetime(2026, 6, 1, 12, tzinfo=UTC),
        dt.datetime(2026, 6, 2, 12, tzinfo=UTC),
    ]
    for subject, when in zip(UK, bought, strict=True):
        ledger.grant(
            subject=subject, channel="sms", scope="gb-customer-offers", source="checkout", at=when
        )
    ledger.import_dnc("internal", [LISTED, "+14155550999"])
    ledger.import_dnc(
        "us-registry",
        ["+14155550998", "+14155550997", "+14155550996"],
        registry="US",
        checked_at=dt.datetime(2026, 10, 20, tzinfo=UTC),
    )
    for day in range(29):
        date = (START + dt.timedelta(days=day)).date()
        weekday = date.weekday() < 5
        if day == 2:
            clock.at = _at(day, 16)
            ledger.inbound(
                subject=STOPPED, text="STOP", channel="sms", sender="acme-us-10dlc", at=clock.at
            )
        if day == 4:
            clock.at = _at(day, 16)
            ledger.inbound(
                subject=DOUBTFUL,
                text="stop? who is this",
                channel="sms",
                sender="acme-us-10dlc",
                at=clock.at,
            )
        if day == 7:
            clock.at = _at(day, 15)
            ledger.inbound(
                subject=RESOLVED,
                text="not interested",
                channel="sms",
                sender="acme-us-10dlc",
                at=clock.at,
            )
        if day == 8:
            clock.at = _at(day, 10)
            ledger.resolve(
                _review_of(ledger, RESOLVED),
                opt_out=True,
                by="jane@acme.example",
                note="reads as an opt-out",
            )
        if day == 14:
            clock.at = _at(day, 9)
            gate.pause(
                sender="acme-uk",
                reason="sender ID renewal with the aggregator",
                by="ops@acme.example",
            )
        if day == 16:
            clock.at = _at(day, 9)
            gate.resume(sender="acme-uk", reason="renewal confirmed", by="ops@acme.example")
        if weekday and day % 7 == 0:  # Mondays: an early batch, deferred to 8 a.m. Pacific
            clock.at = _at(day, 13)
            gate.check_many([Send(to=s, template="spring-sale") for s in US[5:10]])
        if weekday:
            clock.at = _at(day, 17)
            gate.check_many([Send(to=s, template="spring-sale") for s in US])
            clock.at = _at(day, 18)
            gate.check_many([Send(to=s, template="order-shipped") for s in US[:3]])
            gate.check_many([Send(to=s, template="login-code") for s in US[10:12]])
        if date.weekday() == 1:  # Tuesdays: UK offers at noon
            clock.at = _at(day, 12)
            gate.check_many([Send(to=s, template="gb-offer") for s in UK])
        if day == 22:
            clock.at = _at(day, 20)
            ledger.revoke(subject=LATE, channel="sms", source="call-centre", at=_at(1, 15))
        if day == 25:
            clock.at = _at(day, 9)
            gate.pause(
                template="login-code", reason="moving to a new OTP provider", by="jane@acme.example"
            )
    clock.at = UNTIL - dt.timedelta(minutes=1)


def _review_of(ledger: object, subject: str) -> int:
    return next(r["id"] for r in ledger.reviews() if r["subject"] == subject)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="where to write the ledger (must not exist)")
    args = parser.parse_args(argv)
    if args.path.exists():
        print(f"error: {args.path} exists; give a new path", file=sys.stderr)
        return 2
    build(args.path)
    print(
        f"wrote {args.path}; now run: compliance report --repo {REPO} --ledger {args.path} "
        f"--until {UNTIL.isoformat()} -o report.html"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
