"""Tampering with the ledger as an attacker with write access to the file would: every edit,
deletion, insertion or change of type in any table a decision reads, any column of the trail,
and any object added to or dropped from the schema makes `audit verify` fail and name the
place. With COMPLIANCE_AUDIT_KEY set, rewriting the whole chain consistently is found too."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from compliance import Gate, Send, chainhash
from compliance.cli import main
from compliance.gate import audit, schema
from compliance.gate.ledger import Ledger, LedgerConfigError
from tests.conftest import ROOT, Clock

US = ROOT / "examples" / "us"
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)  # 13:00 in New York
TO = "+14155550123"
MINUTE = dt.timedelta(minutes=1)


def build(path: Path) -> None:
    """An entry writing rows of every covered table, decisions, and a STOP last:
    1 init, 2 grant, 3 revoke, 4 grant, 5 dnc list, 6 registry check, 7 reassigned,
    8 review, 9 review, 10 resolution (an opt-out), 11-13 decisions, 14 pause, 15 STOP,
    16-17 API keys made, 18 one revoked, 19 a STOP a provider's webhook delivered."""
    clock = Clock(AT - dt.timedelta(hours=1))
    gate = Gate.open(repo=US, ledger=path, create=True, clock=clock)
    consent = {"subject": TO, "channel": "sms", "scope": "us-sms-offers", "source": "web"}
    gate.ledger.grant(**consent, at=AT - 3 * dt.timedelta(hours=1))
    gate.ledger.revoke(**consent, at=AT - 2 * dt.timedelta(hours=1))
    gate.ledger.grant(**consent, at=clock.now, evidence={"ip": "198.51.100.7"})
    gate.ledger.import_dnc("internal", ["+12125550100", "Carol@Example.com"])
    gate.ledger.import_dnc("us-registry", [], registry="US", checked_at=AT - dt.timedelta(days=1))
    gate.ledger.import_reassigned([("+16465550100", AT - dt.timedelta(days=2))])
    gate.ledger.inbound(subject="+13125550100", text="stop? who is this", channel="sms", at=AT)
    gate.ledger.inbound(subject="+13125550101", text="stop? maybe", channel="sms", at=AT)
    review = gate.ledger.reviews()[-1]["id"]
    gate.ledger.resolve(review, opt_out=True, by="jane@example.com")
    clock.now = AT
    for i in range(3):
        assert gate.check(Send(to=TO, template="10dlc-weekend-sale", at=AT + i * MINUTE)).allowed
    gate.pause(template="10dlc-weekend-sale", reason="legal review", by="jane@example.com")
    gate.ledger.inbound(subject=TO, text="STOP", channel="sms", at=AT + 10 * MINUTE)
    billing, _ = gate._db.create_key(name="billing", scopes=["decide"], by="jane@example.com")
    gate._db.create_key(name="ops", scopes=["admin", "consent"], by="jane@example.com")
    gate._db.revoke_key(billing["id"], by="jane@example.com", reason="rotated")
    gate.ledger.inbound(
        subject="+13125550177",
        text="STOP",
        channel="sms",
        at=AT + 11 * MINUTE,
        message=("twilio", "SM0123456789abcdef0123456789abcdef"),
    )
    gate.close()


