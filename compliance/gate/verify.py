"""`audit verify`: is the ledger exactly what the gate wrote?

What it checks, in one pass over the trail:
- the schema is the pinned one (schema.py): no table, column, index, view or trigger added,
  changed or dropped;
- the chain: each entry follows the one before, and its hash covers every column with its type
  (audit.encode); with the audit key, each entry's HMAC;
- every row of a covered table (schema.COVERED) names the entry that wrote it, and that entry's
  digest of its rows matches them (a row edited, deleted, added, moved or retyped fails);
- recent_sends, which frequency caps count, holds exactly the allowed decisions of the last
  RECENT_DAYS (and nothing that is not one);
- meta says what the trail's ledger.init or ledger.migrate entry says;
- with the subject key, every raw identifier of a pseudonymising ledger hashes to its key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from compliance.gate import audit, schema

DAY_US = 86_400_000_000
RECENT_DAYS = 8  # allowed sends kept for frequency caps (the longest cap window is 7 days)
INF = float("inf")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str | None = None
    signed: int = 0  # entries that carry an HMAC
    key_checked: bool = False  # and whether they were checked with the audit key
    legacy: int = 0  # entries written before schema 3 (their hash covers fewer columns)
    subjects_unchecked: int = 0  # raw identifiers not checked (no subject key given)
    subject_key_mismatch: bool = False  # the subject key given is not this ledger's

    def __str__(self) -> str:
        if not self.ok:
            where = f" at entry {self.first_bad}" if self.first_bad is not None else ""
            return f"audit trail broken{where}: {self.problem}"
        lines = [f"audit trail intact: {self.entries:,} entries"]
        lines += [f"  {note}" for note in self.notes()]
        return "\n".join(lines)

    def notes(self) -> list[str]:
        notes = []
        if self.key_checked:
            notes.append("every entry's signature was checked with COMPLIANCE_AUDIT_KEY")
        elif self.signed:
            notes.append(
                f"{self.signed:,} entries carry signatures that were NOT checked: set "
                "COMPLIANCE_AUDIT_KEY to check them (without it, whoever can write the file "
                "could rewrite the whole chain consistently)"
            )
        else:
            notes.append(
                "entries are not signed: whoever can write the file could rewrite the whole "
                "chain consistently (set COMPLIANCE_AUDIT_KEY when writing to sign them)"
            )
        if self.legacy:
            notes.append(
                f"{self.legacy:,} entries were written before schema 3: their hash does not "
                "cover their outcome, purpose or time columns"
            )
        if self.subjects_unchecked:
            notes.append(
                f"{self.subjects_unchecked:,} raw identifiers were not checked against their "
                "pseudonyms: "
                + (
                    "COMPLIANCE_SUBJECT_KEY is not the key this ledger was created with"
                    if self.subject_key_mismatch
                    else "set COMPLIANCE_SUBJECT_KEY to check them"
                )
            )
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "problem": self.problem,
            "signed": self.signed,
            "signatures_checked": self.key_checked,
            "legacy_entries": self.legacy,
            "subjects_unchecked": self.subjects_unchecked,
            "notes": self.notes() if self.ok else [],
        }


class _Broken(Exception):
    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def verify(
    conn: sqlite3.Connection,
    key: bytes | None = None,
    *,
    now_us: int,
    subject_key: bytes | None = None,
    reopen: Callable[[], sqlite3.Connection] | None = None,
) -> Verdict:
    """Check the whole ledger; the first problem is named (with its entry where it has one).
    `now_us` is the clock: allowed sends scheduled on or after RECENT_DAYS before it must be in
    recent_sends."""
    problems = schema.problems(conn)
    if problems:
        return Verdict(
            False, 0, None, "the schema is not the one the gate made: " + "; ".join(problems)
        )
    check = _Pass(conn, key, now_us // DAY_US - RECENT_DAYS)
    # SQLite checks the indexes without the GIL: on a connection of its own, in a thread, it
    # runs beside the walk of the chain, which is Python's work
    side = _IndexCheck(reopen) if reopen is not None else None
    try:
        if side is None:
            _indexes_agree(conn)
        check.run()
        if side is not None:
            side.result()
        check.meta()
        if subject_key is not None and check.key_id not in (None, audit.key_id(subject_key)):
            subject_key = None  # another ledger's key: the pseudonyms cannot be checked with it
            mismatch = True
        else:
            mismatch = False
        unchecked = _subjects(conn, subject_key, check.mode)
    except _Broken as exc:
        if side is not None:
            side.join()
        return Verdict(False, check.count, exc.seq, exc.problem, check.signed, key is not None)
    except sqlite3.DatabaseError as exc:
        after = f" after entry {check.last}" if check.last else ""
        return Verdict(False, check.count, None, f"the file cannot be read{after}: {exc}")
    return Verdict(
        True,
        check.count,
        None,
        None,
        check.signed,
        key is not None,
        check.legacy,
        unchecked,
        mismatch,
    )


def _indexes_agree(conn: sqlite3.Connection) -> None:
    """Decisions read rows through indexes that hold every column they need, verify reads the
    tables: SQLite's integrity check holds each index to its table (an index written by hand to
    disagree would show the gate one thing and verify another). audit_log has no index."""
    for table in schema.TABLES:
        if table == "audit_log":
            continue
        try:
            found = [row[0] for row in conn.execute(f"PRAGMA integrity_check({table})")]
        except sqlite3.OperationalError:  # SQLite before 3.33 checks the whole file only
            found = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if found != ["ok"]:
            raise _Broken(None, f"table {table} and its indexes disagree: {'; '.join(found[:3])}")


class _IndexCheck:
    """_indexes_agree() in a thread, on its own connection."""

    def __init__(self, reopen: Callable[[], sqlite3.Connection]) -> None:
        self.reopen = reopen
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="compliance-verify-indexes")
        self.thread.start()

    def _run(self) -> None:
        try:
            conn = self.reopen()
            try:
                _indexes_agree(conn)
            finally:
                conn.close()
        except BaseException as exc:  # handed to the caller by result()
            self.error = exc

    def join(self) -> None:
        self.thread.join()

    def result(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


class _Pass:
    def __init__(self, conn: sqlite3.Connection, key: bytes | None, cutoff_day: int) -> None:
        self.conn = conn
        self.key = key
        self.cutoff_day = cutoff_day
        self.count = 0
        self.signed = 0
        self.legacy = 0
        self.last = 0
        self.mode: str | None = None
        self.version: int | None = None
        self.key_id: str | None = None
        self.migrated = False

    def run(self) -> None:
        conn = self.conn
        rows = conn.execute(f"SELECT {', '.join(audit.COLUMNS)} FROM audit_log ORDER BY seq")
        tables = {name: _Rows(conn, name) for name in schema.COVERED}
        sends = _Sends(conn, self.cutoff_day)
        key = self.key
        try:
            self._walk(rows, tables, sends, key)
        except sqlite3.OperationalError as exc:
            # SQLite hands back text that is not UTF-8 as an error, not a value
            if "decode" not in str(exc).lower():
                raise
            raise _Broken(self.last + 1, "it holds text that is not UTF-8 (edited)") from None
        if self.legacy and not self.migrated:
            raise _Broken(
                None, "the trail holds entries of an earlier schema and no ledger.migrate entry"
            )
        for name, table in tables.items():
            if table.pending is not None:
                raise _Broken(
                    table.next_seq if isinstance(table.next_seq, int) else None,
                    f"a row of {name} names entry {table.pending[table.at]}, which does not "
                    "vouch for it",
                )
        sends.finish()

    def _walk(self, rows: Any, tables: dict[str, _Rows], sends: _Sends, key: bytes | None) -> None:
        """The chain, entry by entry (locals rather than attributes: this runs two million
        times on a large trail), with each entry's rows and recent send."""
        next_named = _next_named(tables)
        prev = audit.GENESIS
        legacy_open = True  # entries before schema 3 may only open the trail
        entry_hash = audit.entry_hash
        recent_us = self.cutoff_day * DAY_US  # allowed sends from here on must be in recent_sends
        last = count = 0
        try:
            for row in rows:
                (
                    seq,
                    at,
                    at_us,
                    kind,
                    subject,
                    outcome,
                    purpose,
                    channel,
                    send_us,
                    data,
                    prev_hash,
                    digest,
                    signature,
                ) = row
                count += 1
                if seq != last + 1:
                    if type(seq) is not int:
                        raise _Broken(
                            last + 1, f"its seq is a {type(seq).__name__}, not an integer"
                        )
                    raise _Broken(
                        last + 1 if seq > last + 1 else seq,
                        f"sequence jumps from {last} to {seq} (an entry was deleted or inserted)",
                    )
                if prev_hash != prev:
                    raise _Broken(seq, "it does not follow the entry before it")
                legacy = False
                if (
                    type(at) is str
                    and type(at_us) is int
                    and type(kind) is str
                    and type(data) is str
                    and (subject is None or type(subject) is str)
                    and (outcome is None or type(outcome) is str)
                    and (purpose is None or type(purpose) is str)
                    and (channel is None or type(channel) is str)
                    and (send_us is None or type(send_us) is int)
                ):  # the types the gate writes: the fast path encodes as encode() would
                    if (
                        entry_hash(
                            prev,
                            seq,
                            at,
                            at_us,
                            kind,
                            subject,
                            outcome,
                            purpose,
                            channel,
                            send_us,
                            data,
                        )
                        != digest
                    ):
                        legacy = legacy_open and self._legacy(seq, prev, digest)
                        if not legacy:
                            raise _Broken(seq, "its content does not match its hash (edited)")
                        self.legacy += 1
                elif audit.any_hash((prev, *row[:10])) == digest:
                    raise _Broken(seq, "its columns do not hold the types the gate writes (edited)")
                else:
                    raise _Broken(seq, "its content does not match its hash (edited)")
                if not legacy and legacy_open:
                    legacy_open = False
                    self.migrated = bool(self.legacy)
                    opener = "ledger.migrate" if self.legacy else "ledger.init"
                    if kind != opener:
                        raise _Broken(
                            seq,
                            f"the trail must open with a {opener} entry"
                            + (" after its entries of an earlier schema" if self.legacy else ""),
                        )
                if signature is not None:
                    if type(signature) is not str or not _HEX64.fullmatch(signature):
                        raise _Broken(seq, "its signature column holds something that is not one")
                    self.signed += 1
                if key is not None and (
                    type(signature) is not str
                    or not hmac.compare_digest(signature, audit.mac(key, digest))
                ):
                    raise _Broken(
                        seq,
                        "it is not signed"
                        if signature is None
                        else "its signature does not match the audit key (the chain was "
                        "rewritten, or the key differs)",
                    )
                if not legacy:
                    if kind == "ledger.init" or kind == "ledger.migrate":
                        self._opened(seq, data)
                    vouches = '"rows":' in data
                    if vouches or seq >= next_named:  # most entries neither vouch nor are named
                        vouched = _vouched(data) if vouches else {}
                        if "" in vouched:  # what the gate writes is a JSON object
                            raise _Broken(seq, vouched[""] + " (edited)")
                        upto = kind == "ledger.migrate"  # it vouches for every row before it
                        for name, digest_of_rows in vouched.items():
                            if name in tables:
                                tables[name].check(seq, digest_of_rows, upto)
                        if seq >= next_named or upto:  # rows that name it, not vouched for
                            for name, table in tables.items():
                                if name not in vouched and table.next_seq <= seq:
                                    table.check(seq, None, upto)
                        next_named = _next_named(tables)
                if sends.next_seq <= seq or (
                    outcome == "allow" and send_us is not None and send_us >= recent_us
                ):  # most entries have no recent send to check
                    sends.check(seq, kind, subject, outcome, purpose, channel, send_us)
                prev = digest
                last = seq
        finally:
            self.last, self.count = last, count

    def _legacy(self, seq: int, prev: str, digest: str) -> bool:
        """Whether an entry matches the hash of ledgers before schema 3."""
        row = self.conn.execute(
            "SELECT at, kind, subject, data FROM audit_log WHERE seq = ?", (seq,)
        ).fetchone()
        at, kind, subject, data = row
        if not all(type(v) is str for v in (at, kind, data)) or not (
            subject is None or type(subject) is str
        ):
            return False
        return audit.legacy_hash(prev, seq, at, kind, subject, data) == digest

    def _opened(self, seq: int, data: str) -> None:
        try:
            fields = json.loads(data)
            self.mode = fields["subjects"]
            self.version = int(fields.get("schema") or fields.get("to"))
            self.key_id = fields.get("subject_key_id")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _Broken(
                seq, "its data does not say the ledger's schema and subject mode"
            ) from None

    def meta(self) -> None:
        if self.mode is None:
            raise _Broken(None, "the trail has no ledger.init or ledger.migrate entry")
        found = self.conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        want = [("schema_version", str(self.version)), ("subjects", self.mode)]
        if self.key_id is not None:
            want.append(("subject_key_id", str(self.key_id)))
        want.sort()
        if [audit.row_text(r) for r in found] != [audit.row_text(r) for r in want]:
            shown = ", ".join(f"{k}={v!r}" for k, v in found)
            raise _Broken(
                None,
                f"meta holds {shown or 'nothing'}, but the trail says "
                + ", ".join(f"{k}={v!r}" for k, v in want),
            )
        if self.version != schema.SCHEMA_VERSION:
            raise _Broken(
                None, f"the trail says schema {self.version}, not {schema.SCHEMA_VERSION}"
            )


