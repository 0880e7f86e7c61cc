"""The consent ledger: one SQLite file shared by every process that sends.

Consent history is append-only and current state is derived from it. Every write runs in a
`BEGIN IMMEDIATE` transaction that also appends its audit entry, in WAL mode with a busy timeout,
so several processes can write one file and no change exists without its audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from compliance.errors import ComplianceError
from compliance.gate import audit
from compliance.gate.model import aware, printable

DEFAULT_LEDGER = Path(".compliance") / "ledger.db"
SUBJECT_KEY_ENV = "COMPLIANCE_SUBJECT_KEY"
BUSY_TIMEOUT_S = 5.0
# The WAL is copied back into the database by a thread of our own once it passes this many
# pages, so that the copy (and its fsync) does not run inside a decision's commit; SQLite's own
# checkpoint, in the commit, is the backstop should the thread fall behind
CHECKPOINT_PAGES = 1000
BACKSTOP_PAGES = 20000
CACHE_KIB = 32768  # SQLite's page cache per connection (its default is 2 MiB)
# allowed sends are kept this long for frequency caps (the longest cap window is 7 days)
RECENT_DAYS = 8
DAY_US = 86_400_000_000  # recent sends are kept by UTC day, so a day's inserts stay together
PRUNE_EVERY_S = 3600.0
SCHEMA_VERSION = 2

# what each schema version adds to a ledger of the version before (SQL, or a column to add
# unless it is there: sqlite-utils reads the table's columns); SCHEMA is the newest whole
MIGRATIONS: dict[int, tuple[Any, ...]] = {
    2: (
        # the newest event per subject, channel and scope is read from the index alone
        "CREATE INDEX IF NOT EXISTS consent_latest ON consent_events "
        "(subject, channel, scope, at_us, id DESC, action, source)",
        "DROP INDEX IF EXISTS consent_by_subject",
        "CREATE INDEX IF NOT EXISTS reviews_open ON reviews (subject, channel) WHERE resolved = 0",
        # how a person resolved a review, and its audit entry
        ("add_column", "reviews", "resolution", str),
        ("add_column", "reviews", "resolved_seq", int),
        # frequency caps count allowed sends from a table that keeps only the last
        # RECENT_DAYS, rather than from an index over the whole audit trail, whose random
        # inserts slow every commit more as the trail grows
        "DROP INDEX IF EXISTS audit_by_subject",
        "INSERT OR IGNORE INTO recent_sends SELECT at_us / 86400000000, subject, at_us, purpose, "
        "seq FROM audit_log "
        "WHERE kind = 'decision' AND outcome = 'allow' AND subject IS NOT NULL AND at_us > "
        f"(SELECT MAX(at_us) FROM audit_log) - {RECENT_DAYS} * 86400000000",
    ),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY, at TEXT NOT NULL, at_us INTEGER NOT NULL, kind TEXT NOT NULL,
  subject TEXT, outcome TEXT, purpose TEXT, data TEXT NOT NULL, prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL, mac TEXT);
CREATE TABLE IF NOT EXISTS recent_sends (
  day INTEGER NOT NULL, subject TEXT NOT NULL, at_us INTEGER NOT NULL, purpose TEXT,
  seq INTEGER NOT NULL, PRIMARY KEY (day, subject, at_us, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consent_events (
  id INTEGER PRIMARY KEY, subject TEXT NOT NULL, channel TEXT NOT NULL, scope TEXT,
  action TEXT NOT NULL, source TEXT NOT NULL, at TEXT NOT NULL, at_us INTEGER NOT NULL,
  capture_digest TEXT, evidence TEXT, audit_seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS consent_latest ON consent_events
  (subject, channel, scope, at_us, id DESC, action, source);
CREATE TABLE IF NOT EXISTS pauses (
  id INTEGER PRIMARY KEY, target_kind TEXT NOT NULL, target TEXT NOT NULL,
  paused INTEGER NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL,
  audit_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dnc_entries (
  list TEXT NOT NULL, number TEXT NOT NULL, added_at TEXT, PRIMARY KEY (list, number));
CREATE INDEX IF NOT EXISTS dnc_by_number ON dnc_entries (number);
CREATE TABLE IF NOT EXISTS dnc_lists (
  name TEXT PRIMARY KEY, registry_market TEXT, checked_at_us INTEGER);
CREATE TABLE IF NOT EXISTS reassigned (
  number TEXT NOT NULL, disconnected_us INTEGER NOT NULL, PRIMARY KEY (number, disconnected_us));
CREATE TABLE IF NOT EXISTS reviews (
  id INTEGER PRIMARY KEY, subject TEXT NOT NULL, channel TEXT NOT NULL, text TEXT NOT NULL,
  at TEXT NOT NULL, resolved INTEGER NOT NULL DEFAULT 0, audit_seq INTEGER NOT NULL,
  resolution TEXT, resolved_seq INTEGER);
CREATE INDEX IF NOT EXISTS reviews_open ON reviews (subject, channel) WHERE resolved = 0;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (sid TEXT PRIMARY KEY, raw TEXT NOT NULL);
"""