def tamper(path: Path, *sql: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in sql:
        conn.execute(statement)
    conn.close()


def verdict(path: Path) -> audit.Verdict:
    db = Ledger(path, readonly=True, clock=lambda: AT + dt.timedelta(hours=1))
    try:
        return db.verify()
    finally:
        db.close()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pristine") / "ledger.db"
    build(path)
    return path


@pytest.fixture
def ledger(pristine, tmp_path, monkeypatch):
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY", raising=False)
    path = tmp_path / "ledger.db"
    src = sqlite3.connect(pristine)
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    found = verdict(path)
    assert found.ok and found.entries == 19, found
    return path


def _rows(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in schema.TABLES}
    finally:
        conn.close()


# every column of every covered table: its value retyped (the same bytes as a BLOB, a NUL
# appended, NULL made an empty string), then edited, for the first row and the last -----------


def _not_null() -> set[tuple[str, str]]:
    """(table, column) that SQLite keeps from being NULL or retyped (NOT NULL, the rowid)."""
    conn = sqlite3.connect(":memory:")
    schema.create(conn)
    found = {
        (table, row[1])
        for table in schema.TABLES
        for row in conn.execute(f"PRAGMA table_info({table})")
        if row[3] or row[5]
    }
    conn.close()
    return found


def _column_cases() -> list[tuple[str, str, str, str]]:
    cases = []
    strict = _not_null()
    for table in schema.COVERED:
        for column in schema.columns(table):
            for label, expression in (
                ("blob", f"CAST({column} AS BLOB)"),
                ("nul", f"COALESCE({column}, '') || char(0)"),
                ("null", f"CASE WHEN {column} IS NULL THEN '' ELSE NULL END"),
                (
                    "edit",
                    f"CASE typeof({column}) WHEN 'integer' THEN {column} + 1 ELSE "
                    f"COALESCE({column}, '') || 'x' END",
                ),
            ):
                if (table, column) in strict and label == "null":
                    continue  # SQLite refuses a NULL there itself
                if column == "id" and label != "edit":
                    continue  # the rowid holds integers only
                cases.append((table, column, label, expression))
    return cases


@pytest.mark.parametrize(
    "table, column, label, expression",
    _column_cases(),
    ids=[f"{t}.{c}-{label}" for t, c, label, _ in _column_cases()],
)
@pytest.mark.parametrize("which", ["MIN", "MAX"])
def test_any_change_to_a_covered_row_is_named(ledger, table, column, label, expression, which):
    before = _rows(ledger)[table]
    try:
        tamper(
            ledger,
            f"UPDATE {table} SET {column} = {expression} WHERE id = (SELECT {which}(id) FROM {table})",
        )
    except sqlite3.IntegrityError:
        pytest.skip("SQLite itself refuses this change (NOT NULL, UNIQUE, the primary key)")
    if _rows(ledger)[table] == before:  # a BLOB or a NUL never compares equal to text
        pytest.skip("the change leaves the row as it was")
    found = verdict(ledger)
    assert not found.ok, f"{table}.{column} {label} passed verify"
    assert table in found.problem or "not UTF-8" in found.problem or "names" in found.problem, found


@pytest.mark.parametrize("table", schema.COVERED)
def test_deleting_adding_or_moving_a_covered_row_is_named(ledger, pristine, table):
    rows = _rows(pristine)[table]
    columns = schema.columns(table)
    first = rows[0]
    seq = first[columns.index("audit_seq")]
    tamper(ledger, f"DELETE FROM {table} WHERE id = {first[0]}")
    found = verdict(ledger)
    assert not found.ok and found.first_bad == seq and table in found.problem, found

    shutil_copy(pristine, ledger)
    # a copy of a row, at the end, naming the newest entry
    values = ", ".join("?" for _ in columns)
    conn = sqlite3.connect(ledger, isolation_level=None)
    copy = list(first)
    copy[0] = 10_000
    copy[columns.index("audit_seq")] = 15
    unique = {
        "dnc_entries": ["subject"],
        "reassigned": ["number"],
        "review_resolutions": ["review"],
        "api_keys": ["key_id", "token_sha256"],
        "api_key_revocations": ["key_id"],
        "webhook_messages": ["message_id"],
    }
    for column in unique.get(table, []):
        i = columns.index(column)
        copy[i] = copy[i] + 1 if isinstance(copy[i], int) else copy[i] + "0"
    conn.execute(f"INSERT INTO {table} VALUES ({values})", copy)
    conn.close()
    found = verdict(ledger)
    assert not found.ok and table in found.problem, found

    shutil_copy(pristine, ledger)
    tamper(ledger, f"UPDATE {table} SET audit_seq = audit_seq + 1 WHERE id = {first[0]}")
    assert not verdict(ledger).ok


def shutil_copy(src: Path, dst: Path) -> None:
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    a.backup(b)
    a.close()
    b.close()


# every column of the trail ----------------------------------------------------------------


@pytest.mark.parametrize("column", [c for c in audit.COLUMNS if c != "seq"])
@pytest.mark.parametrize("label", ["blob", "nul", "null", "edit"])
def test_any_change_to_an_entry_is_named(ledger, column, label):
    expression = {
        "blob": f"CAST({column} AS BLOB)",
        "nul": f"COALESCE({column}, '') || char(0)",
        "null": f"CASE WHEN {column} IS NULL THEN '' ELSE NULL END",
        "edit": f"CASE typeof({column}) WHEN 'integer' THEN {column} + 1 ELSE "
        f"COALESCE({column}, '') || 'x' END",
    }[label]
    before = _rows(ledger)["audit_log"]
    try:
        tamper(ledger, f"UPDATE audit_log SET {column} = {expression} WHERE seq = 12")
    except sqlite3.IntegrityError:
        pytest.skip("SQLite itself refuses this change")
    if _rows(ledger)["audit_log"] == before:
        pytest.skip("the change leaves the entry as it was")
    found = verdict(ledger)
    # the mac of an unsigned entry is NULL: anything else is named (a made-up signature of
    # the right form is found only with the key; see the signed tests below)
    assert not found.ok, f"audit_log.{column} {label} passed verify"
    assert found.first_bad in (12, 13), found


@pytest.mark.parametrize(
    "sql, first_bad, problem",
    [
        ("DELETE FROM audit_log WHERE seq = 6", 6, "deleted or inserted"),
        # the newest entry, a STOP: its consent event is left naming an entry that is gone
        ("DELETE FROM audit_log WHERE seq = 19", 19, "does not vouch"),
        (
            "INSERT INTO audit_log SELECT 100, at, at_us, kind, subject, outcome, purpose, "
            "channel, send_us, data, prev_hash, hash, mac FROM audit_log WHERE seq = 3",
            20,
            "deleted or inserted",
        ),
        ("UPDATE audit_log SET seq = seq + 100 WHERE seq = 11", 11, "deleted or inserted"),
    ],
)
def test_deleting_inserting_or_reordering_entries_is_named(ledger, sql, first_bad, problem):
    tamper(ledger, sql)
    found = verdict(ledger)
    assert not found.ok and found.first_bad == first_bad and problem in found.problem, found


def test_swapping_two_entries_is_named(ledger):
    tamper(
        ledger,
        "UPDATE audit_log SET seq = -seq WHERE seq IN (11, 12)",
        "UPDATE audit_log SET seq = 12 WHERE seq = -11",
        "UPDATE audit_log SET seq = 11 WHERE seq = -12",
    )
    found = verdict(ledger)
    assert not found.ok and found.first_bad == 11 and "does not follow" in found.problem


# recent sends, which frequency caps count -------------------------------------------------


@pytest.mark.parametrize(
    "sql, problem",
    [
        ("DELETE FROM recent_sends WHERE seq = 12", "no row for it"),
        ("UPDATE recent_sends SET purpose = 'otp' WHERE seq = 12", "edited"),
        ("UPDATE recent_sends SET channel = 'email' WHERE seq = 12", "edited"),
        ("UPDATE recent_sends SET at_us = at_us - 86400000000 WHERE seq = 12", "edited"),
        ("UPDATE recent_sends SET subject = CAST(subject AS BLOB) WHERE seq = 12", "edited"),
        (
            "INSERT INTO recent_sends SELECT day, subject, at_us + 1, purpose, channel, 14 FROM "
            "recent_sends WHERE seq = 12",
            "not an allowed decision",
        ),
        (
            "INSERT INTO recent_sends SELECT day, subject, at_us + 1, purpose, channel, seq FROM "
            "recent_sends WHERE seq = 12",
            "two rows",
        ),
        (
            "INSERT INTO recent_sends SELECT day, subject, at_us, purpose, channel, 99 FROM "
            "recent_sends WHERE seq = 12",
            "not in the trail",
        ),
    ],
)
def test_recent_sends_must_be_exactly_the_allowed_decisions(ledger, sql, problem):
    tamper(ledger, sql)
    found = verdict(ledger)
    assert not found.ok and problem in found.problem, found


def test_pruned_sends_older_than_the_cap_windows_are_not_missed(ledger):
    tamper(ledger, "DELETE FROM recent_sends")
    db = Ledger(ledger, readonly=True, clock=lambda: AT + dt.timedelta(days=10))
    assert db.verify().ok  # ten days on, no cap can reach them: pruning them is fine


# meta and subjects --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE meta SET value = 'hashed' WHERE key = 'subjects'",
        "INSERT INTO meta VALUES ('extra', 'x')",
        "DELETE FROM meta WHERE key = 'subjects'",
        "UPDATE meta SET value = CAST(value AS BLOB) WHERE key = 'subjects'",
    ],
)
def test_meta_must_say_what_the_trail_says(ledger, sql):
    tamper(ledger, sql)
    found = verdict(ledger)
    assert not found.ok and "meta" in found.problem, found