_HEX64 = re.compile(r"[0-9a-f]{64}")
_ROWS = re.compile(r'"rows":\{((?:"[a-z_]+":"[0-9a-f]{64}",?)+)\}')
_PAIR = re.compile(r'"([a-z_]+)":"([0-9a-f]{64})"')


_ONE = re.compile(r'"rows":\{"([a-z_]+)":"([0-9a-f]{64})"\}')


def _vouched(data: str) -> dict[str, str]:
    """The entry's "rows" digests. Read with a pattern when the text holds one such object
    (a JSON string cannot hold an unescaped quote, so only an object can), else parsed
    whole: the evidence a grant records may itself hold a "rows" key."""
    if data.count('"rows":') == 1:
        one = _ONE.search(data)  # most entries write rows of one table
        if one is not None:
            return {one.group(1): one.group(2)}
    found = _ROWS.findall(data)
    if len(found) == 1 and data.count('"rows":') == 1:
        return dict(_PAIR.findall(found[0]))
    try:
        parsed = json.loads(data)
    except ValueError:
        return {"": "its data is not JSON"}
    rows = parsed.get("rows", {}) if isinstance(parsed, dict) else {"": "its data is no object"}
    return rows if isinstance(rows, dict) else {}


def _next_named(tables: dict[str, _Rows]) -> float:
    return min([t.next_seq for t in tables.values()])


