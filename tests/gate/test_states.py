"""The US state layer as the gate applies it: each state's window, Sunday and holiday rules for
numbers in that state only, enforced where the law reaches texts and a warning where that is
unsettled; state do-not-call lists imported by region; a region paused for a declared
emergency."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from compliance import Send, UsageError
from compliance.cli import cli as main
from compliance.packs import load_packs
from tests.gate import test_gate
from tests.gate.test_gate import grant

gate = test_gate.gate  # the same small repo and ledger as the gate's own tests

UTC = dt.timezone.utc
MS = "+16015550123"  # Jackson: US-MS, America/Chicago
LA = "+15045550123"  # New Orleans: US-LA, America/Chicago
OR = "+15035550123"  # Portland: US-OR, America/Los_Angeles
TX = "+15125550123"  # Austin: US-TX, America/Chicago
WI = "+14145550123"  # Milwaukee: US-WI
CO = "+13035550123"  # Denver: US-CO
SUNDAY_NOON_CT = dt.datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # Sunday 12:00 in Chicago
TUESDAY_NOON_CT = dt.datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def check(gate, to, at, template="sale"):
    return gate.check(Send(to=to, template=template, at=at))


def test_every_state_block_names_its_law_and_whether_it_reaches_texts():
    params = load_packs().markets["US"].parameters
    states = [b for b in params.quiet_hours if b.region]
    assert {b.region for b in states} >= {"US-FL", "US-OK", "US-MD", "US-CT", "US-TX", "US-OR"}
    for block in states:
        assert block.covers_texts in ("yes", "unsettled"), block.region
        assert block.note and block.citations, block.region
        # enforced only where the law's words reach texts, or by the documented FL/MD choice
        if block.enforcement == "required" and block.covers_texts != "yes":
            assert block.region in ("US-FL", "US-MD"), block.region
    for state in params.state_do_not_call:
        assert state.enforcement == "required" or state.covers_texts != "yes", state.region


def test_a_sunday_ban_that_reaches_texts_defers_to_monday(gate):
    grant(gate, to=MS, at=SUNDAY_NOON_CT - dt.timedelta(days=1))
    decision = check(gate, MS, SUNDAY_NOON_CT)
    assert decision.outcome == "defer" and decision.codes == ["quiet_hours"]
    assert decision.not_before == dt.datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # Mon 08:00 CT
    assert "Mississippi Code 77-3-723" in decision.reasons[0].citation
    assert "(US-MS)" in decision.reasons[0].message
    # the same Sunday noon in Texas is open (Texas allows Sundays from noon)
    grant(gate, to=TX, at=SUNDAY_NOON_CT - dt.timedelta(days=1))
    assert check(gate, TX, SUNDAY_NOON_CT).allowed
    early = check(gate, TX, SUNDAY_NOON_CT - dt.timedelta(hours=1))  # 11:00 Sunday
    assert early.outcome == "defer" and early.not_before == SUNDAY_NOON_CT
    assert "Texas Business and Commerce Code 301.051" in early.reasons[0].citation
    # service messages are never held by a state's solicitation window
    assert check(gate, MS, SUNDAY_NOON_CT, template="shipped").allowed


def test_an_unsettled_state_law_warns_and_allows(gate):
    grant(gate, to=LA, at=SUNDAY_NOON_CT - dt.timedelta(days=1))
    sunday = check(gate, LA, SUNDAY_NOON_CT)
    assert sunday.allowed and [w.code for w in sunday.warnings] == ["quiet_hours"]
    assert "Louisiana R.S. 45:811" in sunday.warnings[0].citation
    assert "US-LA" in sunday.warnings[0].message
    assert check(gate, LA, TUESDAY_NOON_CT).warnings == ()
    # Mardi Gras, a Louisiana holiday (from the holidays library's state calendar)
    mardi_gras = dt.datetime(2027, 2, 9, 18, 0, tzinfo=UTC)
    gate.clock.now = mardi_gras - dt.timedelta(hours=1)
    grant(gate, to=LA, at=mardi_gras - dt.timedelta(days=1))
    assert [w.code for w in check(gate, LA, mardi_gras).warnings] == ["quiet_hours"]
    # ...is no holiday in Mississippi, whose holiday ban was repealed
    grant(gate, to=MS, at=mardi_gras - dt.timedelta(days=1))
    assert check(gate, MS, mardi_gras).allowed and check(gate, MS, mardi_gras).warnings == ()


def test_oregon_window_and_cap(gate):
    grant(gate, to=OR, at=TUESDAY_NOON_CT - dt.timedelta(days=1))
    late = dt.datetime(2026, 12, 2, 4, 30, tzinfo=UTC)  # 20:30 Tuesday in Portland
    decision = check(gate, OR, late)
    assert decision.outcome == "defer" and "Oregon HB 3865" in decision.reasons[0].citation
    noon_pt = dt.datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    outcomes = [check(gate, OR, noon_pt + dt.timedelta(minutes=i)).outcome for i in range(4)]
    assert outcomes == ["allow", "allow", "allow", "deny"]


def test_a_region_pause_stops_marketing_there_only(gate):
    for number in (LA, TX):
        grant(gate, to=number, at=TUESDAY_NOON_CT - dt.timedelta(days=1))
    gate.clock.now = TUESDAY_NOON_CT
    gate.pause(region="US-LA", reason="state of emergency (R.S. 45:844.31)", by="ops@acme")
    paused = check(gate, LA, TUESDAY_NOON_CT)
    assert paused.codes == ["paused"] and "US-LA" in paused.reasons[0].message
    assert check(gate, LA, TUESDAY_NOON_CT, template="shipped").allowed  # service goes on
    assert check(gate, TX, TUESDAY_NOON_CT).allowed
    gate.resume(region="US-LA", reason="declaration ended", by="ops@acme")
    assert check(gate, LA, TUESDAY_NOON_CT).allowed
    # a region no number is ever found in would be a pause that stops nothing
    for bad in ("US-ZZ", "GB-LA", "LA", "US-PR", "US-GU", "CA-ON"):
        with pytest.raises(UsageError, match="not a region the gate can tell from a number"):
            gate.pause(region=bad, reason="x", by="y")
    with pytest.raises(ValueError, match="region is empty"):
        gate.pause(region="  ", reason="x", by="y")
    # written as people write it: the same pause
    gate.pause(region=" us-la ", reason="again", by="ops@acme")
    assert check(gate, LA, TUESDAY_NOON_CT).codes == ["paused"]
    gate.resume(region="US-LA", reason="over", by="ops@acme")
    with pytest.raises(UsageError, match="exactly one"):
        gate.pause(region="US-LA", market="US", reason="x", by="y")


def test_a_state_list_must_be_fresh_where_its_law_says_so(gate):
    # implied consent is not exempt; express written consent is (a request, not a solicitation)
    for number in (WI, CO):
        grant(gate, to=number, scope="implied-offers", at=TUESDAY_NOON_CT - dt.timedelta(days=1))
    gate.clock.now = TUESDAY_NOON_CT
    gate.ledger.import_dnc("US-NDNC", [], registry="US", checked_at=TUESDAY_NOON_CT)
    stale = check(gate, WI, TUESDAY_NOON_CT, template="implied-sale")
    assert "dnc.check_stale" in stale.codes
    assert "Wisconsin do-not-call registry (US-WI) last imported never" in " ".join(
        r.message for r in stale.reasons
    )
    gate.ledger.import_dnc("wisconsin", [], registry="US-WI", checked_at=TUESDAY_NOON_CT)
    assert "dnc.check_stale" not in check(gate, WI, TUESDAY_NOON_CT, "implied-sale").codes
    later = TUESDAY_NOON_CT + dt.timedelta(days=32)
    gate.clock.now = later
    gate.ledger.import_dnc("US-NDNC", [], registry="US", checked_at=later)
    assert "dnc.check_stale" in check(gate, WI, later, "implied-sale").codes
    # Colorado's reach to texts is unsettled: a stale list is a warning, not a denial
    colorado = check(gate, CO, later, "implied-sale")
    assert "dnc.check_stale" not in colorado.codes
    assert "dnc.check_stale" in [w.code for w in colorado.warnings]
    # a number on a state list gets no marketing, whatever its consent
    gate.ledger.import_dnc("wisconsin", [WI], registry="US-WI", checked_at=later)
    grant(gate, to=WI, at=later - dt.timedelta(hours=1))
    assert check(gate, WI, later).codes == ["dnc.listed"]


def test_dnc_import_by_region_from_the_command_line(tmp_path):
    listing = tmp_path / "texas.csv"
    listing.write_text("number\n+15125550123\n", "utf-8")
    ledger = tmp_path / "ledger.db"
    runner = CliRunner()
    assert runner.invoke(main, ["ledger", "init", "--ledger", str(ledger)]).exit_code == 0
    base = ["dnc", "import", "texas-no-call", str(listing), "--ledger", str(ledger)]
    result = runner.invoke(main, [*base, "--registry", "--market", "US", "--region", "us-tx"])
    assert result.exit_code == 0, result.output
    assert "imported 1 entry into texas-no-call" in result.output
    for extra, message in (
        (["--region", "US-TX"], "--region goes with --registry"),
        (["--registry", "--market", "US", "--region", "CA-ON"], "not a state of US"),
        (["--registry", "--market", "US", "--region", "US-XX"], "not a state of US"),
    ):
        result = runner.invoke(main, [*base, *extra])
        assert result.exit_code != 0 and message in result.output, result.output


def test_a_teams_pack_restates_one_state_and_keeps_the_rest(tmp_path):
    # the market file's advice: make Florida's window advisory by restating that one block in
    # your own pack; the federal window and every other state stay as shipped
    pack = tmp_path / "pack"
    (pack / "markets").mkdir(parents=True)
    (pack / "markets" / "us.yaml").write_text(
        """