def test_a_raw_ledger_holds_no_raw_identifiers(ledger):
    tamper(ledger, "INSERT INTO subjects VALUES ('h:x', '+14155550123')")
    found = verdict(ledger)
    assert not found.ok and "subjects" in found.problem


def test_pseudonyms_are_checked_with_the_subject_key(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "subject-secret")
    path = tmp_path / "hashed.db"
    build(path)
    assert verdict(path).ok
    tamper(path, "UPDATE subjects SET raw = '+14155550199' WHERE raw = '+14155550123'")
    found = verdict(path)
    assert not found.ok and "subjects" in found.problem
    monkeypatch.delenv("COMPLIANCE_SUBJECT_KEY")  # an auditor without the key is told so
    found = verdict(path)
    assert found.ok and "not checked against their pseudonyms" in str(found)


# the schema -----------------------------------------------------------------------------------


SCHEMA_CHANGES = [
    (
        "CREATE TRIGGER quiet AFTER INSERT ON consent_events BEGIN DELETE FROM consent_events "
        "WHERE id = new.id; END",
        "unexpected trigger 'quiet' on table consent_events",
    ),
    ("CREATE VIEW everything AS SELECT * FROM consent_events", "unexpected view 'everything'"),
    ("CREATE TABLE notes (x)", "unexpected table 'notes'"),
    ("ALTER TABLE consent_events ADD COLUMN note TEXT", "table 'consent_events' differs"),
    ("CREATE INDEX sneaky ON audit_log (kind)", "unexpected index 'sneaky' on table audit_log"),
    ("DROP INDEX consent_latest", "index 'consent_latest' is missing"),
    ("DROP TABLE reviews", "table 'reviews' is missing"),
    ("DROP TABLE audit_log", "table 'audit_log' is missing"),
    ("DROP TABLE meta", "table 'meta' is missing"),
]


