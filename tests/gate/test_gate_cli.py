"""The gate's commands, as a person runs them against the bundled example repo."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.backends import sql
from tests.readonly import read_only

ROOT = Path(__file__).resolve().parents[2]
US = str(ROOT / "examples" / "us")
TO = "+14155550123"
AT = "2026-11-26T18:00:00Z"  # 10:00 in San Francisco
NOW = dt.datetime(2026, 11, 26, 17, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def _clock(frozen):
    frozen(NOW)


@pytest.fixture
def db(cli, ledger_at) -> Path | str:
    """A new ledger, made by `ledger init`: a file, or a PostgreSQL database's URL."""
    run = cli(["ledger", "init", "--ledger", str(ledger_at)])
    assert run.code == 0 and "created ledger" in run.out
    return ledger_at


def test_check_grant_and_audit_round_trip(cli, db, tmp_path):
    ledger = ["--ledger", str(db), "--repo", US]
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
            *ledger,
        ]
    )
    assert json.loads(run.out)["action"] == "opt_out"
    # the STOP came in after the send was decided; a send for the same time decided now is not
    run = cli(["check", "--to", TO, "--template", "10dlc-weekend-sale", "--at", AT, *ledger])
    assert run.code == 1 and json.loads(run.out)["reasons"][0]["code"] == "consent.revoked"
    run = cli(["consent", "show", TO, "--ledger", str(db)])
    assert [json.loads(line)["action"] for line in run.out.splitlines()] == ["grant", "revoke"]
    run = cli(["audit", "verify", "--ledger", str(db)])
    assert run.code == 0 and "intact: 6 entries" in run.out
    out = tmp_path / "trail.jsonl"
    cli(["audit", "export", "--ledger", str(db), "-o", str(out)])
    kinds = [json.loads(line)["kind"] for line in out.read_text().splitlines()]
    assert kinds == ["ledger.init", "decision", "consent.grant", "decision", "inbound", "decision"]
    run = cli(["ledger", "status", "--ledger", str(db), "--json"])
    status = json.loads(run.out)
    assert status["entries"] == 6 and status["kinds"]["decision"] == 3
    assert status["backend"] == ("postgresql" if "://" in str(db) else "sqlite")
    assert status["chains"] == (16 if "://" in str(db) else 1)