code: US
name: United States
parameters:
  quiet_hours:
    - region: US-FL
      purposes: [marketing]
      channels: [sms, mms, rcs]
      allowed:
        - {start: "08:00", end: "20:00"}
      enforcement: advisory
      citations:
        - source: Florida Statutes 501.616
""",
        "utf-8",
    )
    shipped = load_packs().markets["US"].parameters.quiet_hours
    ours = load_packs([pack]).markets["US"].parameters.quiet_hours
    assert len(ours) == len(shipped)
    assert [b.enforcement for b in ours if b.region == "US-FL"] == ["advisory"]
    assert [b for b in ours if b.region != "US-FL"] == [b for b in shipped if b.region != "US-FL"]


def test_mississippi_reads_central_standard_time_as_its_statute_says(gate):
    summer = dt.datetime(2027, 7, 13, 13, 30, tzinfo=UTC)  # Tuesday 08:30 CDT, 07:30 CST
    gate.clock.now = summer - dt.timedelta(hours=1)
    grant(gate, to=MS, at=summer - dt.timedelta(days=1))
    early = check(gate, MS, summer)
    assert early.outcome == "defer"
    assert early.not_before == dt.datetime(2027, 7, 13, 14, 0, tzinfo=UTC)  # 08:00 CST
    late = check(gate, MS, dt.datetime(2027, 7, 14, 1, 30, tzinfo=UTC))  # 20:30 CDT
    assert late.outcome == "defer"  # the local-time reading closes at 20:00 CDT
    winter = dt.datetime(2027, 12, 7, 14, 30, tzinfo=UTC)  # Tuesday 08:30 CST
    gate.clock.now = winter - dt.timedelta(hours=1)
    assert check(gate, MS, winter).allowed
