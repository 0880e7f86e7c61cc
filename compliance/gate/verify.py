"""`audit verify`: is the ledger exactly what the gate wrote?

What it checks (a walk of the trail's structure here; the hashes and the covered rows in
chainhash's passes, in processes of their own for a large trail):
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

import json
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from compliance import chainhash
from compliance.gate import audit, schema
from compliance.gate.upgrade import UPGRADE, upgraded_version

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
    chains: int = 1  # the chains the trail is kept in (PostgreSQL: several)
    checkpoints: int = 0  # checkpoints that tie the chains together (PostgreSQL)
    last_checkpoint: str | None = None  # when the newest was written
    after_checkpoint: int = 0  # entries written since it

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
                "COMPLIANCE_AUDIT_KEY to check them (without it, whoever can write the ledger "
                "could rewrite the whole chain consistently)"
            )
        else:
            notes.append(
                "entries are not signed: whoever can write the ledger could rewrite the whole "
                "chain consistently (set COMPLIANCE_AUDIT_KEY when writing to sign them)"
            )
        if self.chains > 1:
            notes.append(
                f"{self.chains} chains, tied together by {self.checkpoints:,} checkpoint"
                f"{'' if self.checkpoints == 1 else 's'}"
                + (f", the last at {self.last_checkpoint}" if self.last_checkpoint else "")
                + (
                    f"; {self.after_checkpoint:,} entries came after it (cutting the newest "
                    "entries of a chain is seen only below a checkpoint)"
                    if self.after_checkpoint
                    else ""
                )
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
            "chains": self.chains,
            "checkpoints": self.checkpoints,
            "last_checkpoint": self.last_checkpoint,
            "after_checkpoint": self.after_checkpoint,
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
    uri: str | None = None,
) -> Verdict:
    """Check the whole ledger; the first problem is named (with its entry where it has one).
    `now_us` is the clock: allowed sends scheduled on or after RECENT_DAYS before it must be in
    recent_sends. With `uri` (how to open the same file read-only again), SQLite checks the
    indexes in a thread and, for a large trail on a machine with more than one core, processes
    of their own check the entries' hashes and the covered rows, beside this process's walk of
    the structure."""
    # a ledger of an earlier schema (3 on) is verified as that schema: a backup or replica
    # made before an upgrade is not broken for lacking the tables a later one added
    version = schema.stored_version(conn)
    problems = schema.problems(conn, version)
    if problems:
        return Verdict(
            False, 0, None, "the schema is not the one the gate made: " + "; ".join(problems)
        )
    covered = _covered(version)
    check = _Pass(conn, key, now_us // DAY_US - RECENT_DAYS, version)
    side: _IndexCheck | None = None
    passes: list[_Beside] = []
    try:
        legacy_through = check.opening()
        if uri is not None:  # SQLite checks the indexes without the GIL, on its own connection
            side = _IndexCheck(uri)
        parallel = _parallel(conn, uri)
        passes = [  # the hashes, then the rows: the order problems at one entry are named in
            _Beside(conn, uri if parallel else None, "hashes", key, legacy_through),
            _Beside(conn, uri if parallel else None, "rows", None, legacy_through, covered),
        ]
        walked: _Broken | None = None
        try:
            if side is None:
                _indexes_agree(conn)
            check.run(legacy_through)
        except _Broken as exc:
            walked = exc
        found = [p.result() for p in passes]
        # the first bad entry is named; of problems at one entry, the structure's first (a
        # swapped entry "does not follow" before its content "does not match"), then its
        # hash's (an entry edited says so, not that its rows no longer match it)
        problems = [(walked.seq, 0, walked)] if walked else []
        problems += [
            (f.first_bad, rank, _Broken(f.first_bad, f.problem))
            for rank, f in enumerate(found, 1)
            if f.problem is not None
        ]
        if problems:
            raise min(problems, key=lambda p: (INF if p[0] is None else p[0], p[1]))[2]
        check.signed, check.legacy = found[0].signed, found[0].legacy
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
        return Verdict(False, check.count, exc.seq, exc.problem, check.signed, key is not None)
    except sqlite3.DatabaseError as exc:
        after = f" after entry {check.last}" if check.last else ""
        return Verdict(False, check.count, None, f"the file cannot be read{after}: {exc}")
    finally:
        if side is not None:
            side.join()
        for beside in passes:
            beside.stop()
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


PARALLEL_FROM = 100_000  # entries: below this, a process costs more than it saves


def _covered(version: int) -> tuple[tuple[str, int], ...]:
    """The tables whose rows entries vouch for, with where audit_seq is in a row."""
    return tuple(
        (name, schema.columns(name).index("audit_seq")) for name in schema.covered(version)
    )


def _parallel(conn: sqlite3.Connection, uri: str | None) -> bool:
    size = conn.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
    return uri is not None and (os.cpu_count() or 1) > 1 and _bigger(size, PARALLEL_FROM)


class _Beside:
    """One of chainhash's passes, "hashes" (check_trail without rows) or "rows"
    (check_rows): for a large trail on a machine with more than one core in a process of its
    own (`python -I .../compliance/chainhash.py`, the audit key handed over on its standard
    input, never on its command line), else here after the walk. A process that gives no answer
    leaves its pass to this one."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        uri: str | None,
        mode: str,
        key: bytes | None,
        legacy_through: int,
        covered: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.conn, self.mode, self.key, self.legacy_through = conn, mode, key, legacy_through
        self.covered = covered
        self.process: subprocess.Popen[bytes] | None = None
        if uri is None:
            return
        tables = [f"{name}:{at}" for name, at in covered] if mode == "rows" else []
        try:
            self.process = subprocess.Popen(
                # the file itself, in isolated mode: no folder of the caller's (the current one
                # above all, where anyone might have put a `compliance` package) and no
                # PYTHON* variable decides what code checks the trail and sees the audit key;
                # chainhash needs nothing but the standard library
                [sys.executable, "-I", chainhash.__file__, mode, uri, str(legacy_through)] + tables,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert self.process.stdin is not None
            self.process.stdin.write(key.hex().encode("ascii") if key else b"")
            self.process.stdin.close()
        except OSError:
            self.process = None

    def result(self) -> chainhash.HashResult:
        if self.process is not None:
            assert self.process.stdout is not None
            out = self.process.stdout.read()
            self.process.stdout.close()
            self.process.wait()
            self.process = None
            try:
                return chainhash.HashResult(*json.loads(out))
            except (ValueError, TypeError):
                pass  # no answer from the process: the pass runs here
        if self.mode == "rows":
            return chainhash.check_rows(self.conn, self.legacy_through, self.covered)
        return chainhash.check_trail(self.conn, self.key, self.legacy_through, ())

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _bigger(size: Any, than: int) -> bool:
    return isinstance(size, int) and size > than


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

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="compliance-verify-indexes")
        self.thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.uri, uri=True, check_same_thread=False)
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
    def __init__(
        self, conn: sqlite3.Connection, key: bytes | None, cutoff_day: int, schema_version: int
    ) -> None:
        self.conn = conn
        self.schema = schema_version  # the schema the ledger's tables were held to
        self.key = key
        self.cutoff_day = cutoff_day
        self.count = 0
        self.signed = 0
        self.legacy = 0
        self.last = 0
        self.mode: str | None = None
        self.version: int | None = None
        self.key_id: str | None = None

    def opening(self) -> int:
        """The entry that opens the ledger: ledger.init first, or ledger.migrate after the
        entries of an earlier schema. Returns the last of those (0 when there are none)."""
        row = self.conn.execute(
            "SELECT seq, kind, data FROM audit_log WHERE kind IN ('ledger.init', "
            "'ledger.migrate') ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            raise _Broken(None, "the trail has no ledger.init or ledger.migrate entry")
        seq, kind, data = row
        if kind == "ledger.init" or type(seq) is not int:
            return 0
        try:
            through = json.loads(data)["legacy_through"]
        except (ValueError, KeyError, TypeError):
            through = None
        if through != seq - 1:
            raise _Broken(seq, "its data does not say which entries came before the migration")
        return through

    def run(self, legacy_through: int) -> None:
        """The trail's structure: entries in sequence, each following the one before, opened
        as a ledger is, and recent_sends against the allowed decisions. The hashes, and the
        covered tables' rows, are chainhash's passes."""
        conn = self.conn
        rows = conn.execute(_STRUCTURE)
        sends = _Sends(conn, self.cutoff_day)
        try:
            self._walk(rows, sends, legacy_through)
        except sqlite3.OperationalError as exc:
            # SQLite hands back text that is not UTF-8 as an error, not a value
            if "decode" not in str(exc).lower():
                raise
            raise _Broken(self.last + 1, "it holds text that is not UTF-8 (edited)") from None
        if legacy_through and self.last <= legacy_through:
            raise _Broken(
                None, "the trail holds entries of an earlier schema and no ledger.migrate entry"
            )
        sends.finish()

    def _walk(self, rows: Any, sends: _Sends, legacy_through: int) -> None:
        """Entry by entry (locals rather than attributes: this runs two million times on a
        large trail)."""
        prev = chainhash.GENESIS
        recent_us = self.cutoff_day * DAY_US  # allowed sends from here on must be in recent_sends
        opener = "ledger.migrate" if legacy_through else "ledger.init"
        last = count = 0
        expect = 1
        opened = False
        try:
            for (
                seq,
                prev_hash,
                digest,
                kind,
                outcome,
                subject,
                purpose,
                channel,
                send_us,
                data,
            ) in rows:
                count += 1
                if seq != expect:
                    if type(seq) is not int:
                        raise _Broken(
                            last + 1, f"its seq is a {type(seq).__name__}, not an integer"
                        )
                    raise _Broken(
                        expect if seq > expect else seq,
                        f"sequence jumps from {last} to {seq} (an entry was deleted or inserted)",
                    )
                if prev_hash != prev:
                    raise _Broken(seq, "it does not follow the entry before it")
                if not opened and seq > legacy_through and kind != GAP:
                    opened = True  # (seqs a copied ledger never used may come first)
                    if kind != opener:
                        raise _Broken(
                            seq,
                            f"the trail must open with a {opener} entry"
                            + (" after its entries of an earlier schema" if legacy_through else ""),
                        )
                # an entry that opens the ledger, or a migration
                if data is not None and seq > legacy_through and kind != GAP:
                    if kind == UPGRADE:
                        self._upgraded(seq, data)
                    else:
                        self._opened(seq, data)
                if sends.next_seq <= seq or (
                    outcome == "allow" and type(send_us) is int and send_us >= recent_us
                ):  # most entries have no recent send to check
                    sends.check(seq, kind, subject, outcome, purpose, channel, send_us)
                prev = digest
                last = seq
                expect = seq + 1 if kind != GAP else _gap_end(seq, data)
        finally:
            self.last, self.count = last, count

    def _opened(self, seq: int, data: Any) -> None:
        try:
            fields = json.loads(data)
            self.mode = fields["subjects"]
            self.version = int(fields.get("schema") or fields.get("to"))
            self.key_id = fields.get("subject_key_id")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _Broken(
                seq, "its data does not say the ledger's schema and subject mode"
            ) from None

    def _upgraded(self, seq: int, data: Any) -> None:
        if self.mode is None:
            raise _Broken(
                seq, "a ledger.upgrade entry comes before the entry that opens the ledger"
            )
        found = upgraded_version(seq, data, self.version)
        if isinstance(found, str):
            raise _Broken(seq, found)
        self.version = found

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
        if self.version != self.schema:
            raise _Broken(None, f"the trail says schema {self.version}, not {self.schema}")


# An entry that stands for seqs a ledger kept in chains (PostgreSQL) did not use, in a copy
# of it to SQLite (`compliance ledger migrate`), where seqs follow one another: its data says
# the seq of the entry after it. It is chained and signed like any entry.
GAP = "ledger.gap"


def gap_data(next_seq: int) -> dict[str, Any]:
    return {"next": next_seq, "why": "seqs the ledger this was copied from did not use"}


def _gap_end(seq: int, data: Any) -> int:
    try:
        found = json.loads(data)["next"]
    except (ValueError, KeyError, TypeError):
        found = None
    if type(found) is not int or found <= seq:
        raise _Broken(seq, "its data does not say which seq comes after the gap it stands for")
    return found


# what the structure walk reads of an entry: its data only where it opens the ledger
_STRUCTURE = (
    "SELECT seq, prev_hash, hash, kind, outcome, subject, purpose, channel, send_us, "
    "CASE WHEN kind IN ('ledger.init', 'ledger.migrate', 'ledger.gap', 'ledger.upgrade') "
    "THEN data END "
    "FROM audit_log "
    "ORDER BY seq"
)


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
    if mode == "hashed":
        # a person whose consent is on record keeps their identifier until an erase entry
        # removes it (and puts them on the erased list): a row deleted otherwise is an edit
        gone = conn.execute(
            "SELECT c.subject, c.audit_seq FROM consent_events c WHERE NOT EXISTS (SELECT 1 "
            "FROM subjects s WHERE s.sid = c.subject) AND NOT EXISTS (SELECT 1 FROM "
            "dnc_entries d WHERE d.subject = c.subject AND d.list = 'erased') LIMIT 1"
        ).fetchone()
        if gone is not None:
            raise _Broken(
                gone[1],
                f"the identifier of {gone[0]!r} is gone from subjects, and no erase entry "
                "removed it",
            )
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
