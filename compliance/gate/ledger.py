"""The consent ledger: one SQLite file shared by every process that sends.

Consent history is append-only and current state is derived from it. Every write runs in a
`BEGIN IMMEDIATE` transaction that also appends its audit entry, in WAL mode with a busy timeout,
so several processes can write one file and no change exists without its audit entry. Every
row a decision reads is vouched for by the entry that wrote it (schema.py, verify.py).

Time comes from one clock (the gate's): a transaction reads it once it holds the write lock,
so a decision sees every event recorded before it, and nothing recorded takes effect later
than when it was recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from compliance.errors import ComplianceError
from compliance.gate import audit, schema
from compliance.gate.checkpoint import Checkpointer
from compliance.gate import model
from compliance.gate.model import aware, printable
from compliance.gate.schema import SCHEMA_VERSION
from compliance.gate.verify import DAY_US, RECENT_DAYS, Verdict

DEFAULT_LEDGER = Path(".compliance") / "ledger.db"
SUBJECT_KEY_ENV = "COMPLIANCE_SUBJECT_KEY"
BUSY_TIMEOUT_S = 5.0
CACHE_KIB = 32768  # SQLite's page cache per connection (its default is 2 MiB)
ERASED = "erased"  # the list that keeps erased subjects from ever being messaged again
# consent on one of these reaches the others: text messages to one phone number, where MMS
# is SMS with media and RCS falls back to SMS (one number, one program, one STOP)
TEXT = ("sms", "mms", "rcs")
FAMILIES = {"sms": TEXT, "mms": TEXT, "rcs": TEXT}


class LedgerError(ComplianceError):
    """The ledger cannot be read or written: the gate answers deny (ledger.error)."""


class LedgerConfigError(LedgerError):
    """The ledger is readable but cannot be used as it is (a missing subject key, a newer or
    unexpected schema, an old ledger that does not verify): a person must act."""


class LedgerMissingError(LedgerError):
    """There is no ledger at the path (missing, empty, or not a ledger) and none was to be
    created."""


def default_path() -> Path:
    return Path(os.environ.get("COMPLIANCE_DB") or DEFAULT_LEDGER)


def family(channel: str) -> tuple[str, ...]:
    return FAMILIES.get(channel, (channel,))


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


def from_us(value: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=value)


class Ledger:
    """Consent, do-not-contact lists, pauses and the audit trail, in one SQLite file.

    A fault (the file gone, read-only, locked past the busy timeout, corrupted, the disk full)
    makes the write that meets it raise LedgerError, which the gate answers with deny; the
    next write tries again on a fresh connection, so the ledger recovers once the fault is
    gone. A ledger is created only with `create=True`; a file that disappears is never
    recreated. `readonly=True` opens an existing ledger for reading only (audit verify and
    export on an auditor's copy, on a read-only mount too). One Ledger may be shared by threads:
    each transaction holds its lock."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: bool = False,
        busy_timeout: float = BUSY_TIMEOUT_S,
        readonly: bool = False,
        create: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.path = Path(path)
        self.durable = durable
        self.busy_timeout = busy_timeout
        self.readonly = readonly
        self.clock = clock or model.system_clock
        self.key = audit.audit_key()
        self.subject_key: bytes | None = None
        self.version = SCHEMA_VERSION
        self.conn: sqlite3.Connection = None  # type: ignore[assignment]
        self._lock = threading.RLock()
        self._identity: tuple[int, int] | None = None  # the file we opened (device, inode)
        self._broken: str | None = None  # why the connection must be opened again
        self._cookie: int | None = None  # SQLite's schema_version when the schema was checked
        self._copy: Any = None  # a temporary copy, for a read-only ledger SQLite cannot open
        self._reset()
        self._checkpointer: Checkpointer | None = None
        if readonly:
            self._open_readonly()
            return
        self._connect(create=create)
        self._checkpointer = Checkpointer(self.path, durable, self.clock)

    def _reset(self) -> None:
        """What one write transaction carries."""
        self.now = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        self.now_us = 0
        self._tail: tuple[int, str] | None = None
        self._pending: list[tuple[Any, ...]] = []  # audit rows written at commit
        self._sends: list[tuple[Any, ...]] = []  # and the allowed sends among them
        self._fresh: dict[str, list[tuple[Any, ...]]] = {}  # allowed in this transaction
        self._batch: dict[str, dict[Any, Any]] | None = None
        self._registry: dict[str, int | None] = {}
        self._ids: dict[str, int] = {}

    def clock_us(self) -> int:
        return micros(aware(self.clock(), "the clock's time"))

    # opening ------------------------------------------------------------------------------

    def _connect(self, *, create: bool) -> None:
        """Open the file, bring its schema up to date (only `create` may make a new ledger)
        and check its schema and subject mode. Raises LedgerError."""
        if self.conn is not None:
            with suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None  # type: ignore[assignment]
        state = _file_state(self.path)
        if state != "file" and not (create and state in ("missing", "empty")):
            raise LedgerMissingError(_missing_message(self.path, state))
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LedgerError(f"cannot create the folder of ledger {self.path}: {exc}") from None
        try:
            uri = f"{self.path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
            conn = sqlite3.connect(
                uri, uri=True, timeout=self.busy_timeout, isolation_level=None,
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
            conn.execute(f"PRAGMA wal_autocheckpoint={Checkpointer.BACKSTOP_PAGES}")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._broken = None
            with self.write(check=False):
                self._prepare(create)
            self._identity = self._stat()
        except LedgerError as exc:
            self._broken = str(exc)
            if isinstance(exc, LedgerConfigError | LedgerMissingError):
                raise
            cause = exc.__cause__ if exc.__cause__ else exc
            raise LedgerError(f"cannot open ledger {self.path}: {cause}") from exc
        except sqlite3.Error as exc:
            self._broken = str(exc)
            raise LedgerError(f"cannot open ledger {self.path}: {exc}") from exc

    def _prepare(self, create: bool) -> None:
        """Inside the opening transaction: a new ledger's schema and first entry, or an
        existing one's version, migration and pinned schema."""
        conn = self.conn
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            if not create:
                raise LedgerMissingError(_missing_message(self.path, "blank"))
            mode = "hashed" if os.environ.get(SUBJECT_KEY_ENV) else "raw"
            self._subject_mode(mode)
            schema.create(conn)
            facts = self.facts(mode)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(facts.items()))
            from compliance import __version__

            self.audit(
                kind="ledger.init",
                subject=None,
                data={**_opening(facts), "tool": __version__},
            )
        else:
            version = schema.version_of(conn)
            if version is None and "audit_log" in tables:  # a ledger whose meta was dropped
                self._check_schema()
            if version is None:
                raise LedgerMissingError(_missing_message(self.path, "foreign"))
            self._check_version(version)
            mode = self._meta_mode()
            self._subject_mode(mode)
            if version < SCHEMA_VERSION:
                from compliance.gate.migrate import migrate

                migrate(self, version, mode)  # writes meta and its opening entry itself
            else:
                self._check_schema()
                self._check_opening(mode)
        self._check_schema()

    def facts(self, mode: str) -> dict[str, str]:
        """What meta holds, as the ledger's first entry says it: the schema, how subjects are
        stored, and for keyed hashes, which key."""
        found = {"schema_version": str(SCHEMA_VERSION), "subjects": mode}
        if mode == "hashed" and self.subject_key is not None:
            found["subject_key_id"] = audit.key_id(self.subject_key)
        return found

    def _check_opening(self, mode: str) -> None:
        """meta against the entry that opened the ledger (its hash checked, and its HMAC with
        the audit key): meta flipped to raw would hide every pseudonymised opt-out. A ledger
        is opened only with the subject key it was created with."""
        conn = self.conn
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        row = conn.execute(
            f"SELECT {', '.join(audit.COLUMNS)} FROM audit_log WHERE kind IN ('ledger.init', "
            "'ledger.migrate') ORDER BY seq LIMIT 1"
        ).fetchone()
        problem = None
        if row is None:
            problem = "it has no ledger.init entry"
        elif audit.any_hash((row[10], *row[:10])) != row[11] or (
            self.key is not None and row[12] != audit.mac(self.key, row[11])
        ):
            problem = f"its entry {row[0]} ({row[3]}) does not match its hash or signature"
        else:
            try:
                said = _facts_of(json.loads(row[9]))
            except (ValueError, TypeError, KeyError):
                said = None
            if said != meta:
                problem = f"meta holds {meta}, but entry {row[0]} says {said}"
        if problem is None and mode == "raw":
            hashed = conn.execute(
                "SELECT 1 FROM consent_events WHERE subject >= 'h:' AND subject < 'h;' LIMIT 1"
            ).fetchone()
            if hashed is not None:
                problem = "it says subjects are stored raw, but consent events hold keyed hashes"
        if problem is not None:
            raise LedgerConfigError(
                f"ledger {self.path} has been altered, so the gate will not use it: {problem}. "
                "Run `compliance audit verify` and restore the ledger from a backup"
            )
        if mode == "hashed" and self.subject_key is not None:
            if meta.get("subject_key_id") != audit.key_id(self.subject_key):
                raise LedgerConfigError(
                    f"{SUBJECT_KEY_ENV} is not the key ledger {self.path} was created with: "
                    "with another key every subject would hash differently and every opt-out on "
                    "record would be missed. Set the key it was created with"
                )

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION or version < 1:
            raise LedgerConfigError(
                f"ledger {self.path} has schema version {version}, newer than this compliance "
                f"understands ({SCHEMA_VERSION}): upgrade compliance"
            )

    def _meta_mode(self) -> str:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'subjects'").fetchone()
        except sqlite3.OperationalError:  # no meta table: verify names it
            return "raw"
        return row[0] if row else "raw"

    def _check_schema(self) -> None:
        """The schema is the pinned one: anything else (a trigger that deletes every new STOP)
        could change what decisions read, so the ledger is refused."""
        found = schema.problems(self.conn)
        if found:
            raise LedgerConfigError(
                f"ledger {self.path} has been altered, so the gate will not use it: "
                + "; ".join(found)
                + ". Run `compliance audit verify` and restore the ledger from a backup"
            )
        self._cookie = self.conn.execute("PRAGMA schema_version").fetchone()[0]

    def _open_readonly(self) -> None:
        state = _file_state(self.path)
        if state != "file":
            raise LedgerMissingError(_missing_message(self.path, state, readonly=True))
        try:
            self.conn = _connect_readonly(self.path, self.busy_timeout)
            self.conn.execute("SELECT 1 FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # a read-only folder with a WAL SQLite cannot map: read a private copy
            self.conn, self._copy = _readonly_copy(self.path, self.busy_timeout)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot read ledger {self.path}: {exc}") from exc
        try:
            version = schema.version_of(self.conn)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot read ledger {self.path}: {exc}") from exc
        if version is None:
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}
            if "audit_log" not in tables:
                raise LedgerMissingError(_missing_message(self.path, "foreign", readonly=True))
            version = SCHEMA_VERSION  # a ledger whose meta was dropped: verify says so
        self._check_version(version)
        self.version = version
        # reading needs no subject key: verify and export never turn identifiers into hashes
        secret = os.environ.get(SUBJECT_KEY_ENV)
        self.subject_key = secret.encode("utf-8") if secret and self._meta_mode() == "hashed" else None

    def _subject_mode(self, mode: str) -> None:
        _no_empty_keys()
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
            raise LedgerMissingError(_missing_message(self.path, "gone"))
        if self._broken is not None or identity != self._identity:
            self._connect(create=False)
            if self._checkpointer is not None:  # its connection may be to the file replaced
                self._checkpointer.stop()
                self._checkpointer = Checkpointer(self.path, self.durable, self.clock)

    def close(self) -> None:
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            if self.conn is not None:
                with suppress(sqlite3.Error):
                    self.conn.close()
            if self._copy is not None:
                self._copy.cleanup()
                self._copy = None

    # transactions -------------------------------------------------------------------------

    @contextmanager
    def write(self, *, check: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), committed on success, with
        the clock read once the lock is held. Any SQLite error is raised as LedgerError, and
        the next transaction opens a fresh connection (a waiting writer's "locked" excepted:
        that one passes by itself)."""
        if self.readonly:
            raise LedgerError(f"ledger {self.path} was opened read-only")
        with self._lock:
            if check:
                self._ensure()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._fault(exc)
                raise LedgerError(f"ledger {self.path} cannot be written: {exc}") from exc
            self._reset()
            try:
                self.now = aware(self.clock(), "the clock's time")
                self.now_us = micros(self.now)
                if check and self.conn.execute("PRAGMA schema_version").fetchone()[0] != self._cookie:
                    self._check_schema()  # changed since it was checked: a new trigger, say
                yield self.conn
                if self._pending:
                    self.conn.executemany(audit.INSERT, self._pending)
                if self._sends:
                    self.conn.executemany(
                        "INSERT INTO recent_sends VALUES (?, ?, ?, ?, ?, ?)", self._sends
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
                if isinstance(exc, OverflowError):  # an id or seq past SQLite's integers
                    raise LedgerError(f"ledger {self.path} cannot be written: {exc}") from exc
                raise
            finally:
                self._pending = []
                self._sends = []

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads outside a write transaction (threads share it)."""
        with self._lock:
            yield self.conn

    def _fault(self, exc: sqlite3.Error) -> None:
        """Remember that the connection met a fault, so that the next write opens a new one
        (a connection opened on a read-only or damaged file stays that way)."""
        if "locked" not in str(exc) and "busy" not in str(exc):
            self._broken = str(exc)

    def next_seq(self) -> int:
        """The seq the next audit entry of this transaction will have."""
        if self._tail is None:
            self._tail = audit.tail_of(self.conn)
        return self._tail[0] + 1

    def audit(
        self,
        *,
        kind: str,
        subject: str | None,
        data: dict[str, Any] | None,
        outcome: str | None = None,
        purpose: str | None = None,
        channel: str | None = None,
        send_us: int | None = None,
        text: str | None = None,
    ) -> int:
        """Append an audit entry, dated by the transaction's clock; the transaction inserts it
        when it commits (and drops it if it rolls back). `send_us`: a decision's scheduled
        instant; an allowed one is kept in recent_sends for frequency caps."""
        sid = self._remember(subject) if subject else None
        row, self._tail = audit.entry(
            (self._tail or audit.tail_of(self.conn)),
            at=self.now.isoformat(),
            at_us=self.now_us,
            kind=kind,
            subject=sid,
            data=data,
            outcome=outcome,
            purpose=purpose,
            channel=channel,
            send_us=send_us,
            key=self.key,
            text=text,
        )
        self._pending.append(row)
        if outcome == "allow" and sid is not None and kind == "decision" and send_us is not None:
            self._sends.append((send_us // DAY_US, sid, send_us, purpose, channel, row[0]))
            # later sends of the same transaction count this one against their caps
            self._fresh.setdefault(sid, []).append((purpose, channel, send_us))
        return self._tail[0]

    def _insert(self, table: str, rows: list[tuple[Any, ...]], seq: int) -> list[tuple[Any, ...]]:
        """Insert rows (every column but id and audit_seq) with the ids they get and the entry
        that vouches for them; returns them whole, for the entry's digest."""
        if table not in self._ids:
            found = self.conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
            self._ids[table] = found[0]
        first = self._ids[table] + 1
        whole = [(first + i, *row, seq) for i, row in enumerate(rows)]
        self._ids[table] += len(rows)
        if whole:
            marks = ", ".join("?" * len(whole[0]))
            self.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", whole)
        return whole

    # subjects -----------------------------------------------------------------------------

    def sid(self, subject: str) -> str:
        """How a subject is stored: itself, or a keyed hash when the ledger pseudonymises
        subjects (the raw value then lives only in the erasable `subjects` table)."""
        if self.subject_key is None:
            return subject
        return audit.pseudonym(self.subject_key, subject)

    def _remember(self, subject: str) -> str:
        sid = self.sid(subject)
        if self.subject_key is not None and subject != sid and not self._erased(sid):
            self.conn.execute("INSERT OR IGNORE INTO subjects VALUES (?, ?)", (sid, subject))
        return sid

    def _erased(self, sid: str) -> bool:
        """Erasure is permanent: the raw identifier is never written back."""
        if self._batch is not None and sid in self._batch["subjects"]:
            return (ERASED,) in self._batch["dnc"].get(sid, ())
        row = self.conn.execute(
            "SELECT 1 FROM dnc_entries WHERE subject = ? AND list = ?", (sid, ERASED)
        ).fetchone()
        return row is not None

    def erase(self, subject: str) -> int:
        """Remove the raw identifier; a hashed suppression entry keeps the subject from ever
        being messaged again, and the audit trail (which holds only hashes) stays intact."""
        if self.subject_key is None:
            raise LedgerConfigError(
                f"ledger {self.path} stores raw subjects, so nothing can be erased "
                f"without rewriting the audit trail: create ledgers with "
                f"{SUBJECT_KEY_ENV} set to pseudonymise subjects"
            )
        sid = self.sid(subject)
        with self.write():
            self.conn.execute("DELETE FROM subjects WHERE sid = ?", (sid,))
            seq = self.next_seq()
            rows = [] if self._erased(sid) else [(ERASED, sid, self.now.isoformat())]
            whole = self._insert("dnc_entries", rows, seq)
            return self.audit(
                kind="subject.erase",
                subject=None,
                data={"subject": sid, "rows": {"dnc_entries": audit.rows_digest(whole)}},
            )

    # consent ------------------------------------------------------------------------------

    def record_consents(self, events: list[dict[str, Any]]) -> list[int]:
        """Grants and revocations in one transaction, each with its own audit entry: all of
        them are written, or none. An event's time is when it was given, but never later
        than when it is recorded. Returns their audit entries."""
        seqs = []
        with self.write():
            for event in events:
                stated = aware(event["at"])
                at = min(stated, self.now)
                if event["action"] == "revoke":
                    at = self._after_grants(event["subject"], event["channel"], event["scope"], at)
                seq = self.next_seq()
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
                whole = self._insert("consent_events", [row], seq)
                data = {
                    "channel": event["channel"],
                    "scope": event["scope"],
                    "source": event["source"],
                    "at": at.isoformat(),
                    "capture_digest": event.get("capture_digest"),
                    "evidence": event.get("evidence") or {},
                    "rows": {"consent_events": audit.rows_digest(whole)},
                }
                if stated != at:
                    data["stated_at"] = stated.isoformat()  # a time later than the record's
                seqs.append(
                    self.audit(
                        kind=f"consent.{event['action']}",
                        subject=event["subject"],
                        data=data,
                        channel=event["channel"],
                    )
                )
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
        """A consent_events row without its id and audit_seq."""
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

    def _after_grants(
        self,
        subject: str,
        channel: str,
        scope: str | None,
        at: dt.datetime,
        *,
        stored: bool = False,
    ) -> dt.datetime:
        """When an opt-out takes effect: its own time, but never before a grant (of its scope;
        of any scope, or an opt-in, for the whole channel) already recorded. Clocks of several
        hosts disagree: a STOP stamped two minutes behind the grant it answers must still win
        over it, and one that truly came first loses nothing by being later."""
        channels = family(channel)
        sql = (
            "SELECT MAX(at_us) FROM consent_events WHERE subject = ? AND channel IN "
            f"({','.join('?' * len(channels))}) AND action IN ('grant', 'opt_in')"
        )
        args: list[Any] = [subject if stored else self.sid(subject), *channels]
        if scope is not None:
            sql += " AND scope = ?"
            args.append(scope)
        newest = self.conn.execute(sql, args).fetchone()[0]
        if newest is not None and newest > micros(at):
            return from_us(newest)
        return at

    def consent_events(self, subject: str, channel: str) -> list[tuple[Any, ...]]:
        """The newest event per scope (None: the whole channel) on the channel's family, as
        (scope, action, at_us, source), newest first. Of events at the same instant an
        opt-out (a revoke) is the newer; of the same kind, the one recorded later."""
        sid = self.sid(subject)
        channels = family(channel)
        if self._batch is not None and sid in self._batch["subjects"]:
            rows = [r for r in self._batch["events"].get(sid, ()) if r[0] in channels]
        else:
            marks = ",".join("?" * len(channels))
            rows = self.conn.execute(
                f"{_NEWEST} WHERE subject = ? AND channel IN ({marks}) GROUP BY channel, scope",
                (sid, *channels),
            ).fetchall()
        newest: dict[Any, tuple[Any, ...]] = {}
        for row in rows:  # (channel, scope, action, rank, source, id, at_us)
            known = newest.get(row[1])
            if known is None or (row[3], row[5]) > (known[3], known[5]):
                newest[row[1]] = row
        ordered = sorted(newest.values(), key=lambda r: (r[3], r[5]), reverse=True)
        return [(r[1], r[2], r[6], r[4]) for r in ordered]

    def prefetch(self, subjects: list[str] | None, since_us: int = 0, until_us: int = 0) -> None:
        """Read what a batch's subjects' decisions need in a few queries, for the length of the
        current write transaction (nothing else writes meanwhile: the transaction holds the
        lock): the newest consent event per channel and scope, list entries, disconnections,
        open reviews and the allowed sends scheduled in (since_us, until_us) for frequency
        caps. None clears it."""
        if subjects is None:
            self._batch = None
            return
        self._batch = _read_batch(
            self.conn, list(dict.fromkeys(self.sid(s) for s in subjects)), since_us, until_us,
            self._params_per_query(),
        )

    def _params_per_query(self) -> int:
        """How many subjects one IN (...) list may hold: SQLite's bound-parameter limit (32,766
        since 3.32, 999 before), less room for the query's other parameters."""
        limit = 999
        with suppress(AttributeError, sqlite3.Error):  # getlimit: Python 3.11 and later
            limit = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return max(1, min(limit, 32766) - 8)

    def pending_review(self, subject: str, channel: str) -> bool:
        """A reply on the channel's family that may be an opt-out, not yet resolved."""
        sid = self.sid(subject)
        channels = family(channel)
        if self._batch is not None and sid in self._batch["subjects"]:
            return any((c,) in self._batch["review"].get(sid, ()) for c in channels)
        marks = ",".join("?" * len(channels))
        row = self.conn.execute(
            f"SELECT 1 FROM reviews r WHERE subject = ? AND channel IN ({marks}) AND NOT EXISTS "
            "(SELECT 1 FROM review_resolutions x WHERE x.review = r.id) LIMIT 1",
            (sid, *channels),
        ).fetchone()
        return row is not None

    def history(self, subject: str) -> list[dict[str, Any]]:
        names = ("channel", "scope", "action", "source", "at", "capture_digest", "evidence",
                 "audit_seq")
        with self.reading() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(names)} FROM consent_events WHERE subject = ? "
                "ORDER BY at_us, id",
                (self.sid(subject),),
            ).fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]

    # pauses -------------------------------------------------------------------------------

    def set_pause(self, kind: str, target: str, paused: bool, reason: str, by: str) -> int:
        with self.write():
            seq = self.next_seq()
            row = (
                printable(kind), printable(target), int(paused), printable(reason),
                printable(by), self.now.isoformat(),
            )
            whole = self._insert("pauses", [row], seq)
            return self.audit(
                kind="pause" if paused else "resume",
                subject=None,
                data={
                    "target_kind": kind,
                    "target": target,
                    "reason": reason,
                    "by": by,
                    "rows": {"pauses": audit.rows_digest(whole)},
                },
            )

    def paused(self) -> dict[tuple[str, str], str]:
        """(kind, target) -> reason, for targets whose latest pause event is a pause."""
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT target_kind, target, paused, reason FROM pauses p WHERE id = (SELECT "
                "MAX(id) FROM pauses q WHERE q.target_kind = p.target_kind AND q.target = "
                "p.target)"
            ).fetchall()
        return {(kind, target): reason for kind, target, paused, reason in rows if paused}

    # do-not-contact and reassigned numbers ------------------------------------------------

    def dnc_listed(self, subject: str) -> list[str]:
        sid = self.sid(subject)
        if self._batch is not None and sid in self._batch["subjects"]:
            return [name for (name,) in self._batch["dnc"].get(sid, [])]
        rows = self.conn.execute("SELECT list FROM dnc_entries WHERE subject = ?", (sid,))
        return [name for (name,) in rows]

    def registry_checked(self, market: str) -> int | None:
        """When the market's national registry was last checked (microseconds), or None."""
        if market in self._registry:
            return self._registry[market]
        row = self.conn.execute(
            "SELECT MAX(checked_at_us) FROM dnc_checks WHERE market = ?", (market,)
        ).fetchone()
        self._registry[market] = row[0] if row else None  # for the rest of this transaction
        return self._registry[market]

    def disconnected_after(self, number: str, since_us: int) -> bool:
        """Whether the number was disconnected at or after `since_us` (consent given then)."""
        sid = self.sid(number)
        if self._batch is not None and sid in self._batch["subjects"]:
            return any(since_us <= when for (when,) in self._batch["gone"].get(sid, []))
        row = self.conn.execute(
            "SELECT 1 FROM reassigned WHERE number = ? AND disconnected_us >= ? LIMIT 1",
            (sid, since_us),
        ).fetchone()
        return row is not None

    def import_dnc(
        self,
        name: str,
        subjects: list[tuple[str, str | None]],
        *,
        registry_market: str | None,
        checked_at: dt.datetime | None,
    ) -> int:
        """Add numbers or addresses to a do-not-contact list; a registry import also records
        its check (never later than now)."""
        checked = aware(checked_at, "checked_at") if checked_at is not None else None
        with self.write():
            if registry_market is not None:  # a check cannot have happened later than now
                checked = self.now if checked is None else min(checked, self.now)
            seq = self.next_seq()
            new = self._new_entries(name, subjects)
            entries = self._insert("dnc_entries", new, seq)
            rows = {"dnc_entries": audit.rows_digest(entries)}
            if registry_market is not None and checked is not None:
                check = (name, registry_market, micros(checked))
                rows["dnc_checks"] = audit.rows_digest(self._insert("dnc_checks", [check], seq))
            return self.audit(
                kind="dnc.import",
                subject=None,
                data={
                    "list": name,
                    "entries": len(subjects),
                    "added": len(new),
                    "registry_market": registry_market,
                    "checked_at": checked.isoformat() if checked else None,
                    "rows": rows,
                },
            )

    def _new_entries(
        self, name: str, subjects: list[tuple[str, str | None]]
    ) -> list[tuple[Any, ...]]:
        """The entries not on the list already (each once), as dnc_entries rows."""
        wanted: dict[str, str | None] = {}
        for subject, added in subjects:
            wanted.setdefault(self.sid(subject), added)
        known: set[str] = set()
        keys = list(wanted)
        size = self._params_per_query()
        for start in range(0, len(keys), size):
            chunk = keys[start : start + size]
            known.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT subject FROM dnc_entries WHERE list = ? AND subject IN "
                    f"({','.join('?' * len(chunk))})",
                    (name, *chunk),
                )
            )
        return [(name, sid, added) for sid, added in wanted.items() if sid not in known]

    def import_reassigned(self, rows: list[tuple[str, dt.datetime]]) -> int:
        """Numbers and when they were disconnected (e.g. from the US Reassigned Numbers
        Database): consent given before the disconnection is void."""
        wanted = {(self.sid(n), micros(aware(when, "disconnected"))) for n, when in rows}
        with self.write():
            known = set(self.conn.execute("SELECT number, disconnected_us FROM reassigned"))
            new = sorted(wanted - known)
            seq = self.next_seq()
            whole = self._insert("reassigned", new, seq)
            return self.audit(
                kind="reassigned.import",
                subject=None,
                data={
                    "numbers": len(rows),
                    "added": len(new),
                    "rows": {"reassigned": audit.rows_digest(whole)},
                },
            )

    # inbound and reviews ------------------------------------------------------------------

    def record_inbound(
        self, *, subject: str, channel: str, sender: str | None, text: str, action: str,
        at: dt.datetime,
    ) -> int:
        """An inbound message and what it meant: an opt-out or opt-in changes consent on the
        whole channel; a doubtful one waits for a person. Dated when it was sent, but never
        later than when it is recorded."""
        data: dict[str, Any] = {"channel": channel, "sender": sender, "text": text, "action": action}
        with self.write():
            when = min(aware(at), self.now)
            if action == "opt_out":
                when = self._after_grants(subject, channel, None, when)
            seq = self.next_seq()
            data["at"] = when.isoformat()
            if action in ("opt_out", "opt_in"):
                row = self._event_row(
                    subject, channel, None, "revoke" if action == "opt_out" else "opt_in",
                    f"inbound:{text.strip()[:40]}", when, None, {},
                )
                whole = self._insert("consent_events", [row], seq)
                data["rows"] = {"consent_events": audit.rows_digest(whole)}
            elif action == "review":
                row = (self.sid(subject), channel, text, when.isoformat())
                whole = self._insert("reviews", [row], seq)
                data["review"] = whole[0][0]
                data["rows"] = {"reviews": audit.rows_digest(whole)}
            return self.audit(kind="inbound", subject=subject, data=data, channel=channel)

    def reviews(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        """Inbound messages that might be opt-outs, oldest first: the open ones, or all."""
        sql = (
            "SELECT r.id, COALESCE(s.raw, r.subject), r.channel, r.text, r.at, x.review IS NOT "
            "NULL, x.resolution, x.by, r.audit_seq, x.audit_seq FROM reviews r LEFT JOIN "
            "subjects s ON s.sid = r.subject LEFT JOIN review_resolutions x ON x.review = r.id"
            + ("" if include_resolved else " WHERE x.review IS NULL")
        )
        names = ("id", "subject", "channel", "text", "at", "resolved", "resolution", "by",
                 "audit_seq", "resolved_seq")
        with self.reading() as conn:
            rows = conn.execute(sql + " ORDER BY r.id").fetchall()
        return [{**dict(zip(names, row, strict=True)), "resolved": bool(row[5])} for row in rows]

    def resolve_review(self, review_id: int, *, opt_out: bool, by: str, note: str | None) -> int:
        """A person's reading of a doubtful reply. An opt-out revokes consent on the whole
        channel from the moment the message came in; either way marketing resumes being
        decided by the consent on record."""
        if not by.strip():
            raise ValueError("say who resolved the review (by=)")
        if not 0 < review_id < 2**63:
            raise ValueError(f"there is no review {review_id}")
        with self.write():
            row = self.conn.execute(
                "SELECT subject, channel, text, at, (SELECT 1 FROM review_resolutions x WHERE "
                "x.review = r.id) FROM reviews r WHERE id = ?",
                (review_id,),
            ).fetchone()
            if row is None:
                raise ValueError(f"there is no review {review_id}")
            sid, channel, text, message_at, resolved = row
            if resolved:
                raise ValueError(f"review {review_id} is resolved already")
            resolution = "opt_out" if opt_out else "not_opt_out"
            seq = self.next_seq()
            rows = {
                "review_resolutions": audit.rows_digest(
                    self._insert("review_resolutions", [(review_id, resolution, printable(by))], seq)
                )
            }
            if opt_out:
                when = self._after_grants(sid, channel, None, dt.datetime.fromisoformat(message_at), stored=True)
                event = (
                    sid, channel, None, "revoke", f"review:{review_id}", when.isoformat(),
                    micros(when), None,
                    printable(json.dumps({"text": text, "by": by}, sort_keys=True, ensure_ascii=False)),
                )
                rows["consent_events"] = audit.rows_digest(self._insert("consent_events", [event], seq))
            return self.audit(
                kind="review.resolve",
                subject=None,
                data={
                    "review": review_id, "subject": sid, "channel": channel,
                    "resolution": resolution, "by": by, "note": note, "message_at": message_at,
                    "rows": rows,
                },
                channel=channel,
            )

    # frequency ----------------------------------------------------------------------------

    def sends_near(self, subject: str, since_us: int, until_us: int) -> list[tuple[Any, ...]]:
        """Allowed sends to the subject scheduled in (since_us, until_us), as (purpose,
        channel, at_us), this transaction's included. In a batch the prefetch must cover the
        span."""
        sid = self.sid(subject)
        rows = [r for r in self._fresh.get(sid, ()) if since_us < r[2] < until_us]
        batch = self._batch
        if (
            batch is not None
            and sid in batch["subjects"]
            and batch["span"][0] <= since_us
            and until_us <= batch["span"][1]
        ):
            return rows + [r for r in batch["allowed"].get(sid, ()) if since_us < r[2] < until_us]
        days = ",".join(map(str, range(since_us // DAY_US, until_us // DAY_US + 1)))
        found = self.conn.execute(
            f"SELECT purpose, channel, at_us FROM recent_sends WHERE day IN ({days}) AND "
            "subject = ? AND at_us > ? AND at_us < ?",
            (sid, since_us, until_us),
        ).fetchall()
        return rows + found

    def verify(self) -> Verdict:
        """Check the whole ledger (verify.py); a ledger of an earlier schema, opened read-only,
        with the rules it was written under."""
        with self.reading() as conn:
            if self.version < SCHEMA_VERSION:
                from compliance.gate.migrate import legacy_verify

                return legacy_verify(conn, self.key)
            from compliance.gate.verify import verify

            secret = os.environ.get(SUBJECT_KEY_ENV)
            return verify(
                conn,
                self.key,
                now_us=self.clock_us(),
                subject_key=secret.encode("utf-8") if secret else None,
            )


# the newest event per (channel, scope): an opt-out (revoke) ranks above anything else of the
# same instant. SQLite takes bare columns from the row that reaches MAX, the first one in index
# order (id descending) among equals, so the later-recorded one (a test holds it to that)
_NEWEST = (
    "SELECT channel, scope, action, MAX(at_us * 2 + (action = 'revoke')), source, id, at_us "
    "FROM consent_events"
)


def _read_batch(
    conn: sqlite3.Connection, sids: list[str], since_us: int, until_us: int, size: int
) -> dict[str, Any]:
    batch: dict[str, Any] = {
        "subjects": set(sids),
        "events": {},
        "dnc": {},
        "gone": {},
        "review": {},
        "allowed": {},
        "span": (since_us, until_us),
    }
    queries = [
        (
            "events",
            "SELECT subject, channel, scope, action, MAX(at_us * 2 + (action = 'revoke')), "
            "source, id, at_us FROM consent_events WHERE subject IN ({}) "
            "GROUP BY subject, channel, scope",
            (),
        ),
        ("dnc", "SELECT subject, list FROM dnc_entries WHERE subject IN ({})", ()),
        ("gone", "SELECT number, disconnected_us FROM reassigned WHERE number IN ({})", ()),
        (
            "review",
            "SELECT DISTINCT subject, channel FROM reviews r WHERE subject IN ({}) AND NOT "
            "EXISTS (SELECT 1 FROM review_resolutions x WHERE x.review = r.id)",
            (),
        ),
    ]
    # a table with nothing in it is not asked about each subject
    has = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM dnc_entries), EXISTS (SELECT 1 FROM reassigned), "
        "(SELECT COUNT(*) FROM reviews) > (SELECT COUNT(*) FROM review_resolutions)"
    ).fetchone()
    empty = {name for name, found in zip(("dnc", "gone", "review"), has, strict=True) if not found}
    queries = [q for q in queries if q[0] not in empty]
    if until_us > since_us:
        days = ",".join(map(str, range(since_us // DAY_US, until_us // DAY_US + 1)))
        queries.append(
            (
                "allowed",
                f"SELECT subject, purpose, channel, at_us FROM recent_sends WHERE day IN ({days}) "
                "AND subject IN ({}) AND at_us > ? AND at_us < ?",
                (since_us, until_us),
            )
        )
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


def _opening(facts: dict[str, str]) -> dict[str, Any]:
    """The ledger.init (or ledger.migrate) data that says what meta holds."""
    data: dict[str, Any] = {"schema": int(facts["schema_version"]), "subjects": facts["subjects"]}
    if "subject_key_id" in facts:
        data["subject_key_id"] = facts["subject_key_id"]
    return data


def _facts_of(data: dict[str, Any]) -> dict[str, str]:
    """What meta must hold, from an opening entry's data."""
    found = {
        "schema_version": str(data.get("schema") or data["to"]),
        "subjects": str(data["subjects"]),
    }
    if "subject_key_id" in data:
        found["subject_key_id"] = str(data["subject_key_id"])
    return found


def _no_empty_keys() -> None:
    """A key variable set but empty is a mistake (an unset secret in a deployment), never a
    choice: an empty audit key would leave the trail unsigned, an empty subject key would make
    a ledger that can never erase anyone."""
    for name in (audit.KEY_ENV, SUBJECT_KEY_ENV):
        if name in os.environ and not os.environ[name].strip():
            raise LedgerConfigError(
                f"{name} is set but empty: set it to the key, or unset it"
            )


def _file_state(path: Path) -> str:
    """missing, empty (0 bytes), folder or file."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"
    if path.is_dir():
        return "folder"
    return "empty" if found.st_size == 0 else "file"


def _missing_message(path: Path, state: str, *, readonly: bool = False) -> str:
    init = (
        f"create one with `compliance ledger init --ledger {path}` (or Gate.open(..., "
        "create=True)); if it held consent records, restore it from a backup instead: a new "
        "empty ledger forgets every opt-out"
    )
    why = {
        "missing": f"there is no ledger at {path}",
        "gone": f"ledger {path} is missing",
        "empty": f"{path} is an empty file, not a ledger",
        "blank": f"{path} is an empty database, not a ledger",
        "foreign": f"{path} is not a compliance ledger",
        "folder": f"{path} is a folder, not a ledger file",
        "unreadable": f"{path} cannot be read",
    }[state]
    if state == "gone":
        return (
            f"{why}: restore it from a backup (the gate denies every send until then; a new "
            "empty ledger would forget every opt-out)"
        )
    if state in ("foreign", "folder", "unreadable") or readonly:
        return f"{why}: check the path (--ledger or $COMPLIANCE_DB)"
    return f"{why}: {init}"


def _connect_readonly(path: Path, timeout: float, immutable: bool = False) -> sqlite3.Connection:
    flags = "mode=ro&immutable=1" if immutable else "mode=ro"
    return sqlite3.connect(
        f"{path.absolute().as_uri()}?{flags}", uri=True, timeout=timeout, isolation_level=None,
        check_same_thread=False,
    )


def _readonly_copy(path: Path, timeout: float) -> tuple[sqlite3.Connection, Any]:
    """SQLite cannot open a WAL ledger read-only where it may not create the -shm file (a
    read-only mount). Without a WAL to apply the file is read as immutable; with one, the file
    and its WAL are copied to a private folder and read there."""
    import shutil
    import tempfile

    wal = Path(f"{path}-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        try:
            return _connect_readonly(path, timeout, immutable=True), None
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot read ledger {path}: {exc}") from exc
    folder = tempfile.TemporaryDirectory(prefix="compliance-ledger-")
    try:
        copy = Path(folder.name) / "ledger.db"
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, Path(f"{copy}-wal"))
        return _connect_readonly(copy, timeout), folder
    except (OSError, sqlite3.Error) as exc:
        folder.cleanup()
        raise LedgerError(f"cannot read ledger {path}: {exc}") from exc

