"""`compliance ledger migrate SOURCE TARGET`: a ledger copied from SQLite to PostgreSQL and back
keeps every record and every entry (the round trip gives back the original entries' hashes),
verifies on both sides, and decides as the source did; a target that holds anything, a source
that does not verify, a signed source without its key and a source written to during the copy
are refused, leaving the target empty and the source unchanged."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from compliance import Gate, Send
from compliance.errors import LedgerConfigError, LedgerError
from compliance.gate import schema
from compliance.gate.ledger import open_ledger, transfer
from tests.backends import sql
from tests.gate.test_migrate import FIXTURE
from tests.gate.test_tampering import AT, TO, US, build

SALE = "10dlc-weekend-sale"
LATER = AT + dt.timedelta(hours=2)


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch):
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY", raising=False)
    monkeypatch.delenv("COMPLIANCE_SUBJECT_KEY", raising=False)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("copy") / "ledger.db"
    build(path)  # a row in every covered table, decisions, a pause and a STOP
    return path


@pytest.fixture
def source(pristine, tmp_path) -> Path:
    path = tmp_path / "source.db"
    shutil.copyfile(pristine, path)
    return path


def verdict(where):
    db = open_ledger(where, readonly=True)
    try:
        return db.verify()
    finally:
        db.close()


def trail(where) -> list[tuple]:
    """Every entry as both backends keep it: seq, times, kind, subject, outcome, data..."""
    return sql(where, f"SELECT {', '.join(transfer.ENTRY)} FROM audit_log ORDER BY seq")


def tables(where) -> dict[str, list[tuple]]:
    return {
        name: sorted(sql(where, f"SELECT {', '.join(schema.columns(name))} FROM {name}"), key=repr)
        for name in transfer.TABLES
    }


def fingerprint(where) -> str:
    """What the ledger holds, to show it unchanged."""
    return hashlib.sha256(repr((trail(where), tables(where))).encode()).hexdigest()


def decisions(where) -> list[tuple[str, list[str]]]:
    """What the gate answers on this ledger for sends a STOP, a do-not-contact entry, a
    review's opt-out and a pause must stop, and one it may allow (the pause lifted)."""
    gate = Gate.open(repo=US, ledger=where, clock=lambda: LATER)
    try:
        out = []
        for to in (TO, "+12125550100", "+13125550101", "+14155550199"):
            found = gate.check(Send(to=to, template=SALE, at=LATER))
            out.append((found.outcome, sorted(r.code for r in found.reasons)))
        return out
    finally:
        gate.close()


def test_sqlite_to_postgresql_and_back_keeps_every_record_and_entry(source, pg_database, tmp_path):
    before = trail(source)
    hashes = sql(source, "SELECT seq, hash, prev_hash FROM audit_log ORDER BY seq")
    rows = tables(source)

    to_pg = transfer.migrate(source, pg_database)
    assert to_pg.source_verdict.ok and to_pg.target_verdict.ok, to_pg.to_dict()
    assert to_pg.entries == len(before) and to_pg.gaps == 0
    assert to_pg.target_verdict.chains == 16 and to_pg.target_verdict.checkpoints == 1
    on_pg = trail(pg_database)
    assert on_pg[:-1] == before  # every entry, its seq, time and content as it was
    assert on_pg[-1][3] == "ledger.copied"
    said = json.loads(on_pg[-1][-1])
    assert said["from"] == "sqlite" and said["entries"] == len(before)
    assert said["head"] == {"seq": hashes[-1][0], "hash": hashes[-1][1]}
    assert tables(pg_database) == rows  # every record, ids and digests included
    assert len({r[0] for r in sql(pg_database, "SELECT DISTINCT chain FROM audit_log")}) > 3

    back = tmp_path / "back.db"
    to_sqlite = transfer.migrate(pg_database, back)
    assert to_sqlite.target_verdict.ok, to_sqlite.to_dict()
    again = sql(back, "SELECT seq, hash, prev_hash FROM audit_log ORDER BY seq")
    # the round trip rebuilds the very chain it started from: the same hashes, entry by entry
    assert again[: len(hashes)] == hashes
    assert [r[3] for r in trail(back)[len(before) :]] == ["ledger.copied", "ledger.copied"]
    assert tables(back) == rows
    assert not list(tmp_path.glob(".back.db.copying*"))  # the working file is gone


def test_the_copy_decides_as_the_source_did_and_the_gate_goes_on_writing(source, pg_database):
    want = decisions(source)
    assert [outcome for outcome, _ in want] == ["deny"] * 4  # the pause holds them all
    transfer.migrate(source, pg_database)
    assert decisions(pg_database) == want
    gate = Gate.open(repo=US, ledger=pg_database, clock=lambda: LATER)
    gate.resume(template=SALE, reason="cleared", by="jane@example.com")
    allowed = gate.check(Send(to="+14155550199", template=SALE, at=LATER))
    stopped = gate.check(Send(to=TO, template=SALE, at=LATER))
    gate.close()
    assert not stopped.allowed and "consent.revoked" in {r.code for r in stopped.reasons}
    assert allowed.outcome in ("allow", "deny")  # decided, written, and the chain holds
    assert verdict(pg_database).ok


