"""Faults at send time: the ledger file missing, read-only, locked by another writer past the
busy timeout, corrupted, on a full disk. While the fault lasts every answer is deny with
ledger.error (never allow); once it is gone the gate recovers on its own, and nothing written
before the fault is lost."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from compliance import Gate, Send
from compliance.cli import main
from compliance.gate.ledger import Ledger
from tests.readonly import read_only

ROOT = Path(__file__).resolve().parents[2]
US = ROOT / "examples" / "us"
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)  # 10:00 in California
TO = "+14155550123"
SALE = Send(to=TO, template="10dlc-weekend-sale", at=AT)


@pytest.fixture
def gate(tmp_path):
    opened = Gate.open(
        repo=US, ledger=tmp_path / "ledger.db", busy_timeout=0.2, create=True, clock=lambda: AT
    )
    opened.ledger.grant(
        subject=TO, channel="sms", scope="us-sms-offers", source="web-checkout", at=AT
    )
    assert opened.check(SALE).allowed
    yield opened
    opened.close()


def during_fault(gate: Gate, count: int = 3) -> list[str]:
    """Every answer while the fault lasts: deny, ledger.error, no audit id."""
    messages = []
    for _ in range(count):
        decision = gate.check(SALE)
        assert (decision.outcome, decision.codes, decision.id) == ("deny", ["ledger.error"], None)
        messages.append(decision.reasons[0].message)
    return messages


def recovered(gate: Gate, entries_before: int) -> None:
    """Allowed again, and the trail holds everything from before the fault."""
    decision = gate.check(SALE)
    assert decision.allowed and decision.id == entries_before + 1
    verdict = Ledger(gate._db.path, readonly=True).verify()
    assert verdict.ok and verdict.entries == entries_before + 1


def checkpoint(path: Path) -> None:
    """Move everything from the WAL into the database file (as a backup would be taken)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_missing_file_denies_is_not_recreated_and_recovers_when_restored(gate, tmp_path):
    path = gate._db.path
    checkpoint(path)
    aside = tmp_path / "backup.db"
    path.rename(aside)
    messages = during_fault(gate)
    assert "missing" in messages[0] and "restore it" in messages[0]
    assert not path.exists()  # an empty ledger would forget every opt-out
    aside.rename(path)
    recovered(gate, 3)


def test_read_only_ledger_denies_and_recovers(gate):
    path = gate._db.path
    checkpoint(path)
    files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    with read_only(files):
        during_fault(gate)
    recovered(gate, 3)


def test_locked_past_the_busy_timeout_denies_then_recovers(gate):
    other = sqlite3.connect(gate._db.path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        messages = during_fault(gate, count=2)
        assert "locked" in messages[0]
    finally:
        other.execute("ROLLBACK")
        other.close()
    recovered(gate, 3)


@pytest.mark.parametrize("how", ["overwritten in place", "replaced"])
def test_corrupted_file_denies_and_recovers_when_restored(gate, tmp_path, how):
    path = gate._db.path
    checkpoint(path)
    good = path.read_bytes()
    if how == "replaced":
        junk = tmp_path / "junk.db"
        junk.write_bytes(os.urandom(len(good)))
        junk.replace(path)
    else:
        with open(path, "r+b") as handle:
            handle.write(os.urandom(len(good)))
    messages = during_fault(gate)
    assert "not a database" in messages[-1] or "malformed" in messages[-1]
    with pytest.raises(Exception, match="not a database|malformed"):
        Ledger(path, readonly=True).verify()
    if how == "replaced":
        (tmp_path / "restored.db").write_bytes(good)
        (tmp_path / "restored.db").replace(path)
    else:
        with open(path, "r+b") as handle:
            handle.write(good)
    recovered(gate, 3)


FULL_DISK = """
import datetime as dt, json, resource, signal, sys
from pathlib import Path
from compliance import Gate, Send
from compliance.gate.ledger import Ledger

at = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)
path = Path(sys.argv[2])
gate = Gate.open(repo=sys.argv[1], ledger=path, create=True, clock=lambda: at)
subjects = ["+1415555%04d" % k for k in range(40)]
for subject in subjects:
    gate.ledger.grant(subject=subject, channel="sms", scope="us-sms-offers", source="x", at=at)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
largest = max(p.stat().st_size for p in path.parent.iterdir())
resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 32 * 1024, hard))  # the disk is full
answers, allowed = [], []
for i in range(600):
    d = gate.check(Send(to=subjects[i % 40], template="10dlc-weekend-sale", at=at))
    answers.append([d.outcome, d.codes])
    if d.allowed:
        allowed.append(d.id)
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space again
after = gate.check(Send(to=subjects[0], template="10dlc-order-shipped", at=at))
gate.close()
verdict = Ledger(path, readonly=True).verify()
present = {row[0] for row in Ledger(path, readonly=True).conn.execute(
    "SELECT seq FROM audit_log WHERE kind = 'decision' AND outcome = 'allow'")}
print(json.dumps({"answers": answers, "missing": sorted(set(allowed) - present),
                  "after": [after.outcome, after.codes], "ok": verdict.ok,
                  "entries": verdict.entries}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_full_disk_denies_loses_nothing_and_recovers(tmp_path):
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK)
    run = subprocess.run(
        [sys.executable, str(script), str(US), str(tmp_path / "ledger.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    kinds = {(outcome, tuple(codes)) for outcome, codes in result["answers"]}
    # the disk filled up: from then on nothing but ledger.error (caps and consent aside)
    assert ("deny", ("ledger.error",)) in kinds
    assert kinds <= {("allow", ()), ("deny", ("ledger.error",)), ("deny", ("frequency_cap",))}
    assert result["missing"] == []  # every allow returned has its committed audit entry
    assert result["after"] == ["allow", []]
    assert result["ok"] and result["entries"] >= 42


def test_audit_commands_never_create_a_ledger(tmp_path, capsys):
    missing = tmp_path / "typo.db"
    assert main(["audit", "verify", "--ledger", str(missing)]) == 2
    assert main(["audit", "export", "--ledger", str(missing)]) == 2
    assert "there is no ledger" in capsys.readouterr().err
    assert not missing.exists()