def test_no_command_but_ledger_init_creates_a_ledger(cli, tmp_path, pg_database):
    missing = tmp_path / "typo.db"
    commands = [
        ["check", "--to", TO, "--template", "10dlc-weekend-sale", "--repo", US],
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
            "x",
            "--repo",
            US,
        ],
        ["consent", "show", TO],
        ["consent", "reviews"],
        ["pause", "--template", "10dlc-weekend-sale", "--reason", "r", "--by", "b", "--repo", US],
        ["audit", "verify"],
        ["audit", "export"],
    ]
    for args in commands:
        run = cli([*args, "--ledger", str(missing)])
        assert run.code == 2, (args, run)
        assert "compliance ledger init" in run.err or "there is no ledger" in run.err, run.err
        assert "Usage:" not in run.err and "Traceback" not in run.err
    assert not missing.exists()
    for args in commands:  # an empty PostgreSQL database is not given tables either
        run = cli([*args, "--ledger", pg_database])
        assert run.code == 2 and "holds no ledger" in run.err, (args, run)
    assert sql(pg_database, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")  # a zero-byte file is not a ledger either
    run = cli(
        [
            "check",
            "--to",
            TO,
            "--template",
            "10dlc-weekend-sale",
            "--repo",
            US,
            "--ledger",
            str(empty),
        ]
    )
    assert run.code == 2 and "empty file" in run.err
    for args in commands:  # and every command's help says so
        words = [a for a in args[:2] if not a.startswith("-")]
        assert "Never created here" in " ".join(cli([*words, "--help"]).out.split()), words
    assert "Created if missing" in " ".join(cli(["ledger", "init", "--help"]).out.split())


def test_commands_find_the_repo_and_its_ledger_from_a_subfolder(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("COMPLIANCE_DB", raising=False)
    repo = tmp_path / "repo"
    shutil.copytree(US, repo)
    assert cli(["ledger", "init"], cwd=repo).code == 0
    assert (repo / ".compliance" / "ledger.db").is_file()
    args = ["consent", "inbound", "--subject", TO, "--text", "STOP"]
    assert cli(args, cwd=repo).code == 0
    run = cli(
        ["check", "--to", TO, "--template", "10dlc-order-shipped"], cwd=repo / "templates" / "clean"
    )
    assert json.loads(run.out)["reasons"][0]["code"] == "consent.revoked"  # the same ledger
    assert not (repo / "templates" / "clean" / ".compliance").exists()
    # outside any template repo: said so, nothing read or made
    run = cli(["check", "--to", TO, "--template", "10dlc-order-shipped"], cwd=tmp_path)
    assert run.code == 2 and "no template repo found" in run.err
    run = cli(["check", "--to", TO, "--template", "x", "--repo", str(tmp_path / "nope")], cwd=repo)
    assert run.code == 2 and "does not exist" in run.err


def test_bad_input_is_exit_2_in_our_words_and_writes_nothing(cli, db):
    ledger = ["--ledger", str(db), "--repo", US]
    grant = ["consent", "grant", "--subject", TO, "--channel", "sms", "--source", "x"]
    cases = [
        ([*grant, "--scope", "us-sms-offer"], "did you mean 'us-sms-offers'"),
        ([*grant, "--scope", "us-sms-offers", "--at", "2026-11-26T18:00:00"], "has no offset"),
        ([*grant, "--scope", "us-sms-offers", "--at", "tomorrow"], "not an ISO 8601 time"),
        ([*grant, "--scope", "us-sms-offers", "--at", "9999-01-01T00:00:00Z"], "outside the years"),
        (
            [
                "consent",
                "grant",
                "--subject",
                TO,
                "--channel",
                "fax",
                "--source",
                "x",
                "--scope",
                "us-sms-offers",
            ],
            "unknown channel",
        ),
        (
            [
                "consent",
                "grant",
                "--subject",
                TO,
                "--channel",
                "email",
                "--source",
                "x",
                "--scope",
                "us-sms-offers",
            ],
            "not an email address",
        ),
        ([*grant, "--scope", "us-sms-offers", "--evidence", "[1]"], "JSON object"),
        (
            ["check", "--to", TO, "--template", "10dlc-weekend-sale", "--channel", "fax"],
            "not a channel",
        ),
        (
            [
                "check",
                "--to",
                TO,
                "--template",
                "10dlc-weekend-sale",
                "--timezone",
                "Europe/Pariss",
            ],
            "IANA",
        ),
        (
            ["pause", "--template", "10dlc-weekend-sal", "--reason", "r", "--by", "b"],
            "did you mean '10dlc-weekend-sale'",
        ),
        (["pause", "--market", "ZZ", "--reason", "r", "--by", "b"], "no market 'ZZ'"),
        (
            ["resume", "--template", "10dlc-weekend-sale", "--reason", "r", "--by", "b"],
            "is not paused",
        ),
        (["pause", "--reason", "r", "--by", "b"], "exactly one"),
    ]
    for args, said in cases:
        run = cli([*args, *ledger])
        assert run.code == 2, (args, run)
        assert said in run.err, (args, run.err)
        assert "Usage:" not in run.err and "internal error" not in run.err, run.err
    assert "intact: 1 entries" in cli(["audit", "verify", "--ledger", str(db)]).out


def test_dnc_import_reports_bad_rows_and_imports_nothing(cli, db, tmp_path):
    good = tmp_path / "list.csv"
    good.write_text("number,added_at\n+14155550123,2026-01-01\n+13055550123,\nCarol@Example.com,\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("+14155550123\nnot-a-number\n")
    ledger = ["--ledger", str(db)]
    run = cli(["dnc", "import", "internal", str(bad), *ledger])
    assert run.code == 2 and "line 2" in run.err and "Usage:" not in run.err
    run = cli(["dnc", "import", "us", str(good), "--registry", "--market", "US", *ledger])
    assert run.code == 2 and "line 4" in run.err and "registry lists numbers" in run.err
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("number\n+14155550123\n+1415555012\xe9\n".encode("latin-1"))
    run = cli(["dnc", "import", "internal", str(latin1), *ledger])
    assert run.code == 2 and "line 3 is not UTF-8" in run.err
    run = cli(["dnc", "import", "internal", str(good), *ledger])
    assert run.code == 0 and "imported 3 entries" in run.out
    check = ["check", "--template", "10dlc-weekend-sale", "--at", AT, "--repo", US, *ledger]
    run = cli(["check", "--to", "+13055550123", *check[1:]])
    assert "dnc.listed" in [r["code"] for r in json.loads(run.out)["reasons"]]
    assert cli(["audit", "verify", *ledger]).code == 0


def test_consent_import_checks_every_row_first(cli, db, tmp_path):
    ledger = ["--ledger", str(db), "--repo", US]
    csv_file = tmp_path / "consents.csv"
    csv_file.write_text(
        "subject,channel,scope,action,source,at\n"
        f"{TO},sms,us-sms-offers,grant,web,2026-11-20T10:00:00Z\n"
        f"{TO},sms,us-sms-offer,grant,web,2026-11-20T10:00:00Z\n"
        f"{TO},sms,,revoke,call,2026-11-21\n"
    )
    run = cli(["consent", "import", str(csv_file), *ledger])
    assert run.code == 2 and "line 3" in run.err and "did you mean" in run.err
    assert "line 4" in run.err and "no offset" in run.err
    csv_file.write_text("subject,channel\n+14155550123,sms\n")
    run = cli(["consent", "import", str(csv_file), *ledger])
    assert run.code == 2 and "header needs" in run.err
    csv_file.write_text(  # a cell over the csv module's limit
        "subject,channel,scope,action,source,at\n"
        f"{TO},sms,us-sms-offers,grant,{'x' * 200_000},2026-11-20T10:00:00Z\n"
    )
    run = cli(["consent", "import", str(csv_file), *ledger])
    assert run.code == 2 and "line 2" in run.err and "field larger" in run.err
    assert "intact: 1 entries" in cli(["audit", "verify", "--ledger", str(db)]).out


def test_csv_export_neutralises_formulas_and_an_unwritable_output_is_said(cli, db, tmp_path):
    ledger = ["--ledger", str(db)]
    cli(
        [
            "consent",
            "revoke",
            "--subject",
            "=HYPERLINK(1)@evil.example",
            "--channel",
            "email",
            "--source",
            '=HYPERLINK("http://x")',
            "--repo",
            US,
            *ledger,
        ]
    )
    out = tmp_path / "trail.csv"
    assert cli(["audit", "export", "--format", "csv", "-o", str(out), *ledger]).code == 0
    text = out.read_text()
    assert "'=hyperlink(1)@evil.example" in text
    assert ",=" not in text and "\n=" not in text
    run = cli(["audit", "export", "-o", str(tmp_path / "no" / "such" / "dir" / "x.csv"), *ledger])
    assert run.code == 2 and "cannot write -o" in run.err
    if Path("/dev/full").exists():  # a disk that fills up while writing
        run = cli(["audit", "export", "-o", "/dev/full", *ledger])
        assert run.code == 2 and "cannot write -o /dev/full" in run.err


@pytest.mark.parametrize("with_wal", [False, True], ids=["checkpointed", "with-its-wal"])
def test_verify_and_export_work_on_a_read_only_copy(cli, tmp_path, with_wal):
    db = tmp_path / "copy.db"  # a file's read-only copy: a SQLite matter
    assert cli(["ledger", "init", "--ledger", str(db)]).code == 0
    ledger = ["--ledger", str(db), "--repo", US]
    reader = sqlite3.connect(db)  # held open, the WAL outlives the command that wrote to it
    reader.execute("SELECT 1 FROM meta").fetchall()
    cli(
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
            "web",
            *ledger,
        ]
    )
    if not with_wal:
        reader.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = tmp_path / "auditor"
    copy.mkdir()
    for name in os.listdir(db.parent):
        if name.startswith(db.name) and not name.endswith("-shm"):
            shutil.copy(db.parent / name, copy / name)
    reader.close()
    wal = copy / f"{db.name}-wal"
    assert (wal.exists() and wal.stat().st_size > 0) == with_wal
    with read_only([*copy.iterdir(), copy]):
        with pytest.raises(OSError):  # truly read-only: not even -shm can be made there
            (copy / "probe").write_text("x")
        run = cli(["audit", "verify", "--ledger", str(copy / db.name)])
        assert run.code == 0 and "intact: 2 entries" in run.out, run
        run = cli(["audit", "export", "--ledger", str(copy / db.name)])
        assert run.code == 0 and len(run.out.splitlines()) == 2


def test_verify_says_what_it_did_not_check(cli, db, tmp_path, pg_database_factory, monkeypatch):
    run = cli(["audit", "verify", "--ledger", str(db)])
    assert "not signed" in run.out
    signed = pg_database_factory() if "://" in str(db) else tmp_path / "signed.db"
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "k")
    cli(["ledger", "init", "--ledger", str(signed)])
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY")
    run = cli(["audit", "verify", "--json", "--ledger", str(signed)])
    verdict = json.loads(run.out)
    assert verdict["ok"] and verdict["signed"] == 1 and not verdict["signatures_checked"]
    assert any("NOT checked" in note for note in verdict["notes"])
    for empty in ("", " "):  # an unset secret in a deployment: said, never a tamper alarm
        monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", empty)
        run = cli(["audit", "verify", "--ledger", str(signed)])
        assert run.code == 2 and "COMPLIANCE_AUDIT_KEY is set but empty" in run.err


def test_a_dropped_table_is_a_broken_trail_not_an_internal_error(cli, db):
    sql(db, "DROP TABLE reviews")
    run = cli(["audit", "verify", "--ledger", str(db)])
    assert run.code == 1 and "table 'reviews' is missing" in run.out


def test_pause_resume_and_bundle(cli, db, tmp_path):
    bundle = tmp_path / "bundle.json"
    run = cli(["bundle", "-o", str(bundle), "--repo", US])
    assert run.code == 0 and "template(s) with lint errors" in run.out
    ledger = ["--ledger", str(db), "--bundle", str(bundle)]
    pause = ["pause", "--template", "10dlc-order-shipped", "--reason", "copy review"]
    assert cli([*pause, "--by", "jane@example.com", *ledger]).code == 0
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


def test_every_command_that_writes_leaves_it_under_a_checkpoint(cli, pg_database):
    # a command closes its ledger as it ends: on PostgreSQL that writes a checkpoint of what it
    # appended, so no entry a command wrote is left where cutting it would go unseen
    ledger = ["--ledger", pg_database]
    assert cli(["ledger", "init", *ledger]).code == 0
    grant = ["--subject", TO, "--channel", "sms", "--scope", "us-sms-offers", "--source", "web"]
    assert cli(["consent", "grant", *grant, *ledger, "--repo", US]).code == 0
    run = cli(
        ["check", "--to", TO, "--template", "10dlc-weekend-sale", "--at", AT, *ledger, "--repo", US]
    )
    assert run.code in (0, 1)
    found = json.loads(cli(["audit", "verify", "--json", *ledger]).out)
    assert found["ok"] and found["entries"] == 3
    assert found["after_checkpoint"] == 0 and found["checkpoints"] >= 2


@pytest.mark.parametrize(
    "url",
    [
        "POSTGRESQL://gate:s3cret@db.internal/consent",
        "postgresql+psycopg://gate:s3cret@db.internal/consent",
        "postgresql:/gate:s3cret@db.internal/consent",
        "mysql://gate:s3cret@db.internal/consent",
        "host=db.internal password=s3cret dbname=consent",
        " postgresql://gate:s3cret@db.internal/consent",
        "postgresql//gate:s3cret@db.internal/consent",
    ],
)
def test_a_mistyped_url_is_refused_everywhere_and_never_becomes_a_file(
    cli, tmp_path, monkeypatch, url
):
    from compliance import Gate
    from compliance.gate.ledger import LedgerConfigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(LedgerConfigError, match="is not a ledger") as raised:
        Gate.open(repo=US, ledger=url, create=True)
    assert "s3cret" not in str(raised.value)
    run = cli(["ledger", "init", "--ledger", url])
    assert run.code == 2 and "s3cret" not in run.err + run.out
    monkeypatch.setenv("COMPLIANCE_DB", url)
    run = cli(["ledger", "init"])
    assert run.code == 2 and "is not a ledger" in run.err and "s3cret" not in run.err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing was created


def test_file_names_that_merely_start_like_a_scheme_are_files(tmp_path):
    from compliance.gate.ledger.pg import looks_like_url

    for name in ("postgres-ledger.db", "ledgers/postgresql.db", "my ledger.db", "c.db"):
        assert not looks_like_url(name) and not looks_like_url(tmp_path / name), name


def test_passwords_are_never_shown():
    from compliance.gate.ledger import describe

    for url in (
        "postgresql://gate:s3cret@db/consent",
        "postgresql://gate:s3/cr@et@db/consent",
        "postgresql://gate@db/consent?sslmode=require&password=s3cret",
        "postgresql://gate@db/consent?PASSWORD=s3cret",
    ):
        assert "s3" not in describe(url), describe(url)
