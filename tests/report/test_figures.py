"""The report's figures against the example ledger, whose facts are known (examples/
make_ledger.py), and against an independent count of the same trail in Python."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.report.conftest import ACME, make_ledger, report_json

UTC = dt.timezone.utc


def decisions_counted(ledger: Path, since: str | None, until: str, markets=()) -> dict[str, Any]:
    """What the decisions section should say, counted entry by entry in Python."""
    lo = int(dt.datetime.fromisoformat(since).timestamp() * 1e6) if since else -(2**62)
    hi = int(dt.datetime.fromisoformat(until).timestamp() * 1e6)
    conn = sqlite3.connect(ledger)
    outcomes, reasons, markets_seen, denied = Counter(), Counter(), Counter(), Counter()
    for at_us, outcome, data in conn.execute(
        "SELECT at_us, outcome, data FROM audit_log WHERE kind = 'decision'"
    ):
        entry = json.loads(data)
        if not lo <= at_us < hi or (markets and entry["market"] not in markets):
            continue
        outcomes[outcome] += 1
        markets_seen[(entry["market"] or "none", outcome)] += 1
        for code in entry["reasons"]:
            reasons[(outcome, code)] += 1
        if outcome == "deny":
            denied[entry["template"]] += 1
    conn.close()
    return {
        "outcomes": outcomes,
        "reasons": reasons,
        "markets": markets_seen,
        "denied": denied,
    }


def test_decisions_match_a_count_of_every_entry(example_figures, example_ledger):
    want = decisions_counted(example_ledger, None, "2026-12-01T00:00:00+00:00")
    dec = example_figures["decisions"]
    assert dec["by_outcome"] == {o: want["outcomes"][o] for o in ("allow", "defer", "deny")}
    assert dec["total"] == sum(want["outcomes"].values()) == 780
    assert dec["total"] == example_figures["report"]["entries_by_kind"]["decision"]
    got_reasons = {(r["outcome"], r["code"]): r["count"] for r in dec["by_reason"]}
    assert got_reasons == dict(want["reasons"])
    got_markets = {
        (r["market"], o): r[o] for r in dec["by_market"] for o in ("allow", "defer", "deny") if r[o]
    }
    assert got_markets == dict(want["markets"])
    top = dec["top_denied_templates"]
    assert [(r["template"], r["count"]) for r in top] == sorted(
        want["denied"].items(), key=lambda kv: (-kv[1], kv[0])
    )[:10]
    # the sender comes from the catalog's template
    assert {r["template"]: r["sender"] for r in top}["spring-sale"] == "acme-us-10dlc"
    senders = {r["sender"]: r["count"] for r in dec["top_denied_senders"]}
    assert sum(senders.values()) == dec["by_outcome"]["deny"]
    # a month is drawn day by day, and the days add up
    over = dec["over_time"]
    assert over["bucket"] == "day"
    assert sum(r["allow"] + r["defer"] + r["deny"] for r in over["rows"]) == dec["total"]
    assert over["rows"][0]["start"] == "2026-11-02"


def test_the_late_opt_out_is_a_breach_past_ten_us_business_days(example_figures):
    """Asked to stop on Tue 3 Nov 07:00 in San Francisco, recorded on the 24th: ten business
    days skip the weekends and Veterans Day (11 Nov), so the deadline is the end of Wed 18 Nov
    in the number's own time zone; the sends of the 19th, 20th, 23rd and 24th (two templates
    a day) are the breach."""
    opt = example_figures["opt_outs"]
    assert opt["total"] == 3
    assert opt["honoured"] == 2
    assert opt["followed_by_sends"] == 1
    assert opt["breached"] == 1
    assert opt["sends_after_deadline"] == 8
    [late] = opt["followed"]
    assert late["subject"] == make_ledger.LATE
    assert late["source"] == "call-centre"
    assert late["market"] == "US"
    assert late["opted_out_at"] == "2026-11-03T15:00:00Z"
    assert late["deadline"] == "2026-11-19T08:00:00Z"
    assert late["recorded_at"] == "2026-11-24T20:00:00Z"
    assert late["sends_after_deadline"] == 8
    assert late["last_send_at"] == "2026-11-24T18:00:00Z"
    assert late["days_to_last_send"] == pytest.approx(21.125, abs=0.01)
    assert late["templates"] == ["order-shipped", "spring-sale"]
    assert late["breach"] is True
    sources = {r["source"]: r["count"] for r in opt["by_source"]}
    assert sources == {
        "call-centre": 1,
        "reply (keyword or plain words)": 1,
        "reply read as an opt-out by a person": 1,
    }
    [us] = opt["by_market"]
    assert us["market"] == "US" and us["breached"] == 1
    assert us["deadline"].startswith("10 business days")
    assert opt["by_channel"] == [{"channel": "sms", "count": 3}]


def test_consent_in_force_expiring_and_reviews(example_figures):
    con = example_figures["consent"]
    rows = {r["scope"]: r for r in con["subjects"]}
    # 30 US grants, three revoked (STOP, the call centre, a reviewed reply); the doubtful
    # reply holds marketing but revokes nothing
    assert rows["us-sms-promotions"]["in_force"] == 27
    assert rows["us-sms-promotions"]["consent"] == "express_written"
    assert rows["gb-customer-offers"]["in_force"] == 5
    assert rows["gb-customer-offers"]["basis"] == "purchase"
    [gb] = con["expiring"]
    # two-year soft opt-in from purchases on 10 and 20 Dec 2024 (lapse within 30 days of
    # 1 Dec 2026) and 15 Feb 2025 (within 90)
    assert (gb["market"], gb["lifetime"]) == ("GB", "P2Y")
    assert (gb["within_30_days"], gb["within_90_days"]) == (2, 3)
    assert con["grants_without_capture"] == 0
    reviews = con["reviews"]
    assert reviews["open"] == 1
    [doubtful] = reviews["oldest"]
    assert doubtful["subject"] == make_ledger.DOUBTFUL
    assert doubtful["received_at"] == "2026-11-06T16:00:00Z"
    assert doubtful["age_days"] == pytest.approx(24.3)
    assert reviews["by_age"] == {"under 1 day": 0, "1 to 7 days": 0, "over 7 days": 1}


def test_lists_registries_pauses_and_lint(example_figures, cli):
    lists = example_figures["lists"]
    assert lists["lists"] == [
        {"list": "internal", "entries": 2},
        {"list": "us-registry", "entries": 3},
    ]
    registries = {r["market"]: r for r in lists["registries"]}
    us = registries["US"]
    assert us["checked_at"] == "2026-10-20T00:00:00Z"
    assert us["stale"] is True and us["age_days"] == 42.0 and us["valid_for"] == "P31D"
    # only the markets this business sends to: no Singapore registry for a US and UK sender
    assert "SG" not in registries
    pauses = example_figures["pauses"]
    assert [(p["target"], p["by"]) for p in pauses["in_force"]] == [
        ("login-code", "jane@acme.example")
    ]
    assert [(h["action"], h["target"]) for h in pauses["history"]] == [
        ("pause", "acme-uk"),
        ("resume", "acme-uk"),
        ("pause", "login-code"),
    ]
    lint = example_figures["lint"]
    run = cli(["lint", str(ACME), "--format", "json"])
    findings = json.loads(run.out)["findings"]
    live = [f for f in findings if not f.get("suppressed")]
    assert lint["errors"] == sum(1 for f in live if f["severity"] == "error") == 15
    assert lint["warnings"] == sum(1 for f in live if f["severity"] == "warning")


def test_trail_figures_are_audit_verify(example_figures, cli, example_ledger):
    run = cli(["audit", "verify", "--json", "--ledger", str(example_ledger)])
    verdict = json.loads(run.out)
    trail = example_figures["trail"]
    for key, value in verdict.items():
        assert trail[key] == value, key
    assert trail["ok"] is True and trail["entries"] == 826


def test_a_period_counts_its_own_events(cli, example_ledger):
    since = "2026-11-16T00:00:00+00:00"
    found = report_json(cli, example_ledger, "--since", since)
    want = decisions_counted(example_ledger, since, "2026-12-01T00:00:00+00:00")
    assert found["decisions"]["total"] == sum(want["outcomes"].values())
    assert found["report"]["period"]["since"] == "2026-11-16T00:00:00Z"
    # all three were made before the 16th; the call centre's was recorded on the 24th
    assert found["opt_outs"]["total"] == 1
    assert found["opt_outs"]["breached"] == 1
    assert [h["action"] for h in found["pauses"]["history"]] == ["pause", "resume", "pause"]


def test_an_opt_out_recorded_late_is_in_the_period_it_was_recorded_in(cli, example_ledger):
    """Reporting November in halves: on the 16th the call centre's opt-out (made on the 3rd)
    was not recorded yet, so the first half cannot know of it; the second half, in which it
    was recorded, shows it and its breach."""
    first = report_json(
        cli, example_ledger, "--since", "2026-11-02T00:00:00Z", "--until", "2026-11-16T00:00:00Z"
    )
    second = report_json(cli, example_ledger, "--since", "2026-11-16T00:00:00Z")
    assert [r["subject"] for r in first["opt_outs"]["followed"]] == []
    [late] = second["opt_outs"]["followed"]
    assert late["subject"] == make_ledger.LATE and late["breach"] is True
    assert second["opt_outs"]["by_source"] == [{"source": "call-centre", "count": 1}]


def test_the_state_is_as_of_the_end_of_the_period(cli, example_ledger):
    """At the start of 10 Nov the call centre's opt-out was not recorded yet and both doubtful
    replies were waiting; what was written after the period is not read."""
    early = _report_until(cli, example_ledger, "2026-11-10T00:00:00Z")
    assert early["opt_outs"]["total"] == 1
    assert early["opt_outs"]["followed"] == []
    assert early["consent"]["reviews"]["open"] == 2
    assert early["pauses"]["in_force"] == []
    rows = {r["scope"]: r["in_force"] for r in early["consent"]["subjects"]}
    assert rows["us-sms-promotions"] == 29
    assert early["lists"]["registries"][0]["stale"] is False  # checked 20 Oct, 31 days


def _report_until(cli, ledger, until):
    run = cli(
        [
            "report",
            "--ledger",
            str(ledger),
            "--until",
            until,
            "--format",
            "json",
            "--repo",
            str(ACME),
        ]
    )
    assert run.code == 0, run.err
    return json.loads(run.out)


def test_a_market_filter_keeps_that_market_only(cli, example_ledger):
    found = report_json(cli, example_ledger, "--market", "gb")
    assert found["report"]["markets"] == ["GB"]
    assert [r["market"] for r in found["decisions"]["by_market"]] == ["GB"]
    want = decisions_counted(example_ledger, None, "2026-12-01T00:00:00+00:00", ("GB",))
    assert found["decisions"]["total"] == sum(want["outcomes"].values()) == 20
    assert found["opt_outs"]["total"] == 0
    assert [r["scope"] for r in found["consent"]["subjects"]] == ["gb-customer-offers"]
    assert {r["market"] for r in found["lint"]["by_market"]} <= {"GB", "all"}
    assert all(r["market"].startswith("GB") for r in found["lists"]["registries"])


def test_without_a_repo_the_shipped_market_files_give_the_rules(cli, example_ledger, tmp_path):
    run = cli(
        [
            "report",
            "--ledger",
            str(example_ledger),
            "--until",
            "2026-12-01T00:00:00Z",
            "--format",
            "json",
        ],
        cwd=tmp_path,
    )
    assert run.code == 0, run.err
    found = json.loads(run.out)
    assert found["report"]["catalog"]["source"] == "the market files shipped with compliance"
    assert found["lint"]["available"] is False
    # the deadline is the market's own, not the repo's
    assert found["opt_outs"]["breached"] == 1
    # senders are unknown without the templates
    assert found["decisions"]["top_denied_senders"][0]["sender"] == "(template not in the catalog)"


def test_a_bundle_gives_the_rules_and_the_errors_it_kept(cli, example_ledger, tmp_path):
    bundle = tmp_path / "bundle.json"
    run = cli(["bundle", "--repo", str(ACME), "-o", str(bundle)])
    assert run.code == 0, run.err
    found = report_json(cli, example_ledger, "--bundle", str(bundle), repo=None)
    assert found["lint"]["source"] == "bundle"
    assert found["lint"]["warnings"] is None
    assert found["lint"]["errors"] > 0
    assert found["opt_outs"]["breached"] == 1


def test_a_pseudonymising_ledger_is_reported_with_its_hashes_only(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "report-test-key")
    ledger = tmp_path / "hashed.db"
    make_ledger.build(ledger)
    found = report_json(cli, ledger)
    html = tmp_path / "r.html"
    run = cli(
        [
            "report",
            "--ledger",
            str(ledger),
            "--until",
            "2026-12-01T00:00:00Z",
            "--repo",
            str(ACME),
            "-o",
            str(html),
        ]
    )
    assert run.code == 0, run.err
    assert found["report"]["subjects"] == "keyed hashes"
    [late] = found["opt_outs"]["followed"]
    assert late["subject"].startswith("h:")
    assert found["consent"]["reviews"]["oldest"][0]["subject"].startswith("h:")
    text = json.dumps(found) + html.read_text("utf-8")
    for number in make_ledger.US + make_ledger.UK:
        assert number not in text
        assert number[1:] not in text


def test_a_broken_trail_is_reported_and_exits_1(cli, example_copy, tmp_path):
    conn = sqlite3.connect(example_copy)
    conn.execute(
        "UPDATE audit_log SET outcome = CASE outcome WHEN 'allow' THEN 'deny' ELSE 'allow' END "
        "WHERE seq = 300"
    )
    conn.commit()
    conn.close()
    html = tmp_path / "r.html"
    run = cli(["report", "--ledger", str(example_copy), "--repo", str(ACME), "-o", str(html)])
    assert run.code == 1
    assert "TRAIL BROKEN" in run.err
    page = html.read_text("utf-8")
    assert "does not verify" in page and "entry 300" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--market", "XX"], "--market XX: not a market of repo"),
        (
            ["--since", "2026-12-01T00:00:00Z", "--until", "2026-11-01T00:00:00Z"],
            "--until must be later than --since",
        ),
        (["--since", "yesterday"], "--since: 'yesterday' is not an ISO 8601 time"),
        (["--bundle", "b.json"], "give --repo or --bundle, not both"),
    ],
)
def test_bad_arguments_say_what_to_fix(cli, example_ledger, args, message):
    run = cli(["report", "--ledger", str(example_ledger), "--repo", str(ACME), *args])
    assert run.code == 2
    assert message in run.err
    assert "Traceback" not in run.err


def test_a_missing_ledger_is_an_error_not_a_new_ledger(cli, tmp_path):
    missing = tmp_path / "nope.db"
    run = cli(["report", "--ledger", str(missing), "--repo", str(ACME)])
    assert run.code == 2
    assert "nope.db" in run.err
    assert not missing.exists()


def test_the_html_is_written_with_a_summary(cli, example_ledger, tmp_path):
    out = tmp_path / "report.html"
    run = cli(
        [
            "report",
            "--ledger",
            str(example_ledger),
            "--repo",
            str(ACME),
            "--until",
            "2026-12-01T00:00:00Z",
            "-o",
            str(out),
        ]
    )
    assert run.code == 0, run.err
    assert (
        f"wrote {out}: trail intact (826 entries), 780 decisions, 3 opt-outs (1 breached)"
        in run.err
    )
    page = out.read_text("utf-8")
    assert page.startswith("<!doctype html>")
    assert "<script" not in page.lower()


def test_the_same_figures_on_postgresql(cli, example_ledger, example_figures, pg_database):
    run = cli(["ledger", "migrate", str(example_ledger), pg_database])
    assert run.code == 0, run.err
    found = report_json(cli, pg_database)
    for section in ("decisions", "opt_outs", "consent", "lists", "pauses", "lint"):
        assert found[section] == example_figures[section], section
    assert found["report"]["backend"] == "postgresql"
    assert found["trail"]["ok"] is True


def test_the_deadline_counts_business_days_calendar_days_and_none():
    from compliance.report.figures import _Rule, deadline

    tue = dt.datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
    us = _Rule("US", 10, "business", True, ("marketing",), UTC)
    assert deadline(tue, us) == dt.datetime(2026, 11, 19, tzinfo=UTC)  # Veterans Day skipped
    calendar = _Rule("XX", 10, "calendar", False, ("marketing",), UTC)
    assert deadline(tue, calendar) == dt.datetime(2026, 11, 14, tzinfo=UTC)
    none = _Rule("EU", None, "calendar", False, ("marketing",), UTC)
    assert deadline(tue, none) == tue
    # Friday evening in Sydney is already Saturday there: five working days from Monday 9th
    from zoneinfo import ZoneInfo

    au = _Rule("AU", 5, "working", True, ("marketing",), ZoneInfo("Australia/Sydney"))
    fri = dt.datetime(2026, 11, 6, 14, 0, tzinfo=UTC)  # Sat 7 Nov 01:00 in Sydney
    assert deadline(fri, au) == dt.datetime(2026, 11, 13, 13, 0, tzinfo=UTC)  # end of Fri 13th


@pytest.mark.parametrize("name", ["ledger.db", "ledger.db-wal", "ledger.db-shm"])
def test_the_report_never_overwrites_the_ledger(cli, example_copy, name):
    before = example_copy.read_bytes()
    target = example_copy.with_name(name)
    run = cli(["report", "--ledger", str(example_copy), "--repo", str(ACME), "-o", str(target)])
    assert run.code == 2
    assert "is the ledger's own file" in run.err
    assert example_copy.read_bytes() == before


def test_a_report_that_cannot_be_written_leaves_the_earlier_one(
    cli, example_ledger, tmp_path, monkeypatch
):
    """The page is written beside its place and moved there whole: a full disk leaves the
    earlier report as it was, and no half-written file."""
    import errno
    import os

    page = tmp_path / "report.html"
    page.write_text("the earlier report", "utf-8")

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    run = cli(["report", "--ledger", str(example_ledger), "--repo", str(ACME), "-o", str(page)])
    assert run.code == 2
    assert "cannot write -o" in run.err and "No space left" in run.err
    assert page.read_text("utf-8") == "the earlier report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_log SET data = 'not json' WHERE seq = 300",
        'UPDATE audit_log SET data = replace(data, \'"market":"US"\', \'"market":7\') WHERE seq = 300',
        'UPDATE audit_log SET data = replace(data, \'"reasons":[]\', \'"reasons":"x"\') WHERE seq = 300',
        "UPDATE audit_log SET send_us = 'soon' WHERE seq = 300",
    ],
)
def test_entries_the_gate_did_not_write_still_give_a_page_that_says_so(
    cli, example_copy, tmp_path, change
):
    conn = sqlite3.connect(example_copy)
    conn.execute(change)
    conn.commit()
    conn.close()
    for fmt in ("html", "json"):
        out = tmp_path / f"r.{fmt}"
        run = cli(
            [
                "report",
                "--ledger",
                str(example_copy),
                "--repo",
                str(ACME),
                "--format",
                fmt,
                "-o",
                str(out),
            ]
        )
        assert run.code == 1, run.err
        assert "TRAIL BROKEN" in run.err
        assert "Traceback" not in run.err
        text = out.read_text("utf-8")
        assert "entry 300" in text or '"first_bad": 300' in text


def test_a_ledger_of_schema_2_is_refused_with_what_to_do(cli, tmp_path):
    import shutil

    from tests.conftest import ROOT

    old = tmp_path / "v2.db"
    shutil.copy(ROOT / "tests" / "fixtures" / "ledger-v2.db", old)
    run = cli(["report", "--ledger", str(old), "--repo", str(ACME)])
    assert run.code == 2
    assert "schema 2" in run.err and "compliance ledger upgrade" in run.err
