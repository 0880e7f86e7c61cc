"""Tampering with the ledger: every change to the audit trail, or to the consent events and
pauses its entries vouch for, makes `audit verify` fail and name the first bad entry. With
COMPLIANCE_AUDIT_KEY set, rewriting the whole chain consistently is found as well."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from compliance import Gate, Send
from compliance.cli import main
from compliance.gate import audit
from compliance.gate.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
US = ROOT / "examples" / "us"
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)
TO = "+14155550123"


def build(path: Path) -> None:
    """1: grant, 2: revoke, 3: grant, 4-6: decisions, 7: pause, 8: STOP (a consent event)."""
    gate = Gate.open(repo=US, ledger=path)
    minute = dt.timedelta(minutes=1)
    consent = {"subject": TO, "channel": "sms", "scope": "us-sms-offers", "source": "web"}
    gate.ledger.grant(**consent, at=AT - 3 * minute)
    gate.ledger.revoke(**consent, at=AT - 2 * minute)
    gate.ledger.grant(**consent, at=AT - minute, evidence={"ip": "198.51.100.7"})
    for i in range(3):
        gate.check(Send(to=TO, template="10dlc-weekend-sale", at=AT + i * minute))
    gate.pause(template="10dlc-weekend-sale", reason="legal review", by="jane@example.com", at=AT)
    gate.ledger.inbound(subject=TO, text="STOP", channel="sms", at=AT + 10 * minute)
    gate.close()


def tamper(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(sql, args)
    if sql.startswith("UPDATE audit_log SET seq = -seq"):  # finish the swap
        conn.execute("UPDATE audit_log SET seq = 9 WHERE seq = -4")
        conn.execute("UPDATE audit_log SET seq = 4 WHERE seq = -5")
        conn.execute("UPDATE audit_log SET seq = 5 WHERE seq = 9")
    conn.close()


def verdict(path: Path) -> audit.Verdict:
    db = Ledger(path, readonly=True)
    try:
        return db.verify()
    finally:
        db.close()


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY", raising=False)
    path = tmp_path / "ledger.db"
    build(path)
    assert verdict(path).ok and verdict(path).entries == 8
    return path


@pytest.mark.parametrize(
    "sql, first_bad, problem",
    [
        ("UPDATE audit_log SET data = replace(data, 'allow', 'deny') WHERE seq = 5", 5, "edited"),
        ("UPDATE audit_log SET outcome = 'deny', at = '2026-01-01' WHERE seq = 4", 4, "edited"),
        ("DELETE FROM audit_log WHERE seq = 6", 6, "deleted or inserted"),
        # the newest entry, a STOP: its consent event is left naming an entry that is gone
        ("DELETE FROM audit_log WHERE seq = 8", 8, "not in the trail"),
        # two entries swap places
        ("UPDATE audit_log SET seq = -seq WHERE seq IN (4, 5)", None, None),
        (
            "INSERT INTO audit_log SELECT 100, at, at_us, kind, subject, outcome, purpose, data, "
            "prev_hash, hash, mac FROM audit_log WHERE seq = 3",
            9,
            "deleted or inserted",
        ),
        (
            "UPDATE consent_events SET action = 'grant' WHERE audit_seq = 2",
            2,
            "consent_events rows were edited",
        ),
        ("DELETE FROM consent_events WHERE audit_seq = 2", 2, "consent_events rows were edited"),
        (
            "UPDATE consent_events SET evidence = '{}' WHERE audit_seq = 3",
            3,
            "consent_events rows were edited",
        ),
        (
            "UPDATE consent_events SET at_us = at_us + 1 WHERE audit_seq = 8",
            8,
            "consent_events rows were edited",
        ),
        (
            "INSERT INTO consent_events (subject, channel, scope, action, source, at, at_us, "
            "capture_digest, evidence, audit_seq) SELECT subject, channel, scope, 'grant', source, "
            "at, at_us, capture_digest, evidence, 5 FROM consent_events WHERE audit_seq = 3",
            5,
            "vouches for no such consent_events row",
        ),
        ("UPDATE pauses SET reason = 'nothing to see'", 7, "pauses rows were edited"),
    ],
)
def test_each_change_is_found_and_the_first_bad_entry_named(ledger, sql, first_bad, problem):
    tamper(ledger, sql)
    found = verdict(ledger)
    if first_bad is None:  # the swap: entry 4 now holds what 5 held
        first_bad, problem = 4, "does not follow"
    assert not found.ok
    assert found.first_bad == first_bad, found
    assert problem in found.problem


def test_cutting_the_newest_decisions_needs_a_copy_of_the_head(ledger):
    # a trail cut after its last entry that wrote rows is consistent so far: only a copy of
    # the head (an earlier export, the count an auditor noted) shows it
    tamper(ledger, "DELETE FROM consent_events WHERE audit_seq = 8")
    tamper(ledger, "DELETE FROM audit_log WHERE seq = 8")
    found = verdict(ledger)
    assert found.ok and found.entries == 7


def test_the_command_exits_1_and_names_the_entry(ledger, capsys):
    tamper(ledger, "UPDATE consent_events SET action = 'grant' WHERE audit_seq = 2")
    assert main(["audit", "verify", "--ledger", str(ledger)]) == 1
    out = capsys.readouterr().out
    assert "broken at entry 2" in out and "consent_events" in out


def rewrite_chain(path: Path, edit_seq: int) -> None:
    """What an attacker with the file does: edit an entry, then recompute every hash after
    it so that the chain is consistent again (without the audit key, the MACs stay stale)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "UPDATE audit_log SET data = replace(data, 'allow', 'deny'), outcome = 'deny' "
        "WHERE seq = ?",
        (edit_seq,),
    )
    prev = audit.GENESIS
    for seq, at, kind, subject, data in conn.execute(
        "SELECT seq, at, kind, subject, data FROM audit_log ORDER BY seq"
    ).fetchall():
        digest = audit.entry_hash(prev, seq, at, kind, subject, data)
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq)
        )
        prev = digest
    conn.close()


def test_without_a_key_a_consistent_rewrite_passes_the_chain(ledger):
    rewrite_chain(ledger, 5)
    assert verdict(ledger).ok  # why COMPLIANCE_AUDIT_KEY exists


def test_with_the_audit_key_a_consistent_rewrite_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "a secret the attacker does not have")
    path = tmp_path / "signed.db"
    build(path)
    assert verdict(path).ok
    rewrite_chain(path, 5)
    found = verdict(path)
    assert not found.ok and found.first_bad == 5 and "signature" in found.problem
    # and the wrong key is refused from the first entry on
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "another key")
    found = verdict(path)
    assert not found.ok and found.first_bad == 1