class LedgerError(ComplianceError):
    """The ledger cannot be read or written: the gate answers deny (ledger.error)."""


class LedgerConfigError(LedgerError):
    """The ledger is readable but cannot be used as configured (a missing subject key, a newer
    schema): a person must act, so opening it raises."""


def default_path() -> Path:
    return Path(os.environ.get("COMPLIANCE_DB") or DEFAULT_LEDGER)


def micros(at: dt.datetime) -> int:
    """Microseconds since the epoch. A decision asks this of its instant several times: the
    last answer is kept (one tuple, replaced whole, so threads cannot mix two answers)."""
    last = _last_micros
    if last[0] is at:
        return last[1]
    value = int(at.timestamp() * 1_000_000)
    globals()["_last_micros"] = (at, value)
    return value


_last_micros: tuple[Any, int] = (None, 0)


class Ledger:
    """Consent, do-not-contact lists, pauses and the audit trail, in one SQLite file.

    A fault (the file gone, read-only, locked past the busy timeout, corrupted, the disk full)
    makes the write that meets it raise LedgerError, which the gate answers with deny; the
    next write tries again on a fresh connection, so the ledger recovers once the fault is
    gone. A file that disappears is never recreated behind the caller's back: only opening a
    ledger creates one. `readonly=True` opens an existing ledger for reading only (audit
    verify and export on an auditor's copy)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: bool = False,
        busy_timeout: float = BUSY_TIMEOUT_S,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.durable = durable
        self.busy_timeout = busy_timeout
        self.readonly = readonly
        self.key = audit.audit_key()
        self.subject_key: bytes | None = None
        self.conn: sqlite3.Connection = None  # type: ignore[assignment]
        self._identity: tuple[int, int] | None = None  # the file we opened (device, inode)
        self._broken: str | None = None  # why the connection must be opened again
        self._tail: tuple[int, str] | None = None
        self._pending: list[tuple[Any, ...]] = []  # audit rows written at commit
        self._sends: list[tuple[Any, ...]] = []  # and the allowed sends among them
        self._batch: dict[str, dict[Any, Any]] | None = None
        self._fresh: dict[str, list[tuple[Any, int]]] = {}  # allowed in this transaction
        self._registry: dict[str, int | None] = {}  # registry checks read in this transaction
        self._checkpointer: _Checkpointer | None = None
        if readonly:
            self._open_readonly()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the folder of ledger {self.path}: {exc}") from None
        self._connect(create=True)
        self._checkpointer = _Checkpointer(self.path, durable)

    def _connect(self, *, create: bool) -> None:
        """Open the file (only the first time may create it), bring its schema up to date
        and check its subject mode. Raises LedgerError."""
        if self.conn is not None:
            with suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None  # type: ignore[assignment]
        if not create and not self.path.exists():
            raise LedgerError(
                f"ledger {self.path} is missing: restore it from a backup (the gate denies every "
                "send until then; a new empty ledger would forget every opt-out)"
            )
        try:
            uri = f"{self.path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open ledger {self.path}: {exc}") from exc
        self.conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL survives a killed process (the WAL is on disk); FULL also survives power
            # loss, at an fsync per decision
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            # room for the pages a batch touches (the recent sends table and the consent index)
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._broken = None
            with self.write(check=False):
                for statement in filter(str.strip, SCHEMA.split(";")):
                    conn.execute(statement)
                self._migrate()
                mode = "hashed" if os.environ.get(SUBJECT_KEY_ENV) else "raw"
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('subjects', ?)", (mode,))
                mode = conn.execute("SELECT value FROM meta WHERE key = 'subjects'").fetchone()[0]
            self._identity = self._stat()
        except LedgerConfigError:
            raise
        except (sqlite3.Error, LedgerError) as exc:
            self._broken = str(exc)
            cause = exc.__cause__ if isinstance(exc, LedgerError) and exc.__cause__ else exc
            raise LedgerError(f"cannot open ledger {self.path}: {cause}") from exc
        self._subject_mode(mode)

    def _open_readonly(self) -> None:
        if not self.path.is_file():
            raise LedgerError(f"there is no ledger at {self.path}")
        try:
            self.conn = sqlite3.connect(
                f"{self.path.absolute().as_uri()}?mode=ro",
                uri=True,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            rows = dict(self.conn.execute("SELECT key, value FROM meta"))
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot read ledger {self.path}: {exc}") from exc
        version = int(rows.get("schema_version", SCHEMA_VERSION))
        if version > SCHEMA_VERSION:
            raise LedgerConfigError(
                f"ledger {self.path} has schema version {version}, newer than this compliance "
                f"understands ({SCHEMA_VERSION}): upgrade compliance"
            )
        self._subject_mode(rows.get("subjects", "raw"))

    def _subject_mode(self, mode: str) -> None:
        secret = os.environ.get(SUBJECT_KEY_ENV)
        if mode == "hashed" and not secret:
            raise LedgerConfigError(
                f"ledger {self.path} stores subjects as keyed hashes: set "
                f"{SUBJECT_KEY_ENV} to the key it was created with"
            )
        self.subject_key = secret.encode("utf-8") if mode == "hashed" and secret else None

    def _stat(self) -> tuple[int, int] | None:
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return found.st_dev, found.st_ino

    def _ensure(self) -> None:
        """Before a write: the connection is sound and the file is still the one it opened;
        otherwise open it again (a restored file), or raise (a missing one)."""
        identity = self._stat()
        if identity is None:
            self._broken = "missing"
            raise LedgerError(
                f"ledger {self.path} is missing: restore it from a backup (the gate denies every "
                "send until then; a new empty ledger would forget every opt-out)"
            )
        if self._broken is not None or identity != self._identity:
            self._connect(create=False)
            if self._checkpointer is not None:  # its connection may be to the file replaced
                self._checkpointer.stop()
                self._checkpointer = _Checkpointer(self.path, self.durable)

    def _migrate(self) -> None:
        """Bring the ledger's schema to this version (inside the opening transaction)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else SCHEMA_VERSION  # a new ledger has the newest schema
        if version > SCHEMA_VERSION:
            raise LedgerConfigError(
                f"ledger {self.path} has schema version {version}, newer than this compliance "
                f"understands ({SCHEMA_VERSION}): upgrade compliance"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                if isinstance(statement, str):
                    self.conn.execute(statement)
                    continue
                import sqlite_utils

                _, table, column, kind = statement
                found = sqlite_utils.Database(self.conn)[table]
                if column not in found.columns_dict:  # type: ignore[union-attr]
                    found.add_column(column, kind)  # type: ignore[union-attr]
        self.conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def sid(self, subject: str) -> str:
        """How a subject is stored: itself, or a keyed hash when the ledger pseudonymises
        subjects (the raw value then lives only in the erasable `subjects` table)."""
        if self.subject_key is None:
            return subject
        return (
            "h:"
            + hmac.new(self.subject_key, subject.encode("utf-8"), hashlib.sha256).hexdigest()[:40]
        )

    def _remember(self, subject: str) -> str:
        sid = self.sid(subject)
        if self.subject_key is not None:
            self.conn.execute("INSERT OR IGNORE INTO subjects VALUES (?, ?)", (sid, subject))
        return sid

    def erase(self, subject: str, at: dt.datetime) -> int:
        """Remove the raw identifier; a hashed suppression entry keeps the subject from ever
        being messaged again, and the audit trail (which holds only hashes) stays intact."""
        if self.subject_key is None:
            raise LedgerError(
                f"ledger {self.path} stores raw subjects, so nothing can be erased "
                f"without rewriting the audit trail: create ledgers with "
                f"{SUBJECT_KEY_ENV} set to pseudonymise subjects"
            )
        at = aware(at)
        sid = self.sid(subject)
        with self.write():
            seq = self.audit(at=at, kind="subject.erase", subject=subject, data={})
            self.conn.execute("DELETE FROM subjects WHERE sid = ?", (sid,))
            self.conn.execute(
                "INSERT OR IGNORE INTO dnc_entries VALUES ('erased', ?, ?)", (sid, at.isoformat())
            )
        return seq

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self.conn is not None:
            with suppress(sqlite3.Error):
                self.conn.close()

    @contextmanager
    def write(self, *, check: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), committed on success. Any
        SQLite error is raised as LedgerError, and the next transaction opens a fresh
        connection (a waiting writer's "locked" excepted: that one passes by itself)."""
        if self.readonly:
            raise LedgerError(f"ledger {self.path} was opened read-only")
        if check:
            self._ensure()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._fault(exc)
            raise LedgerError(f"ledger {self.path} cannot be written: {exc}") from exc
        # the chain's tail is read once per transaction, then carried from append to append;
        # another process cannot append in between, the transaction holds the write lock. The
        # entries are inserted together just before COMMIT: one statement for a whole batch
        self._tail = None
        self._pending = []
        self._sends = []
        self._fresh = {}
        self._registry = {}
        try:
            yield self.conn
            if self._pending:
                self.conn.executemany(audit.INSERT, self._pending)
            if self._sends:
                self.conn.executemany(
                    "INSERT INTO recent_sends VALUES (?, ?, ?, ?, ?)", self._sends
                )
            self.conn.execute("COMMIT")
            if self._checkpointer is not None:
                self._checkpointer.wrote(len(self._pending))
        except BaseException as exc:
            with suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                self._fault(exc)
                raise LedgerError(f"ledger {self.path} cannot be written: {exc}") from exc
            raise
        finally:
            self._pending = []
            self._sends = []

    def _fault(self, exc: sqlite3.Error) -> None:
        """Remember that the connection met a fault, so that the next write opens a new one
        (a connection opened on a read-only or damaged file stays that way)."""
        if "locked" not in str(exc) and "busy" not in str(exc):
            self._broken = str(exc)

    def audit(
        self,
        *,
        at: dt.datetime,
        kind: str,
        subject: str | None,
        data: dict[str, Any] | None,
        outcome: str | None = None,
        purpose: str | None = None,
        at_us: int | None = None,
        text: str | None = None,
    ) -> int:
        """Append an audit entry; the caller holds the write transaction, which inserts it
        when it commits (and drops it if it rolls back)."""
        sid = self._remember(subject) if subject else None
        if at_us is None:
            at_us = micros(at)
        row, self._tail = audit.entry(
            self._tail or audit.tail_of(self.conn),
            at=at.isoformat(),
            at_us=at_us,
            kind=kind,
            subject=sid,
            data=data,
            outcome=outcome,
            purpose=purpose,
            key=self.key,
            text=text,
        )
        self._pending.append(row)
        if outcome == "allow" and sid is not None and kind == "decision":
            self._sends.append((at_us // DAY_US, sid, at_us, purpose, row[0]))
            # later sends of the same transaction count this one against their frequency caps
            self._fresh.setdefault(sid, []).append((purpose, at_us))
        return self._tail[0]

    # consent -----------------------------------------------------------------------------

    def record_consent(
        self,
        *,
        subject: str,
        channel: str,
        scope: str | None,
        action: str,
        source: str,
        at: dt.datetime,
        capture_digest: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> int:
        return self.record_consents(
            [
                {
                    "subject": subject,
                    "channel": channel,
                    "scope": scope,
                    "action": action,
                    "source": source,
                    "at": at,
                    "capture_digest": capture_digest,
                    "evidence": evidence,
                }
            ]
        )[0]

    def record_consents(self, events: list[dict[str, Any]]) -> list[int]:
        """Grants and revocations in one transaction, each with its own audit entry: all of
        them are written, or none. Returns their audit entries."""
        prepared = [(e, aware(e["at"])) for e in events]
        seqs = []
        with self.write():
            for event, at in prepared:
                row = self._event_row(
                    event["subject"],
                    event["channel"],
                    event["scope"],
                    event["action"],
                    event["source"],
                    at,
                    event.get("capture_digest"),
                    event.get("evidence") or {},
                )
                seq = self.audit(
                    at=at,
                    kind=f"consent.{event['action']}",
                    subject=event["subject"],
                    data={
                        "channel": event["channel"],
                        "scope": event["scope"],
                        "source": event["source"],
                        "capture_digest": event.get("capture_digest"),
                        "evidence": event.get("evidence") or {},
                        "rows": {"consent_events": audit.rows_digest([row])},
                    },
                )
                self._insert_event(row, seq)
                seqs.append(seq)
        return seqs

    def _event_row(
        self,
        subject: str,
        channel: str,
        scope: str | None,
        action: str,
        source: str,
        at: dt.datetime,
        capture_digest: str | None,
        evidence: dict[str, Any],
    ) -> tuple[Any, ...]:
        """A consent_events row, its values in audit.COVERED order."""
        return (
            self.sid(subject),
            channel,
            scope,
            action,
            printable(source),
            at.isoformat(),
            micros(at),
            capture_digest,
            printable(json.dumps(evidence, sort_keys=True, ensure_ascii=False, default=str)),
        )

    def _insert_event(self, row: tuple[Any, ...], seq: int) -> None:
        self.conn.execute(
            "INSERT INTO consent_events (subject, channel, scope, action, source, at, at_us, "
            "capture_digest, evidence, audit_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, seq),
        )

    def prefetch(
        self,
        subjects: list[str] | None,
        until_us: int = 0,
        allowed_since_us: int | None = None,
    ) -> None:
        """Read what a batch's subjects' decisions need in a few queries, for the length of the
        current write transaction (nothing else writes meanwhile: the transaction holds the
        lock): the newest consent event per channel and scope up to `until_us` (the batch's
        latest instant), list entries, disconnections, open reviews and, from
        `allowed_since_us` on, allowed sends for frequency caps. None clears it."""
        if subjects is None:
            self._batch = None
            return
        self._batch = self._read(self.conn, subjects, until_us, allowed_since_us)

    def _read(
        self,
        conn: sqlite3.Connection,
        subjects: list[str],
        until_us: int,
        allowed_since_us: int | None,
    ) -> dict[str, Any]:
        sids = list(dict.fromkeys(self.sid(s) for s in subjects))
        batch: dict[str, dict[Any, Any]] = {
            "events": {},
            "dnc": {},
            "gone": {},
            "review": {},
            "allowed": {},  # prefetched allowed sends, from allowed_since_us on
            "since": {"us": allowed_since_us},
            "until": {"us": until_us},
        }
        queries = [
            (
                # one row per (subject, channel, scope): its newest event, read from the
                # covering index. Of events of the same instant the later one (higher id) is
                # the newest: the index holds them id descending, and SQLite takes a bare
                # column from the first row that reaches the maximum (a test holds it to that)
                "events",
                "SELECT subject, channel, scope, action, MAX(at_us), source, id FROM "
                "consent_events WHERE subject IN ({}) AND at_us <= ? "
                "GROUP BY subject, channel, scope",
                (until_us,),
            ),
            ("dnc", "SELECT number, list FROM dnc_entries WHERE number IN ({})", ()),
            ("gone", "SELECT number, disconnected_us FROM reassigned WHERE number IN ({})", ()),
            (
                "review",
                "SELECT DISTINCT subject, channel FROM reviews WHERE subject IN ({}) "
                "AND resolved = 0",
                (),
            ),
        ]
        # a table with nothing in it is not asked about each subject
        has = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM dnc_entries), EXISTS (SELECT 1 FROM reassigned), "
            "EXISTS (SELECT 1 FROM reviews WHERE resolved = 0)"
        ).fetchone()
        empty = {
            name for name, found in zip(("dnc", "gone", "review"), has, strict=True) if not found
        }
        queries = [q for q in queries if q[0] not in empty]
        if allowed_since_us is not None:
            days = list(range(allowed_since_us // DAY_US, until_us // DAY_US + 1))
            queries.append(
                (
                    "allowed",
                    "SELECT subject, purpose, at_us FROM recent_sends WHERE day IN "
                    f"({','.join(map(str, days))}) AND subject IN ({{}}) AND at_us > ? "
                    "AND at_us <= ?",
                    (allowed_since_us, until_us),
                )
            )
        size = self._params_per_query()
        for start in range(0, len(sids), size):
            chunk = sids[start : start + size]
            marks = ",".join("?" * len(chunk))
            for name, sql, extra in queries:
                found = batch[name]
                for row in conn.execute(sql.format(marks), (*chunk, *extra)):
                    if row[0] in found:
                        found[row[0]].append(row[1:])
                    else:
                        found[row[0]] = [row[1:]]
        return batch

    def _params_per_query(self) -> int:
        """How many subjects one IN (...) list may hold: SQLite's bound-parameter limit (32,766
        since 3.32, 999 before), less room for the query's other parameters."""
        limit = 999
        with suppress(AttributeError, sqlite3.Error):  # getlimit: Python 3.11 and later
            limit = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return max(1, min(limit, 32766) - 8)

    def consent_events(self, subject: str, channel: str, until_us: int) -> list[tuple[Any, ...]]:
        """The newest event per scope (None: the whole channel) on a channel up to an instant,
        as (scope, action, at_us, source), newest first."""
        sid = self.sid(subject)
        if self._batch is not None:
            # the newest events up to the batch's latest instant are also the newest up to
            # this send's, unless one of them is later than this send
            rows = [r for r in self._batch["events"].get(sid, ()) if r[0] == channel]
            if all(r[3] <= until_us for r in rows):
                if len(rows) > 1:
                    rows.sort(key=lambda r: (r[3], r[5]), reverse=True)
                return [r[1:5] for r in rows]
        return self.conn.execute(
            "SELECT scope, action, at_us, source FROM consent_events c WHERE subject = ? AND "
            "channel = ? AND at_us <= ? AND id = (SELECT id FROM consent_events d WHERE "
            "d.subject = c.subject AND d.channel = c.channel AND d.scope IS c.scope AND "
            "d.at_us <= ? ORDER BY at_us DESC, id DESC LIMIT 1) ORDER BY at_us DESC, id DESC",
            (sid, channel, until_us, until_us),
        ).fetchall()

    def pending_review(self, subject: str, channel: str) -> bool:
        """An inbound message that may be an opt-out and that no person has resolved yet."""
        if self._batch is not None:
            return (channel,) in self._batch["review"].get(self.sid(subject), ())
        row = self.conn.execute(
            "SELECT 1 FROM reviews WHERE subject = ? AND channel = ? AND resolved = 0 LIMIT 1",
            (self.sid(subject), channel),
        ).fetchone()
        return row is not None

    def history(self, subject: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT channel, scope, action, source, at, capture_digest, evidence, audit_seq FROM "
            "consent_events WHERE subject = ? ORDER BY at_us, id",
            (self.sid(subject),),
        )
        names = (
            "channel",
            "scope",
            "action",
            "source",
            "at",
            "capture_digest",
            "evidence",
            "audit_seq",
        )
        return [dict(zip(names, row, strict=True)) for row in rows]

    # pauses ------------------------------------------------------------------------------

    def set_pause(
        self, kind: str, target: str, paused: bool, reason: str, by: str, at: dt.datetime
    ) -> int:
        at = aware(at)
        row = (
            printable(kind),
            printable(target),
            int(paused),
            printable(reason),
            printable(by),
            at.isoformat(),
        )
        with self.write():
            seq = self.audit(
                at=at,
                kind="pause" if paused else "resume",
                subject=None,
                data={
                    "target_kind": kind,
                    "target": target,
                    "reason": reason,
                    "by": by,
                    "rows": {"pauses": audit.rows_digest([row])},
                },
            )
            self.conn.execute(
                "INSERT INTO pauses (target_kind, target, paused, reason, by, at, audit_seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*row, seq),
            )
        return seq

    def paused(self) -> dict[tuple[str, str], str]:
        """(kind, target) -> reason, for targets whose latest pause event is a pause."""
        rows = self.conn.execute(
            "SELECT target_kind, target, paused, reason FROM pauses p WHERE id = (SELECT MAX(id)"
            " FROM pauses q WHERE q.target_kind = p.target_kind AND q.target = p.target)"
        )
        return {(kind, target): reason for kind, target, paused, reason in rows if paused}

    # do-not-contact and reassigned numbers ------------------------------------------------

    def dnc_listed(self, number: str) -> list[str]:
        if self._batch is not None:
            return [name for (name,) in self._batch["dnc"].get(self.sid(number), [])]
        rows = self.conn.execute(
            "SELECT list FROM dnc_entries WHERE number = ?", (self.sid(number),)
        )
        return [name for (name,) in rows]

    def registry_checked(self, market: str) -> int | None:
        """When the market's national registry was last checked (microseconds), or None."""
        if market in self._registry:
            return self._registry[market]
        row = self.conn.execute(
            "SELECT MAX(checked_at_us) FROM dnc_lists WHERE registry_market = ?", (market,)
        ).fetchone()
        checked = row[0] if row else None
        self._registry[market] = checked  # for the rest of this transaction
        return checked

    def disconnected_after(self, number: str, since_us: int, until_us: int) -> bool:
        if self._batch is not None:
            gone = self._batch["gone"].get(self.sid(number), [])
            return any(since_us < when <= until_us for (when,) in gone)
        row = self.conn.execute(
            "SELECT 1 FROM reassigned WHERE number = ? AND disconnected_us > ? AND "
            "disconnected_us <= ? LIMIT 1",
            (self.sid(number), since_us, until_us),
        ).fetchone()
        return row is not None

    def import_dnc(
        self,
        name: str,
        numbers: list[tuple[str, str | None]],
        *,
        registry_market: str | None,
        checked_at: dt.datetime | None,
        at: dt.datetime,
    ) -> int:
        """Add numbers to a do-not-contact list; a registry import also records its check."""
        at = aware(at)
        checked = aware(checked_at, "checked_at") if checked_at is not None else None
        with self.write():
            seq = self.audit(
                at=at,
                kind="dnc.import",
                subject=None,
                data={
                    "list": name,
                    "numbers": len(numbers),
                    "registry_market": registry_market,
                    "checked_at": checked.isoformat() if checked else None,
                },
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO dnc_entries VALUES (?, ?, ?)",
                [(name, self.sid(n), added) for n, added in numbers],
            )
            self.conn.execute(
                "INSERT INTO dnc_lists (name, registry_market, checked_at_us) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET registry_market = excluded.registry_market, "
                "checked_at_us = MAX(COALESCE(checked_at_us, 0), COALESCE(excluded.checked_at_us,"
                " 0))",
                (name, registry_market, micros(checked) if checked else None),
            )
        return seq

    def import_reassigned(self, rows: list[tuple[str, dt.datetime]], at: dt.datetime) -> int:
        """Numbers and when they were disconnected (e.g. from the US Reassigned Numbers
        Database): consent given before the disconnection is void."""
        at = aware(at)
        with self.write():
            seq = self.audit(
                at=at, kind="reassigned.import", subject=None, data={"numbers": len(rows)}
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO reassigned VALUES (?, ?)",
                [(self.sid(n), micros(aware(when, "disconnected"))) for n, when in rows],
            )
        return seq

    def record_inbound(
        self,
        *,
        subject: str,
        channel: str,
        sender: str | None,
        text: str,
        action: str,
        at: dt.datetime,
    ) -> int:
        """An inbound message and what it meant: an opt-out or opt-in changes consent on the
        whole channel; a doubtful one waits for a person."""
        at = aware(at)
        row = None
        data: dict[str, Any] = {
            "channel": channel,
            "sender": sender,
            "text": text,
            "action": action,
        }
        if action in ("opt_out", "opt_in"):
            row = self._event_row(
                subject,
                channel,
                None,
                "revoke" if action == "opt_out" else "opt_in",
                f"inbound:{text.strip()[:40]}",
                at,
                None,
                {},
            )
            data["rows"] = {"consent_events": audit.rows_digest([row])}
        with self.write():
            seq = self.audit(at=at, kind="inbound", subject=subject, data=data)
            if row is not None:
                self._insert_event(row, seq)
            elif action == "review":
                self.conn.execute(
                    "INSERT INTO reviews (subject, channel, text, at, audit_seq) VALUES "
                    "(?, ?, ?, ?, ?)",
                    (self.sid(subject), channel, text, at.isoformat(), seq),
                )
        return seq

    # reviews -----------------------------------------------------------------------------

    def reviews(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        """Inbound messages that might be opt-outs, oldest first: the open ones, or all."""
        sql = (
            "SELECT r.id, COALESCE(s.raw, r.subject), r.channel, r.text, r.at, r.resolved, "
            "r.resolution, r.audit_seq, r.resolved_seq FROM reviews r LEFT JOIN subjects s ON "
            "s.sid = r.subject" + ("" if include_resolved else " WHERE r.resolved = 0")
        )
        names = (
            "id",
            "subject",
            "channel",
            "text",
            "at",
            "resolved",
            "resolution",
            "audit_seq",
            "resolved_seq",
        )
        rows = self.conn.execute(sql + " ORDER BY r.id")
        return [{**dict(zip(names, row, strict=True)), "resolved": bool(row[5])} for row in rows]

    def resolve_review(
        self, review_id: int, *, opt_out: bool, by: str, note: str | None, at: dt.datetime
    ) -> int:
        """A person's reading of a doubtful reply. An opt-out revokes consent on the whole
        channel from the moment the message came in; either way marketing resumes being
        decided by the consent on record."""
        at = aware(at)
        if not by.strip():
            raise ValueError("say who resolved the review (by=)")
        with self.write():
            row = self.conn.execute(
                "SELECT subject, channel, text, at, resolved FROM reviews WHERE id = ?",
                (review_id,),
            ).fetchone()
            if row is None:
                raise ValueError(f"there is no review {review_id}")
            sid, channel, text, message_at, resolved = row
            if resolved:
                raise ValueError(f"review {review_id} is resolved already")
            resolution = "opt_out" if opt_out else "not_opt_out"
            who = sid
            if self.subject_key is not None:  # the raw subject, unless it was erased
                found = self.conn.execute(
                    "SELECT raw FROM subjects WHERE sid = ?", (sid,)
                ).fetchone()
                who = found[0] if found else None
            event = None
            data: dict[str, Any] = {
                "review": review_id,
                "channel": channel,
                "resolution": resolution,
                "by": by,
                "note": note,
                "message_at": message_at,
            }
            if opt_out:
                when = dt.datetime.fromisoformat(message_at)
                event = (
                    sid,
                    channel,
                    None,
                    "revoke",
                    f"review:{review_id}",
                    when.isoformat(),
                    micros(when),
                    None,
                    printable(
                        json.dumps({"text": text, "by": by}, sort_keys=True, ensure_ascii=False)
                    ),
                )
                data["rows"] = {"consent_events": audit.rows_digest([event])}
            seq = self.audit(at=at, kind="review.resolve", subject=who, data=data)
            self.conn.execute(
                "UPDATE reviews SET resolved = 1, resolution = ?, resolved_seq = ? WHERE id = ?",
                (resolution, seq, review_id),
            )
            if event is not None:
                self._insert_event(event, seq)
        return seq

    # frequency ---------------------------------------------------------------------------

    def allowed_since(self, subject: str, purposes: list[str], since_us: int, until_us: int) -> int:
        """Allowed sends to the subject for these purposes in (since_us, until_us]. In a batch
        the prefetch must reach back to `since_us`."""
        sid = self.sid(subject)
        batch = self._batch
        fresh = 0
        rows = self._fresh.get(sid, ())
        fresh = sum(1 for p, at in rows if since_us < at <= until_us and p in purposes)
        if batch is not None:
            covered = batch["since"]["us"]
            if covered is not None and covered <= since_us:
                rows = batch["allowed"].get(sid, ())
                return fresh + sum(
                    1 for p, at in rows if since_us < at <= until_us and p in purposes
                )
        days = ",".join(map(str, range(since_us // DAY_US, until_us // DAY_US + 1)))
        marks = ",".join("?" * len(purposes))
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM recent_sends WHERE day IN ({days}) AND subject = ? AND "
            f"purpose IN ({marks}) AND at_us > ? AND at_us <= ?",
            (sid, *purposes, since_us, until_us),
        ).fetchone()
        return fresh + int(row[0])

    def verify(self) -> audit.Verdict:
        return audit.verify(self.conn, self.key)


class _Checkpointer:
    """A daemon thread with its own connection that copies the WAL back into the database
    (a PASSIVE checkpoint: it never waits for, nor blocks, readers and writers) once the WAL
    passes CHECKPOINT_PAGES. SQLite runs the checkpoint outside the GIL, so on a machine with
    two cores it overlaps the next decisions instead of stalling a commit."""

    def __init__(self, path: Path, durable: bool) -> None:
        self.path = path
        self.wal = Path(f"{path}-wal")
        self.durable = durable
        self.threshold = CHECKPOINT_PAGES * 4096
        self._wake = threading.Event()
        self._since = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="compliance-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self, entries: int) -> None:
        """A commit appended `entries` audit entries: wake the thread once every few hundred
        (waking it on every commit costs a single check() a fifth of its time)."""
        self._since += entries
        if self._since >= 256:
            self._since = 0
            self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        conn = None
        try:
            # mode=rw: a ledger file that has gone away is never created again from here
            conn = sqlite3.connect(
                f"{self.path.absolute().as_uri()}?mode=rw",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
            )
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            pruned = 0.0
            while not self._stopping:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                if self._wal_bytes() > self.threshold:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                if time.monotonic() - pruned > PRUNE_EVERY_S:
                    pruned = time.monotonic()
                    _prune(conn)
        except sqlite3.Error:
            return  # SQLite's own checkpoint in the commit (BACKSTOP_PAGES) takes over
        finally:
            if conn is not None:
                conn.close()

    def _wal_bytes(self) -> int:
        try:
            return self.wal.stat().st_size
        except OSError:
            return 0


def _prune(conn: sqlite3.Connection) -> None:
    """Drop allowed sends older than RECENT_DAYS before the newest one (the ledger's own time,
    not the clock's: a ledger of backdated sends keeps what its caps need). Skipped when
    another process holds the write lock."""
    conn.execute("PRAGMA busy_timeout=100")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return
    try:
        conn.execute(
            "DELETE FROM recent_sends WHERE day < (SELECT MAX(day) FROM recent_sends) - ?",
            (RECENT_DAYS,),
        )
        conn.execute("COMMIT")
    except sqlite3.Error:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