@pytest.mark.parametrize("kind", ["file", "pg"])
def test_a_target_that_holds_anything_is_refused_and_left_as_it_was(
    source, kind, tmp_path, pg_database
):
    if kind == "file":
        target = tmp_path / "existing.db"
        shutil.copyfile(source, target)
    else:
        target = pg_database
        sql(target, "CREATE TABLE customers (id INTEGER)")
    before = fingerprint(source)
    kept = target.read_bytes() if kind == "file" else None
    with pytest.raises(LedgerConfigError, match="(already exists|is not empty)"):
        transfer.migrate(source, target)
    assert fingerprint(source) == before
    if kind == "file":
        assert target.read_bytes() == kept
    else:
        assert sql(target, "SELECT to_regclass('audit_log')") == [(None,)]


def test_a_ledger_is_refused_as_its_own_target(source):
    with pytest.raises(LedgerConfigError, match="same ledger"):
        transfer.migrate(source, source.parent / "." / source.name)


def test_a_source_that_does_not_verify_is_not_copied(source, pg_database, tmp_path):
    conn = sqlite3.connect(source, isolation_level=None)
    conn.execute("UPDATE consent_events SET action = 'grant' WHERE action = 'revoke'")
    conn.close()
    for target in (pg_database, tmp_path / "copy.db"):
        with pytest.raises(LedgerError, match="does not verify, so it is not copied"):
            transfer.migrate(source, target)
    assert sql(pg_database, "SELECT to_regclass('audit_log')") == [(None,)]
    assert not (tmp_path / "copy.db").exists()


def test_a_signed_ledger_needs_its_key_and_its_copy_is_signed(tmp_path, pg_database, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "k" * 32)
    path = tmp_path / "signed.db"
    build(path)
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY")
    with pytest.raises(LedgerConfigError, match="signed with an audit key: set"):
        transfer.migrate(path, pg_database)
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "another key, not the one it was signed with")
    with pytest.raises(LedgerError, match="does not verify"):
        transfer.migrate(path, pg_database)
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "k" * 32)
    done = transfer.migrate(path, pg_database)
    assert done.target_verdict.key_checked and done.target_verdict.signed == done.entries + 1
    unsigned = sql(pg_database, "SELECT COUNT(*) FROM audit_log WHERE mac IS NULL")
    assert unsigned == [(0,)]
    assert sql(pg_database, "SELECT COUNT(*) FROM checkpoints WHERE mac IS NULL") == [(0,)]
    back = tmp_path / "back.db"
    assert transfer.migrate(pg_database, back).target_verdict.key_checked
    # the same key signs the same hashes: the original signatures come back
    first = sql(path, "SELECT mac FROM audit_log ORDER BY seq")
    assert sql(back, "SELECT mac FROM audit_log ORDER BY seq")[: len(first)] == first


def test_seqs_postgresql_skipped_become_gap_entries_that_verify(
    source, pg_database_factory, tmp_path
):
    url = pg_database_factory()
    transfer.migrate(source, url)
    gate = Gate.open(repo=US, ledger=url, clock=lambda: LATER)
    gate.ledger.grant(
        subject="+14155550199", channel="sms", scope="us-sms-offers", source="web", at=LATER
    )
    sql(url, "SELECT nextval('audit_seq') FROM generate_series(1, 5)")  # a writer's seqs lost
    gate.ledger.revoke(
        subject="+14155550199", channel="sms", scope="us-sms-offers", source="web", at=LATER
    )
    sql(url, "SELECT nextval('audit_seq')")
    gate.ledger.inbound(subject="+14155550198", text="STOP", channel="sms", at=LATER)
    gate.close()
    assert verdict(url).ok

    copy = tmp_path / "copy.db"
    done = transfer.migrate(url, copy)
    assert done.gaps == 2 and done.target_verdict.ok, done.to_dict()
    kinds = [r[0] for r in sql(copy, "SELECT kind FROM audit_log ORDER BY seq")]
    assert kinds.count("ledger.gap") == 2
    entries = sql(copy, "SELECT seq, kind, data FROM audit_log ORDER BY seq")
    source_seqs = [r[0] for r in sql(url, "SELECT seq FROM audit_log ORDER BY seq")]
    assert [seq for seq, kind, _ in entries if kind != "ledger.gap"][:-1] == source_seqs
    for (seq, kind, data), after in zip(entries, entries[1:], strict=False):
        # each gap entry takes the first seq skipped and names the seq after the run
        want = json.loads(data)["next"] if kind == "ledger.gap" else seq + 1
        assert after[0] == want
    assert decisions(copy) == decisions(url)

    # a gap entry that claims more than it stands for is an edit, and verify names it
    broken = tmp_path / "broken.db"
    shutil.copyfile(copy, broken)
    seq = sql(broken, "SELECT seq FROM audit_log WHERE kind = 'ledger.gap' LIMIT 1")[0][0]
    sql(
        broken,
        "UPDATE audit_log SET data = replace(data, '\"next\":', '\"next\":1') WHERE seq = ?",
        (seq,),
    )
    found = verdict(broken)
    assert not found.ok and found.first_bad == seq

    # and back to PostgreSQL: the gap entries are entries like any other
    again = pg_database_factory()
    assert transfer.migrate(copy, again).target_verdict.ok


