"""Ledgers of earlier schemas: verified under their own rules, then migrated in place, with every
opt-out, review and list entry kept, and from then on held to this version's verify.

tests/fixtures/ledger-v2.db was written by compliance 0.1 at schema 2 (commit f69af4f) against
examples/us: grants, a STOP, an email revoke in mixed case, an open and a resolved review, a
do-not-contact list with a mixed-case address, a registry check, a reassigned number, a pause
and its resume, and four decisions, dated up to 2026-11-20T17:00Z.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pytest

from compliance import Gate, Send
from compliance.gate.ledger import Ledger, LedgerConfigError
from compliance.gate.schema import SCHEMA_VERSION
from tests.conftest import ROOT, Clock

US = ROOT / "examples" / "us"
FIXTURE = ROOT / "tests" / "fixtures" / "ledger-v2.db"
T0 = dt.datetime(2026, 11, 20, 17, 0, tzinfo=dt.timezone.utc)  # 12:00 in New York
SALE = "10dlc-weekend-sale"


@pytest.fixture
def old(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    shutil.copyfile(FIXTURE, path)
    return path


def _open(path: Path) -> Gate:
    return Gate.open(repo=US, ledger=path, clock=Clock(T0 + dt.timedelta(hours=1)))


def test_a_schema_2_ledger_verifies_read_only_under_its_own_rules(old):
    verdict = Ledger(old, readonly=True).verify()
    assert verdict.ok and verdict.entries == 16 and verdict.legacy == 16


def test_a_schema_2_ledger_is_migrated_and_keeps_every_opt_out(old):
    gate = _open(old)
    conn = gate._db.conn
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    kinds = [row[0] for row in conn.execute("SELECT kind FROM audit_log ORDER BY seq")]
    assert kinds[-1] == "ledger.migrate" and len(kinds) == 17
    verdict = gate._db.verify()
    assert verdict.ok, verdict
    assert verdict.legacy == 16 and "before schema 3" in str(verdict)
    at = T0 + dt.timedelta(hours=1)
    # the STOP, the open review and the reassigned number still hold
    assert gate.check(Send(to="+14155550123", template=SALE, at=at)).codes == ["consent.revoked"]
    gate.ledger.grant(
        subject="+12125550123", channel="sms", scope="us-sms-offers", source="web", at=at
    )
    held = gate.check(Send(to="+12125550123", template=SALE, at=at))
    assert held.codes == ["consent.revoked"] and "review" in held.reasons[0].message
    # the three sends allowed an hour before the migration still count for Florida's cap
    assert gate.check(Send(to="+13055550123", template=SALE, at=at)).codes == ["frequency_cap"]
    assert gate.check(Send(to="+13055550123", template=SALE, at=at + dt.timedelta(days=1))).allowed
    # email addresses are compared case-insensitively from now on: the old entries too
    assert gate._db.dnc_listed("carol@example.com") == ["internal"]
    assert [e["action"] for e in gate.ledger.history("bob.smith@example.com")] == ["revoke"]
    # the resolved review stays resolved, with who resolved it
    [review] = gate.ledger.reviews(include_resolved=True)[1:]
    assert review["resolved"] and review["by"] == "jane@example.com"
    assert gate._db.verify().ok
    gate.close()
    again = _open(old)  # opening again migrates nothing more
    assert again._db.conn.execute(
        "SELECT COUNT(*) FROM audit_log WHERE kind = 'ledger.migrate'"
    ).fetchone() == (1,)
    again.close()


def test_after_migration_the_old_rows_are_held_to_the_migration_entry(old):
    gate = _open(old)
    gate._db.conn.execute(
        "UPDATE consent_events SET action = 'grant' WHERE action = 'revoke' AND id = (SELECT MIN(id) FROM consent_events WHERE action = 'revoke')"
    )
    verdict = gate._db.verify()
    assert not verdict.ok and verdict.first_bad == 17 and "consent_events" in verdict.problem
    gate.close()


def test_a_schema_1_ledger_is_migrated_too(old):
    conn = sqlite3.connect(old, isolation_level=None)
    conn.executescript(
        "DROP INDEX consent_latest; DROP INDEX reviews_open;"
        "CREATE INDEX consent_by_subject ON consent_events (subject, channel, at_us);"
        "ALTER TABLE reviews DROP COLUMN resolution; ALTER TABLE reviews DROP COLUMN resolved_seq;"
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    conn.close()
    gate = _open(old)
    assert gate._db.verify().ok
    [_, review] = gate.ledger.reviews(include_resolved=True)
    assert review["resolved"] and review["resolution"] == "unrecorded"
    gate.close()


def test_an_old_ledger_that_does_not_verify_is_not_migrated(old):
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute("DELETE FROM consent_events WHERE action = 'revoke'")
    conn.close()
    with pytest.raises(LedgerConfigError, match="does not verify"):
        _open(old)
    conn = sqlite3.connect(old)  # and it is left as it was
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    conn.close()


def test_a_newer_schema_is_refused(old):
    gate = _open(old)
    gate.close()
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(LedgerConfigError, match="schema version 99"):
        _open(old)
    with pytest.raises(LedgerConfigError, match="schema version 99"):
        Ledger(old, readonly=True)
