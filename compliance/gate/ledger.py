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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from compliance.errors import LedgerConfigError, LedgerError, LedgerMissingError
from compliance.gate import audit, batch, model, opening
from compliance.gate.checkpoint import Checkpointer
from compliance.gate.model import aware, printable
from compliance.gate.opening import SUBJECT_KEY_ENV
from compliance.gate.schema import SCHEMA_VERSION
from compliance.gate.verify import DAY_US, Verdict

DEFAULT_LEDGER = Path(".compliance") / "ledger.db"
BUSY_TIMEOUT_S = 5.0
ERASED = "erased"  # the list that keeps erased subjects from ever being messaged again
# consent on one of these reaches the others: text messages to one phone number, where MMS
# is SMS with media and RCS falls back to SMS (one number, one program, one STOP)
TEXT = ("sms", "mms", "rcs")
FAMILIES = {"sms": TEXT, "mms": TEXT, "rcs": TEXT}


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

    # opening ------------------------------------------------------------------------------

    # opening: compliance/gate/opening.py ---------------------------------------------------

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
        """The connection, for reads outside a write transaction (threads share it)."""
        with self._lock:
            yield self.conn

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
            self._forget()
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
                f"{batch.NEWEST} WHERE subject = ? AND channel IN ({marks}) "
                "GROUP BY channel, scope",
                (sid, *channels),
            ).fetchall()
        if len(rows) == 1:  # most people: one scope on one channel
            row = rows[0]
            return [(row[1], row[2], row[6], row[4])]
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
        self._batch = batch.read_batch(
            self.conn,
            self._known,
            list(dict.fromkeys(self.sid(s) for s in subjects)),
            since_us,
            until_us,
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
            waiting = self._batch["review"].get(sid)
            return bool(waiting) and any((c,) in waiting for c in channels)
        marks = ",".join("?" * len(channels))
        row = self.conn.execute(
            f"SELECT 1 FROM reviews r WHERE subject = ? AND channel IN ({marks}) AND NOT EXISTS "
            "(SELECT 1 FROM review_resolutions x WHERE x.review = r.id) LIMIT 1",
            (sid, *channels),
        ).fetchone()
        return row is not None

    def history(self, subject: str) -> list[dict[str, Any]]:
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
            self._forget()
            seq = self.next_seq()
            row = (
                printable(kind),
                printable(target),
                int(paused),
                printable(reason),
                printable(by),
                self.now.isoformat(),
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
        known = self._known.get("paused")
        if known is not None:
            return known
        with self._lock:
            rows = self.conn.execute(
                "SELECT target_kind, target, paused, reason FROM pauses p WHERE id = (SELECT "
                "MAX(id) FROM pauses q WHERE q.target_kind = p.target_kind AND q.target = "
                "p.target)"
            ).fetchall()
        found = {(kind, target): reason for kind, target, paused, reason in rows if paused}
        self._known["paused"] = found
        return found

    # do-not-contact and reassigned numbers ------------------------------------------------

    def dnc_listed(self, subject: str) -> list[str]:
        sid = self.sid(subject)
        if self._batch is not None and sid in self._batch["subjects"]:
            return [name for (name,) in self._batch["dnc"].get(sid, [])]
        rows = self.conn.execute("SELECT list FROM dnc_entries WHERE subject = ?", (sid,))
        return [name for (name,) in rows]

    def registry_checked(self, market: str) -> int | None:
        """When the market's national registry was last checked (microseconds), or None."""
        registry = self._known.setdefault("registry", {})
        if market in registry:
            return registry[market]
        row = self.conn.execute(
            "SELECT MAX(checked_at_us) FROM dnc_checks WHERE market = ?", (market,)
        ).fetchone()
        registry[market] = row[0] if row else None  # until the lists change
        return registry[market]

    def ever_disconnected(self, number: str) -> bool:
        """Whether the number is in the reassigned list at all (most are not)."""
        sid = self.sid(number)
        if self._batch is not None and sid in self._batch["subjects"]:
            return sid in self._batch["gone"]
        row = self.conn.execute("SELECT 1 FROM reassigned WHERE number = ? LIMIT 1", (sid,))
        return row.fetchone() is not None

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
            self._forget()
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
            self._forget()
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
        whole channel; a doubtful one waits for a person. Dated when it was sent, but never
        later than when it is recorded."""
        data: dict[str, Any] = {
            "channel": channel,
            "sender": sender,
            "text": text,
            "action": action,
        }
        with self.write():
            self._forget()
            when = min(aware(at), self.now)
            if action == "opt_out":
                when = self._after_grants(subject, channel, None, when)
            seq = self.next_seq()
            data["at"] = when.isoformat()
            if action in ("opt_out", "opt_in"):
                row = self._event_row(
                    subject,
                    channel,
                    None,
                    "revoke" if action == "opt_out" else "opt_in",
                    f"inbound:{text.strip()[:40]}",
                    when,
                    None,
                    {},
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
        names = (
            "id",
            "subject",
            "channel",
            "text",
            "at",
            "resolved",
            "resolution",
            "by",
            "audit_seq",
            "resolved_seq",
        )
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
            self._forget()
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
                    self._insert(
                        "review_resolutions", [(review_id, resolution, printable(by))], seq
                    )
                )
            }
            if opt_out:
                when = self._after_grants(
                    sid, channel, None, dt.datetime.fromisoformat(message_at), stored=True
                )
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
                rows["consent_events"] = audit.rows_digest(
                    self._insert("consent_events", [event], seq)
                )
            return self.audit(
                kind="review.resolve",
                subject=None,
                data={
                    "review": review_id,
                    "subject": sid,
                    "channel": channel,
                    "resolution": resolution,
                    "by": by,
                    "note": note,
                    "message_at": message_at,
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
                uri=self.read_uri,
            )
