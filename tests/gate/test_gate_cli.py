"""The gate's commands, as a person runs them against the bundled example repo."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
US = str(ROOT / "examples" / "us")
TO = "+14155550123"
AT = "2026-11-26T18:00:00Z"  # 10:00 in San Francisco


def test_check_grant_and_audit_round_trip(cli, tmp_path):
    ledger = ["--ledger", str(tmp_path / "l.db"), "--repo", US]
    run = cli(["check", "--to", TO, "--template", "10dlc-weekend-sale", "--at", AT, *ledger])
    assert run.code == 1
    assert json.loads(run.out)["reasons"][0]["code"] == "consent.missing"
    run = cli(
        [
            "consent",
            "grant",
            "--subject",
            TO,
            "--channel",
            "sms",
            "--scope",
            "us-sms-offers",
            "--source",
            "web-checkout",
            "--at",
            "2026-11-25T18:00:00Z",
            "--evidence",
            '{"ip": "198.51.100.7"}',
            *ledger,
        ]
    )
    assert run.code == 0 and "granted" in run.out
    run = cli(["check", "--to", TO, "--template", "10dlc-weekend-sale", "--at", AT, *ledger])
    assert run.code == 0 and json.loads(run.out)["outcome"] == "allow"
    run = cli(
        [
            "consent",
            "inbound",
            "--subject",
            TO,
            "--text",
            "STOP",
            "--sender",
            "trailhead-10dlc",
            "--at",
            AT,
            *ledger,
        ]
    )
    assert json.loads(run.out)["action"] == "opt_out"
    run = cli(["consent", "show", TO, "--ledger", str(tmp_path / "l.db")])
    assert [json.loads(line)["action"] for line in run.out.splitlines()] == ["grant", "revoke"]
    run = cli(["audit", "verify", "--ledger", str(tmp_path / "l.db")])
    assert run.code == 0 and "intact: 4 entries" in run.out
    out = tmp_path / "trail.jsonl"
    cli(["audit", "export", "--ledger", str(tmp_path / "l.db"), "-o", str(out)])
    kinds = [json.loads(line)["kind"] for line in out.read_text().splitlines()]
    assert kinds == ["decision", "consent.grant", "decision", "inbound"]


def test_bad_input_is_a_usage_error_and_writes_nothing(cli, tmp_path):
    ledger = ["--ledger", str(tmp_path / "l.db"), "--repo", US]
    for args in (
        ["--scope", "nope", "--at", AT],
        ["--scope", "us-sms-offers", "--at", "2026-11-26T18:00:00"],
    ):
        run = cli(
            [
                "consent",
                "grant",
                "--subject",
                TO,
                "--channel",
                "sms",
                "--source",
                "x",
                *args,
                *ledger,
            ]
        )
        assert run.code == 2, run.err
    assert "intact: 0 entries" in cli(["audit", "verify", "--ledger", str(tmp_path / "l.db")]).out


def test_dnc_import_reports_bad_rows_and_imports_nothing(cli, tmp_path):
    good = tmp_path / "list.csv"
    good.write_text("number,added_at\n+14155550123,2026-01-01\n+13055550123,\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("+14155550123\nnot-a-number\n")
    ledger = ["--ledger", str(tmp_path / "l.db")]
    run = cli(["dnc", "import", "internal", str(bad), *ledger])
    assert run.code == 2 and "line 2" in run.err
    run = cli(["dnc", "import", "internal", str(good), *ledger])
    assert run.code == 0 and "imported 2 number(s)" in run.out
    run = cli(
        [
            "check",
            "--to",
            "+13055550123",
            "--template",
            "10dlc-weekend-sale",
            "--at",
            AT,
            "--repo",
            US,
            *ledger,
        ]
    )
    assert "dnc.listed" in [r["code"] for r in json.loads(run.out)["reasons"]]


def test_pause_resume_and_bundle(cli, tmp_path):
    bundle = tmp_path / "bundle.json"
    run = cli(["bundle", "-o", str(bundle), "--repo", US])
    assert run.code == 0 and "template(s) with lint errors" in run.out
    ledger = ["--ledger", str(tmp_path / "l.db"), "--bundle", str(bundle)]
    assert (
        cli(
            [
                "pause",
                "--template",
                "10dlc-order-shipped",
                "--reason",
                "copy review",
                "--by",
                "jane@example.com",
                *ledger,
            ]
        ).code
        == 0
    )
    run = cli(["check", "--to", TO, "--template", "10dlc-order-shipped", "--at", AT, *ledger])
    assert [r["code"] for r in json.loads(run.out)["reasons"]] == ["paused"]
    cli(["resume", "--template", "10dlc-order-shipped", "--reason", "ok", "--by", "jane", *ledger])
    run = cli(["check", "--to", TO, "--template", "10dlc-order-shipped", "--at", AT, *ledger])
    assert run.code == 0
    # a template that fails its lint rules is refused from the bundle
    run = cli(["check", "--to", TO, "--template", "flash-sale", "--at", AT, *ledger])
    assert "template.lint" in [r["code"] for r in json.loads(run.out)["reasons"]]
    bundle.write_text(bundle.read_text().replace("10dlc-order-shipped", "10dlc-order-shipper"))
    assert cli(["check", "--to", TO, "--template", "x", *ledger]).code == 2