class _Rows:
    """A covered table's rows in id order (the order they were written, so audit_seq order),
    consumed alongside the trail."""

    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self.name = name
        self.at = schema.columns(name).index("audit_seq")
        self.cursor = conn.execute(f"SELECT * FROM {name} ORDER BY id")
        self.pending: tuple[Any, ...] | None = None
        self.next_seq: float = INF
        self._advance()

    def _advance(self) -> None:
        try:
            self.pending = next(self.cursor, None)
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc).lower():
                raise
            raise _Broken(
                None, f"a row of {self.name} holds text that is not UTF-8 (edited)"
            ) from None
        if self.pending is None:
            self.next_seq = INF
            return
        seq = self.pending[self.at]
        if type(seq) is not int:
            raise _Broken(
                None,
                f"{self.name} row {self.pending[0]!r} names its entry with a "
                f"{type(seq).__name__}, not an integer",
            )
        self.next_seq = seq

    def check(self, seq: int, digest: str | None, upto: bool) -> None:
        """Consume the rows that name entry `seq` (with `upto`, every row up to it) and hold
        them to the entry's digest."""
        row_text = audit.row_text
        if self.next_seq == seq and digest is not None and not upto:
            # the common case: one row for its entry
            row = self.pending or ()
            self._advance()
            if self.next_seq != seq:
                if hashlib.sha256(row_text(row)).hexdigest() != digest:
                    raise _Broken(seq, f"its {self.name} rows were edited, deleted or added")
                return
            hashed = hashlib.sha256(row_text(row))
            found = 1
        else:
            hashed = hashlib.sha256()
            found = 0
        while self.next_seq <= seq:
            if self.next_seq < seq and not upto:
                ident = self.pending[0] if self.pending else None
                raise _Broken(
                    int(self.next_seq),
                    f"{self.name} row {ident!r} names it, but it does not vouch for that row",
                )
            hashed.update(row_text(self.pending or ()))
            found += 1
            self._advance()
        if digest is None:
            if found:
                raise _Broken(seq, f"it vouches for no {self.name} rows, but {found} name it")
            return
        if hashed.hexdigest() != digest:
            raise _Broken(seq, f"its {self.name} rows were edited, deleted or added")


