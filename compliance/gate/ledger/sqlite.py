"""The consent ledger on one SQLite file shared by every process that sends.

Consent history is append-only and current state is derived from it. Every write runs in a
`BEGIN IMMEDIATE` transaction that also appends its audit entry, in WAL mode with a busy timeout,
so several processes can write one file and no change exists without its audit entry. Every
row a decision reads is vouched for by the entry that wrote it (schema.py, verify.py).

Time comes from one clock (the gate's): a transaction reads it once it holds the write lock,
so a decision sees every event recorded before it, and nothing recorded takes effect later
than when it was recorded. What the ledger records is in records.py, lists.py and inbound.py;
this module is how it is stored.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from compliance.errors import LedgerError, LedgerMissingError
from compliance.gate import audit, model, opening
from compliance.gate.checkpoint import Checkpointer
from compliance.gate.ledger.common import BUSY_TIMEOUT_S, micros
from compliance.gate.ledger.dialect import SQLITE
from compliance.gate.ledger.inbound import Inbound
from compliance.gate.ledger.keys import Keys
from compliance.gate.ledger.lists import Lists
from compliance.gate.ledger.records import Records
from compliance.gate.model import aware
from compliance.gate.opening import SUBJECT_KEY_ENV
from compliance.gate.schema import SCHEMA_VERSION
from compliance.gate.verify import DAY_US, Verdict


class Ledger(Records, Lists, Inbound, Keys):
    """Consent, do-not-contact lists, pauses and the audit trail, in one SQLite file.

    A fault (the file gone, read-only, locked past the busy timeout, corrupted, the disk full)
    makes the write that meets it raise LedgerError, which the gate answers with deny; the
    next write tries again on a fresh connection, so the ledger recovers once the fault is
    gone. A ledger is created only with `create=True`; a file that disappears is never
    recreated. `readonly=True` opens an existing ledger for reading only (audit verify and
    export on an auditor's copy, on a read-only mount too). One Ledger may be shared by threads:
    each transaction holds its lock."""

    dialect = SQLITE

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
        # What stays true while no other connection commits (PRAGMA data_version tells): the
        # trail's tail, the pauses in force, which lists have entries. A decision then reads
        # none of it again, and need not look at the schema again either.
        self._seen: int | None = None
        self._known: dict[str, Any] = {}
        self.read_uri = f"{self.path.absolute().as_uri()}?mode=ro"  # how to read it again
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
        self.now_iso = self.now.isoformat()
        self._tail: tuple[int, str] | None = None
        self._pending: list[tuple[Any, ...]] = []  # audit rows written at commit
        self._sends: list[tuple[Any, ...]] = []  # and the allowed sends among them
        self._fresh: dict[str, list[tuple[Any, ...]]] = {}  # allowed in this transaction
        self._batch: dict[str, dict[Any, Any]] | None = None
        self._ids: dict[str, int] = {}

    def clock_us(self) -> int:
        return micros(aware(self.clock(), "the clock's time"))

    def _connect(self, *, create: bool) -> None:
        opening.connect(self, create=create)

    def _open_readonly(self) -> None:
        opening.open_readonly(self)

    def _check_schema(self) -> None:
        opening.check_schema(self)

    def facts(self, mode: str) -> dict[str, str]:
        return opening.facts(self, mode)

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
            raise LedgerMissingError(opening.missing_message(self.path, "gone"))
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

    @contextmanager
    def write(
        self, *, check: bool = True, subjects: Iterable[str | None] | None = None
    ) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), committed on success, with
        the clock read once the lock is held. Any SQLite error is raised as LedgerError, and
        the next transaction opens a fresh connection (a waiting writer's "locked" excepted:
        that one passes by itself). `subjects` (which PostgreSQL locks) changes nothing here:
        the file has one lock."""
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
                self.now_iso = self.now.isoformat()
                seen = self.conn.execute("PRAGMA data_version").fetchone()[0]
                if seen != self._seen or not check:  # another connection has committed
                    self._known = {}
                    if (
                        check
                        and self.conn.execute("PRAGMA schema_version").fetchone()[0] != self._cookie
                    ):
                        self._check_schema()  # changed since it was checked: a new trigger
                self._tail = self._known.get("tail")
                yield self.conn
                if self._pending:
                    self.conn.executemany(audit.INSERT, self._pending)
                if self._sends:
                    self.conn.executemany(
                        "INSERT INTO recent_sends VALUES (?, ?, ?, ?, ?, ?)", self._sends
                    )
                self.conn.execute("COMMIT")
                self._seen = seen  # our own commits leave data_version as it was
                if self._tail is not None:
                    self._known["tail"] = self._tail
                if self._checkpointer is not None:
                    self._checkpointer.wrote(len(self._pending))
            except BaseException as exc:
                self._seen, self._known = None, {}
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
        """The connection, for reads outside a write transaction (threads share it). As for a
        write, the file must still be the one opened (a replaced or restored file is opened
        again; a missing one raises), and a SQLite error is raised as LedgerError, so that a
        read after a fault never fails differently from a write."""
        with self._lock:
            if not self.readonly:
                self._ensure()
            if self.conn is None:
                raise LedgerError(f"ledger {self.path} cannot be read: it could not be opened")
            try:
                yield self.conn
            except sqlite3.Error as exc:
                if not self.readonly:
                    self._fault(exc)
                raise LedgerError(f"ledger {self.path} cannot be read: {exc}") from exc

    def _fault(self, exc: sqlite3.Error) -> None:
        """Remember that the connection met a fault, so that the next write opens a new one
        (a connection opened on a read-only or damaged file stays that way)."""
        if "locked" not in str(exc) and "busy" not in str(exc):
            self._broken = str(exc)

    def _forget(self) -> None:
        """This transaction changes what the caches hold (pauses, lists, reviews)."""
        self._known = {"tail": self._known["tail"]} if "tail" in self._known else {}

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
        if text is None:
            data = audit.attributed(data)
        sid = self._remember(subject) if subject else None
        row, self._tail = audit.entry(
            (self._tail or audit.tail_of(self.conn)),
            at=self.now_iso,
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

    def prune(self) -> None:
        """Drop allowed sends older than frequency caps reach, by the clock (the housekeeping
        thread does this hourly)."""
        from compliance.gate.checkpoint import prune

        with self._lock:
            self._ensure()
            prune(self.conn, self.clock())
            self._known = {}

    def _params_per_query(self) -> int:
        """How many subjects one IN (...) list may hold: SQLite's bound-parameter limit (32,766
        since 3.32, 999 before), less room for the query's other parameters."""
        limit = 999
        with suppress(AttributeError, sqlite3.Error):  # getlimit: Python 3.11 and later
            limit = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return max(1, min(limit, 32766) - 8)

    def entry_count(self) -> int:
        with self.reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])

    def status(self) -> dict[str, Any]:
        from compliance.gate.ledger.overview import status

        return status(self, "sqlite")

    def export(self, since_us: int | None = None, until_us: int | None = None) -> Iterator[Any]:
        """The trail's entries in order, streamed (audit.export)."""
        return audit.export(self.conn, since_us, until_us)

    def verify(self) -> Verdict:
        """Check the whole ledger (verify.py); a ledger of an earlier schema, opened read-only,
        with the rules it was written under."""
        with self.reading() as conn:
            if self.version < 3:  # schemas before 3 hashed and covered less
                from compliance.gate.migrate import legacy_verify

                return legacy_verify(conn, self.key)
            from compliance.gate.verify import verify

            secret = os.environ.get(SUBJECT_KEY_ENV)
            return verify(
                conn,
                self.key,
                now_us=self.clock_us(),
                subject_key=secret.encode("utf-8") if secret else None,
                uri=self.read_uri,
            )