@pytest.mark.parametrize("sql, named", SCHEMA_CHANGES, ids=[n for _, n in SCHEMA_CHANGES])
def test_an_unexpected_schema_object_fails_verify_and_the_gate_refuses_it(ledger, sql, named):
    tamper(ledger, sql)
    found = verdict(ledger)
    assert not found.ok and named in found.problem, found
    with pytest.raises(LedgerConfigError, match="altered"):
        Gate.open(repo=US, ledger=ledger, clock=lambda: AT)
    assert main(["audit", "verify", "--ledger", str(ledger)]) == 1


def test_a_trigger_added_while_the_gate_runs_is_refused_at_the_next_write(ledger):
    gate = Gate.open(repo=US, ledger=ledger, clock=lambda: AT + dt.timedelta(hours=1))
    tamper(
        ledger,
        "CREATE TRIGGER quiet AFTER INSERT ON consent_events BEGIN DELETE FROM consent_events "
        "WHERE id = new.id; END",
    )
    with pytest.raises(LedgerConfigError, match="unexpected trigger"):
        gate.ledger.inbound(subject="+13055550100", text="STOP", channel="sms", at=AT)
    decision = gate.check(
        Send(to=TO, template="10dlc-order-shipped", at=AT + dt.timedelta(hours=1))
    )
    assert (
        decision.codes == ["ledger.error"] and "unexpected trigger" in decision.reasons[0].message
    )
    gate.close()