def test_a_ledger_begun_under_an_earlier_schema_copies_both_ways(tmp_path, pg_database):
    path = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, path)
    Gate.open(repo=US, ledger=path).close()  # migrated to this schema in place
    legacy = sql(path, "SELECT seq, hash FROM audit_log ORDER BY seq")
    assert transfer.migrate(path, pg_database).target_verdict.ok
    want = decisions(path)
    assert decisions(pg_database) == want
    back = tmp_path / "back.db"
    done = transfer.migrate(pg_database, back)
    assert done.target_verdict.ok and done.target_verdict.legacy > 0
    assert sql(back, "SELECT seq, hash FROM audit_log ORDER BY seq")[: len(legacy)] == legacy


def test_a_pseudonymising_ledger_copies_and_erases_on_the_copy(tmp_path, pg_database, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "s" * 32)
    path = tmp_path / "hashed.db"
    gate = Gate.open(repo=US, ledger=path, create=True, clock=lambda: AT)
    gate.ledger.grant(subject=TO, channel="sms", scope="us-sms-offers", source="web", at=AT)
    gate.ledger.inbound(subject=TO, text="STOP", channel="sms", at=AT)
    gate.close()
    transfer.migrate(path, pg_database)
    gate = Gate.open(repo=US, ledger=pg_database, clock=lambda: LATER)
    try:
        assert not gate.check(Send(to=TO, template=SALE, at=LATER)).allowed
        assert gate.ledger.erase(TO) >= 1
    finally:
        gate.close()
    assert sql(pg_database, "SELECT COUNT(*) FROM subjects") == [(0,)]
    assert verdict(pg_database).ok


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_stop_being_written_as_the_copy_starts_is_in_the_copy(
    backend, source, pg_database_factory, tmp_path
):
    # a STOP whose write has begun (its locks held) when the copy starts: the copy waits for it,
    # and holds it; a write that begins during the copy waits for the copy
    import threading

    where = source
    if backend == "postgresql":
        where = pg_database_factory()
        transfer.migrate(source, where)
    target = tmp_path / "copy.db" if backend == "postgresql" else pg_database_factory()
    started = threading.Event()
    writer: list[threading.Thread] = []

    def slow_clock():
        # the STOP's write reads the clock once it holds its locks: only then is the copy let
        # go (Gate.open reads the clock too, on this thread, and must not start the race)
        if writer and threading.current_thread() is writer[0]:
            started.set()
            time.sleep(1.5)
        return LATER

    gate = Gate.open(repo=US, ledger=where, clock=slow_clock)
    stop = threading.Thread(
        target=gate.ledger.inbound,
        kwargs={"subject": "+14155550111", "text": "STOP", "channel": "sms", "at": LATER},
    )
    writer.append(stop)
    stop.start()
    assert started.wait(10)
    done = transfer.migrate(where, target)
    stop.join()
    gate.close()
    assert done.target_verdict.ok
    kinds = sql(target, "SELECT kind, subject FROM audit_log WHERE subject = '+14155550111'")
    assert kinds == [("inbound", "+14155550111")]


def test_the_cli_copies_and_says_what_it_did(source, pg_database, tmp_path, cli):
    run = cli(["ledger", "migrate", str(source), pg_database])
    assert run.code == 0, run.err
    assert "copied 19 entries" in run.out and "copy: audit trail intact: 20 entries" in run.out
    assert "16 chains" in run.out
    again = cli(["ledger", "migrate", str(source), pg_database])
    assert again.code == 2 and "is not empty" in again.err and "Traceback" not in again.err
    out = tmp_path / "out.db"
    as_json = cli(["ledger", "migrate", pg_database, str(out), "--json"])
    assert as_json.code == 0, as_json.err
    found = json.loads(as_json.out)
    assert found["entries"] == 20 and found["target_verdict"]["ok"] is True
    missing = cli(["ledger", "migrate", str(tmp_path / "nothing.db"), str(tmp_path / "x.db")])
    assert missing.code == 2 and "no ledger at" in missing.err
    bad = cli(["ledger", "migrate", "mysql://host/db", str(tmp_path / "y.db")])
    assert bad.code == 2 and "postgresql:// URL" in bad.err


def test_a_copy_that_does_not_verify_is_never_put_in_place(
    source, pg_database, tmp_path, monkeypatch
):
    transfer.migrate(source, pg_database)
    monkeypatch.setattr(transfer, "entry_hash", lambda *values: "0" * 64)  # a broken writer
    target = tmp_path / "copy.db"
    with pytest.raises(LedgerError, match="does not verify"):
        transfer.migrate(pg_database, target)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("copy", ".copy"))]