class _Sends:
    """recent_sends against the trail: each row is an allowed decision's, and every allowed
    decision scheduled on or after `cutoff_day` has its row."""

    def __init__(self, conn: sqlite3.Connection, cutoff_day: int) -> None:
        self.cutoff_day = cutoff_day
        self.cursor = conn.execute(
            "SELECT day, subject, at_us, purpose, channel, seq FROM recent_sends "
            "ORDER BY seq, day, at_us"
        )
        self.pending = next(self.cursor, None)
        self.next_seq = self._seq()

    def _seq(self) -> float:
        if self.pending is None:
            return INF
        seq = self.pending[5]
        if type(seq) is not int:
            raise _Broken(None, f"a recent_sends row names its entry with a {type(seq).__name__}")
        return seq

    def _advance(self) -> None:
        self.pending = next(self.cursor, None)
        self.next_seq = self._seq()

    def check(
        self,
        seq: int,
        kind: str,
        subject: str | None,
        outcome: str | None,
        purpose: str | None,
        channel: str | None,
        send_us: int | None,
    ) -> None:
        named = self.next_seq
        if named < seq:
            raise _Broken(
                int(named), "recent_sends holds a row for it, but it is not an allowed decision"
            )
        allowed = kind == "decision" and outcome == "allow" and subject is not None
        if not allowed or type(send_us) is not int:
            if named == seq:
                raise _Broken(
                    seq, "recent_sends holds a row for it, but it is not an allowed decision"
                )
            return
        if named == seq:
            derived = (send_us // DAY_US, subject, send_us, purpose, channel, seq)
            row = self.pending or ()
            if row != derived or tuple(map(type, row)) != tuple(map(type, derived)):
                raise _Broken(seq, "its recent_sends row was edited")
            self._advance()
            if self.next_seq == seq:
                raise _Broken(seq, "recent_sends holds two rows for it")
        elif send_us // DAY_US >= self.cutoff_day:
            raise _Broken(
                seq,
                "it allowed a send, but recent_sends has no row for it (frequency caps would "
                "not count it)",
            )

    def finish(self) -> None:
        named = self.next_seq
        if named != INF:
            raise _Broken(None, f"recent_sends names entry {named}, which is not in the trail")


def _subjects(conn: sqlite3.Connection, subject_key: bytes | None, mode: str | None) -> int:
    """Raw identifiers: none in a raw ledger, none of an erased subject (erasure is for good);
    with the key, each must hash to its pseudonym."""
    back = conn.execute(
        "SELECT s.sid FROM subjects s JOIN dnc_entries d ON d.subject = s.sid AND d.list = "
        "'erased' LIMIT 1"
    ).fetchone()
    if back is not None:
        raise _Broken(None, f"subjects holds the identifier of {back[0]!r}, which was erased")
    rows = conn.execute("SELECT sid, raw FROM subjects")
    count = 0
    for sid, raw in rows:
        count += 1
        if mode != "hashed":
            raise _Broken(None, "the ledger stores raw subjects, yet its subjects table has rows")
        if subject_key is not None and (
            type(raw) is not str or type(sid) is not str or audit.pseudonym(subject_key, raw) != sid
        ):
            raise _Broken(None, f"subjects row {sid!r} does not hash to its identifier")
    return 0 if subject_key is not None else count