def test_text_that_is_not_utf8_is_named(ledger):
    tamper(ledger, "UPDATE consent_events SET source = CAST(x'ff' AS TEXT) WHERE audit_seq = 2")
    found = verdict(ledger)
    assert not found.ok and "not UTF-8" in found.problem


# the command and the key --------------------------------------------------------------------


def test_the_command_exits_1_and_names_the_entry(ledger, capsys):
    tamper(ledger, "UPDATE consent_events SET action = 'grant' WHERE audit_seq = 3")
    assert main(["audit", "verify", "--ledger", str(ledger)]) == 1
    out = capsys.readouterr().out
    assert "broken at entry 3" in out and "consent_events" in out


def test_cutting_the_newest_decisions_needs_a_copy_of_the_head(ledger):
    # a trail cut after its last entry that wrote rows is consistent so far: only a copy of
    # the head (an earlier export, the count an auditor noted) shows it
    tamper(
        ledger,
        "DELETE FROM pauses",
        "DELETE FROM consent_events WHERE audit_seq >= 15",
        "DELETE FROM api_keys",
        "DELETE FROM api_key_revocations",
        "DELETE FROM webhook_messages",
    )
    tamper(ledger, "DELETE FROM audit_log WHERE seq >= 14")
    found = verdict(ledger)
    assert found.ok and found.entries == 13


def rewrite_chain(path: Path, edit_seq: int) -> None:
    """What an attacker with the file does: edit an entry, then recompute every hash after
    it so that the chain is consistent again (without the audit key, the MACs stay stale)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "UPDATE audit_log SET data = replace(data, 'allow', 'deny'), outcome = 'deny' "
        "WHERE seq = ?",
        (edit_seq,),
    )
    conn.execute("DELETE FROM recent_sends WHERE seq = ?", (edit_seq,))
    prev = audit.GENESIS
    rows = conn.execute(f"SELECT {', '.join(audit.COLUMNS[:10])} FROM audit_log ORDER BY seq")
    for row in rows.fetchall():
        digest = audit.any_hash((prev, *row))
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, row[0])
        )
        prev = digest
    conn.close()


def test_without_a_key_a_consistent_rewrite_passes_the_chain(ledger):
    rewrite_chain(ledger, 12)
    found = verdict(ledger)
    assert found.ok  # why COMPLIANCE_AUDIT_KEY exists
    assert "not signed" in str(found)


def test_with_the_audit_key_a_consistent_rewrite_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "a secret the attacker does not have")
    path = tmp_path / "signed.db"
    build(path)
    found = verdict(path)
    assert found.ok and "checked with COMPLIANCE_AUDIT_KEY" in str(found)
    rewrite_chain(path, 12)
    found = verdict(path)
    assert not found.ok and found.first_bad == 12 and "signature" in found.problem
    # and the wrong key is refused from the first entry on
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "another key")
    found = verdict(path)
    assert not found.ok and found.first_bad == 1
    # without the key, verify says plainly that the signatures were not checked
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY")
    found = verdict(path)
    assert found.ok and "NOT checked" in str(found)


# the schema written by hand (PRAGMA writable_schema) ----------------------------------------


def _write_schema(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute(sql, args)
    conn.execute(f"PRAGMA schema_version={version + 1}")
    conn.close()


@pytest.mark.parametrize(
    "index, table, column",
    [
        ("consent_latest", "consent_events", "action"),
        ("dnc_checks_by_market", "dnc_checks", "market"),
        ("reviews_by_subject", "reviews", "channel"),
    ],
)
def test_an_index_made_to_disagree_with_its_table_is_named(ledger, index, table, column):
    """Decisions read through indexes that hold what they need; verify reads the tables. An
    index frozen (made partial with WHERE 0) while its table is edited and put back would show
    the gate an edited row and verify the original one."""
    conn = sqlite3.connect(ledger)
    original = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()[0]
    rowid = conn.execute(f"SELECT MIN(rowid) FROM {table}").fetchone()[0]
    value = conn.execute(f"SELECT {column} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()[0]
    conn.close()
    tamper(ledger, f"UPDATE {table} SET {column} = {column} || 'x' WHERE rowid = {rowid}")
    _write_schema(
        ledger, "UPDATE sqlite_master SET sql = ? WHERE name = ?", original + " WHERE 0", index
    )
    conn = sqlite3.connect(ledger, isolation_level=None)
    conn.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (value, rowid))
    conn.close()
    _write_schema(ledger, "UPDATE sqlite_master SET sql = ? WHERE name = ?", original, index)
    found = verdict(ledger)
    assert not found.ok and table in found.problem and "indexes disagree" in found.problem, found


@pytest.mark.parametrize(
    "kind, name, sql",
    [
        (
            "trigger",
            "sqlite_stop_eater",
            "CREATE TRIGGER sqlite_stop_eater AFTER INSERT ON "
            "consent_events WHEN new.action = 'revoke' BEGIN DELETE FROM consent_events WHERE id = "
            "new.id; END",
        ),
        ("view", "sqlite_everything", "CREATE VIEW sqlite_everything AS SELECT 1"),
        (
            "index",
            "sqlite_autoindex_extra",
            "CREATE INDEX sqlite_autoindex_extra ON audit_log (kind)",
        ),
    ],
)
def test_an_object_named_like_sqlites_own_is_no_exception(ledger, kind, name, sql):
    table = "consent_events" if kind == "trigger" else "audit_log" if kind == "index" else name
    _write_schema(
        ledger,
        "INSERT INTO sqlite_master (type, name, tbl_name, rootpage, sql) VALUES (?, ?, ?, 0, ?)",
        kind,
        name,
        table,
        sql,
    )
    found = verdict(ledger)
    assert not found.ok and f"unexpected {kind} '{name}'" in found.problem, found
    with pytest.raises(LedgerConfigError, match=f"unexpected {kind} '{name}'"):
        Gate.open(repo=US, ledger=ledger, clock=lambda: AT)


# keys, meta and erasure -----------------------------------------------------------------------


def test_a_ledger_opens_only_with_the_subject_key_it_was_made_with(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "subject-secret")
    path = tmp_path / "hashed.db"
    build(path)
    for wrong in ("subject-secret ", "another"):
        monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", wrong)
        with pytest.raises(LedgerConfigError, match="not the key"):
            Gate.open(repo=US, ledger=path, clock=lambda: AT)
        found = verdict(path)  # an auditor with the wrong key is told so, not misled
        assert found.ok and "not the key this ledger was created with" in str(found)
    for name in ("COMPLIANCE_SUBJECT_KEY", "COMPLIANCE_AUDIT_KEY"):
        monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "subject-secret")
        monkeypatch.setenv(name, "  ")
        with pytest.raises(LedgerConfigError, match=f"{name} is set but empty"):
            Gate.open(repo=US, ledger=path, clock=lambda: AT)
        monkeypatch.delenv("COMPLIANCE_AUDIT_KEY", raising=False)


def test_meta_flipped_to_raw_is_refused_by_the_gate_and_named_by_verify(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "subject-secret")
    path = tmp_path / "hashed.db"
    build(path)
    monkeypatch.delenv("COMPLIANCE_SUBJECT_KEY")
    tamper(
        path,
        "UPDATE meta SET value = 'raw' WHERE key = 'subjects'",
        "DELETE FROM meta WHERE key = 'subject_key_id'",
    )
    with pytest.raises(LedgerConfigError, match="altered"):
        Gate.open(repo=US, ledger=path, clock=lambda: AT)
    found = verdict(path)
    assert not found.ok and "meta" in found.problem


def test_an_erased_identifier_put_back_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "subject-secret")
    path = tmp_path / "hashed.db"
    build(path)
    gate = Gate.open(repo=US, ledger=path, clock=lambda: AT + dt.timedelta(hours=1))
    sid = gate._db.sid(TO)
    gate.ledger.erase(TO)
    gate.close()
    assert verdict(path).ok
    tamper(path, f"INSERT INTO subjects VALUES ('{sid}', '{TO}')")
    found = verdict(path)
    assert not found.ok and "was erased" in found.problem


def test_an_identifier_removed_without_an_erase_entry_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "subject-secret")
    path = tmp_path / "hashed.db"
    build(path)
    tamper(path, f"DELETE FROM subjects WHERE raw = '{TO}'")
    found = verdict(path)
    assert not found.ok and "no erase entry removed it" in found.problem, found
    monkeypatch.delenv("COMPLIANCE_SUBJECT_KEY")  # seen without the key too
    assert not verdict(path).ok


@pytest.mark.parametrize(
    "data",
    ["[1, 2]", "not json", "CAST('{\"rows\": 1}' AS BLOB)", "'{\"rows\":[]}'"],
    ids=["list", "not-json", "blob", "rows-not-object"],
)
def test_a_consistently_rewritten_entry_of_odd_content_is_named_not_a_crash(ledger, data, cli):
    value = data if data.startswith(("CAST", "'")) else f"'{data}'"
    tamper(ledger, f"UPDATE audit_log SET data = {value} WHERE seq = 15")
    rewrite_hashes(ledger)
    found = verdict(ledger)
    assert not found.ok and found.first_bad == 15, found
    run = cli(["audit", "verify", "--ledger", str(ledger)])
    assert run.code == 1 and "broken at entry 15" in run.out
    run = cli(["audit", "export", "--ledger", str(ledger)])
    assert run.code == 0 and len(run.out.splitlines()) == 19


def rewrite_hashes(path: Path) -> None:
    """Recompute every hash (without the audit key), whatever the columns hold."""
    conn = sqlite3.connect(path, isolation_level=None)
    prev = audit.GENESIS
    rows = conn.execute(f"SELECT {', '.join(audit.COLUMNS[:10])} FROM audit_log ORDER BY seq")
    for row in rows.fetchall():
        digest = audit.any_hash((prev, *row))
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, row[0])
        )
        prev = digest
    conn.close()


def test_a_seq_at_sqlites_limit_is_a_ledger_error_not_a_crash(ledger):
    from compliance import LedgerError

    tamper(ledger, f"UPDATE audit_log SET seq = {2**63 - 1} WHERE seq = 15")
    gate = Gate.open(repo=US, ledger=ledger, clock=lambda: AT + dt.timedelta(hours=1))
    decision = gate.check(Send(to=TO, template="10dlc-order-shipped"))
    assert decision.codes == ["ledger.error"] and decision.id is None
    with pytest.raises(LedgerError):
        gate.ledger.grant(subject=TO, channel="sms", scope="us-sms-offers", source="x", at=AT)
    gate.close()
    assert not verdict(ledger).ok


# the hash pass in a process of its own (large ledgers) ---------------------------------------

PARALLEL_CASES = [
    ("pristine", []),
    ("grant edited", ["UPDATE consent_events SET scope = 'x' WHERE id = 1"]),
    (
        "grant deleted",
        ["DELETE FROM consent_events WHERE id = (SELECT MAX(id) FROM consent_events)"],
    ),
    (
        "dnc row added",
        [
            "INSERT INTO dnc_entries SELECT id + 100, list, 'x' || subject, added_at, "
            "audit_seq FROM dnc_entries WHERE id = 1"
        ],
    ),
    ("entry edited", ["UPDATE audit_log SET outcome = 'allow' WHERE seq = 15"]),
    ("entry retyped", ["UPDATE audit_log SET subject = CAST(subject AS BLOB) WHERE seq = 4"]),
    ("row names a blob", ["UPDATE pauses SET audit_seq = CAST(audit_seq AS BLOB)"]),
    ("not UTF-8", ["UPDATE audit_log SET purpose = CAST(X'80FF' AS TEXT) WHERE seq = 12"]),
    (
        "two problems",
        [
            "UPDATE audit_log SET data = data || ' ' WHERE seq = 9",
            "UPDATE audit_log SET prev_hash = 'x' WHERE seq = 11",
        ],
    ),
]


@pytest.mark.parametrize("sql", [s for _, s in PARALLEL_CASES], ids=[n for n, _ in PARALLEL_CASES])
def test_the_hash_pass_in_its_own_process_says_what_it_says_in_this_one(ledger, monkeypatch, sql):
    """Above verify.PARALLEL_FROM entries the hashes are checked by `python -m
    compliance.chainhash` beside the structure walk; the verdict must be the same."""
    from compliance.gate import verify

    try:
        tamper(ledger, *sql)
    except sqlite3.IntegrityError:
        pytest.fail("the case itself is refused by SQLite; change the case")
    alone = verdict(ledger)
    spawned = []
    popen = verify.subprocess.Popen

    def spy(*args, **kwargs):
        spawned.append(args[0])
        return popen(*args, **kwargs)

    monkeypatch.setattr(verify, "PARALLEL_FROM", 0)
    monkeypatch.setattr(verify.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(verify.subprocess, "Popen", spy)
    beside = verdict(ledger)
    assert [argv[1:4] for argv in spawned] == [
        ["-I", chainhash.__file__, "hashes"],
        ["-I", chainhash.__file__, "rows"],
    ]
    assert str(beside) == str(alone)
    assert (beside.ok, beside.first_bad, beside.problem) == (
        alone.ok,
        alone.first_bad,
        alone.problem,
    )
    assert beside.ok == (sql == [])


def test_the_hash_pass_in_its_own_process_checks_the_audit_key(tmp_path, monkeypatch):
    from compliance.gate import verify

    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "a secret the attacker does not have")
    path = tmp_path / "signed.db"
    build(path)
    rewrite_chain(path, 12)
    monkeypatch.setattr(verify, "PARALLEL_FROM", 0)
    monkeypatch.setattr(verify.os, "cpu_count", lambda: 2)
    found = verdict(path)
    assert not found.ok and found.first_bad == 12 and "signature" in found.problem


def test_a_compliance_package_planted_where_verify_runs_is_not_what_checks_the_trail(
    tmp_path, monkeypatch
):
    """The passes run from the installed chainhash.py in isolated mode: a `compliance`
    package in the current folder (a template repo anyone may write to) neither decides the
    verdict nor sees the audit key, and neither does PYTHONPATH."""
    from compliance.gate import verify

    planted = tmp_path / "planted"
    (planted / "compliance").mkdir(parents=True)
    (planted / "compliance" / "__init__.py").write_text("")
    (planted / "compliance" / "chainhash.py").write_text(
        "import sys\n"
        f"open({str(planted / 'ran')!r}, 'w').write(sys.stdin.read())\n"
        "print('[null, null, 0, 0, 0]')\n"
    )
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "the auditor's key")
    ledger = tmp_path / "signed.db"
    build(ledger)
    tamper(ledger, "UPDATE consent_events SET scope = 'x' WHERE id = 1")
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PYTHONPATH", str(planted))
    monkeypatch.setattr(verify, "PARALLEL_FROM", 0)
    monkeypatch.setattr(verify.os, "cpu_count", lambda: 2)
    found = verdict(ledger)
    assert not found.ok and "consent_events" in found.problem
    assert not (planted / "ran").exists()
