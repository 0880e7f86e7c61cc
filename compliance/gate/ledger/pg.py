"""The consent ledger on PostgreSQL, shared by senders on many hosts.

What it records is records.py, lists.py and inbound.py, as on SQLite; this module is how it is
stored. The audit trail is kept in chains (chains.py, docs/ledger-postgres-design.md): a write
about some subjects locks the head rows of their chains, in ascending order, before it reads
anything or the clock, so two writes about one subject are ordered and never overlap; a write
about no subject in particular (an import, a pause, an erasure) locks every chain, so it is
ordered against every decision. Each transaction commits with synchronous_commit on: an allow
exists only once its entry is durable on the server (and its synchronous standbys).

A fault (the server gone or restarted, the connection killed, a statement or lock timeout, no
free connection in the pool) makes the write that meets it raise LedgerError, which the gate
answers with deny. A connection the server dropped is found at the first statement of the
write that takes it, before anything was done on it, and replaced; the next write runs on a
sound one once the server answers again. When the connection drops while the COMMIT is on its
way, a fresh one looks for the transaction's first entry: found, the write stands (the answer
given is the one recorded); not found, it is a fault like any other.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any

from compliance.chainhash import chain_hash, mac
from compliance.errors import LedgerConfigError, LedgerError
from compliance.gate import audit, model
from compliance.gate.batch import HAS_ANY
from compliance.gate.checkpoint import PRUNE_EVERY_S
from compliance.gate.ledger.chains import CHAINS, chain_of
from compliance.gate.ledger.common import BUSY_TIMEOUT_S, micros
from compliance.gate.ledger.dialect import POSTGRES, placeholders
from compliance.gate.ledger.inbound import Inbound
from compliance.gate.ledger.keys import Keys
from compliance.gate.ledger.lists import PAUSED, Lists, in_force
from compliance.gate.ledger.records import Records
from compliance.gate.model import aware, printable
from compliance.gate.schema import SCHEMA_VERSION
from compliance.gate.verify import DAY_US, RECENT_DAYS, Verdict

SCHEMES = ("postgresql://", "postgres://")
POOL_SIZE = 4
CHECKPOINT_EVERY_S = 10.0  # how often a writing process ties the chains together
SCHEMA_CHECK_EVERY_S = 5.0  # how often a writer looks at the schema again
STATEMENT_TIMEOUT_S = 30.0

AUDIT_COLUMNS = (
    "seq", "chain", "pos", "at", "at_us", "kind", "subject", "outcome", "purpose", "channel",
    "send_us", "data", "prev_hash", "hash", "mac",
)  # fmt: skip
COPY_FROM = 32  # entries from which a write sends them with COPY rather than row by row
INSERT_ENTRY = (
    f"INSERT INTO audit_log ({', '.join(AUDIT_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(AUDIT_COLUMNS))})"
)


def is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEMES)


# something a person meant as a URL: a scheme of two letters or more, then a colon
_SCHEME_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
_POSTGRES_LIKE = re.compile(r"postgres(?:ql)?[:/]", re.IGNORECASE)
_CONNINFO = re.compile(r"(?:^|\s)(?:host|hostaddr|dbname|user|password|port|service)\s*=")


def looks_like_url(value: object) -> bool:
    """A string or path that is not a postgresql:// URL but reads like a URL (another scheme,
    POSTGRESQL://, postgresql+psycopg://, postgresql:/ with one slash): never taken for a file
    path, where a new, empty SQLite ledger would be made."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or is_url(value):
        return False
    text = value.strip()
    return (
        text != value  # white space around it: a pasted URL, never a file's name
        or bool(_SCHEME_LIKE.match(text))
        or bool(_POSTGRES_LIKE.match(text))  # postgresql//host, postgres:host
        or bool(_CONNINFO.search(text))  # a libpq key=value string: host=db password=...
    )


def check_where(value: object) -> None:
    if looks_like_url(value):
        raise LedgerConfigError(
            f"{shown(os.fspath(value))!r} is not a ledger: give a PostgreSQL URL "  # type: ignore[arg-type]
            "(postgresql://USER@HOST:PORT/DB, in lower case) or a file path"
        )


def shown(url: str) -> str:
    """The URL as messages show it: any password replaced by ***, in the user part (up to its
    last @, so a password holding / is hidden whole), in a password= parameter and in a libpq
    password=... pair."""
    text = re.sub(r"([/\s][^/:@\s]+:)(.*)@", r"\1***@", url, count=1)
    text = re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", text)
    return re.sub(r"(?i)((?:^|\s)password\s*=\s*)('[^']*'|\S*)", r"\1***", text)


@lru_cache(maxsize=4096)
def _pg(sql: str) -> str:
    return placeholders(sql)


class Conn:
    """A psycopg connection that runs the records' statements, written with `?`."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, args: Any = ()) -> Any:
        return self.raw.execute(_pg(sql), tuple(args))

    def executemany(self, sql: str, rows: Any) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(_pg(sql), list(rows))


class PostgresLedger(Records, Lists, Inbound, Keys):
    """Consent, do-not-contact lists, pauses and the audit trail in a PostgreSQL database.

    `url` is a libpq URL (postgresql://user@host:port/db). `pool_size` connections at most;
    `busy_timeout` is how long a write waits for a connection or a chain's lock before the
    answer is deny. A ledger is created only with `create=True`. `readonly=True` reads only
    (verify, export; a read-only replica works). One ledger may be shared by threads: each
    transaction holds its lock (open one per thread for writes in parallel)."""

    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        durable: bool = False,
        busy_timeout: float = BUSY_TIMEOUT_S,
        readonly: bool = False,
        create: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
        pool_size: int = POOL_SIZE,
        statement_timeout: float = STATEMENT_TIMEOUT_S,
        checkpoint_every: float | None = CHECKPOINT_EVERY_S,
    ) -> None:
        from compliance.gate.ledger import pg_open

        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError:
            raise LedgerConfigError(
                f"ledger {shown(url)} is a PostgreSQL database, and its driver is not "
                'installed: pip install "compliance[postgres]"'
            ) from None
        self.url = url
        self.path = shown(url)  # what messages name
        self.durable = durable  # synchronous commit is always on: every commit is durable
        self.busy_timeout = busy_timeout
        self.statement_timeout = statement_timeout
        self.readonly = readonly
        self.clock = clock or model.system_clock
        self.key = audit.audit_key()
        self.subject_key: bytes | None = None
        self.version = SCHEMA_VERSION
        self.conn: Any = None
        self.pool: Any = None
        self._lock = threading.RLock()
        self._known: dict[str, Any] = {}
        self._checked = 0.0  # when the schema was last found as pinned (time.monotonic)
        self._wrote = 0  # entries written since the last checkpoint
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reset()
        if readonly:
            pg_open.open_readonly(self)
            return
        pg_open.open_pool(self, create=create, size=pool_size)
        if checkpoint_every:
            self._thread = threading.Thread(
                target=self._checkpoints,
                args=(checkpoint_every,),
                name="compliance-pg-checkpoint",
                daemon=True,
            )
            self._thread.start()

    def _reset(self) -> None:
        """What one write transaction carries."""
        self.now = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        self.now_us = 0
        self.now_iso = self.now.isoformat()
        self._heads: dict[int, tuple[int, str]] = {}  # chains locked: (position, hash)
        self._touched: set[int] = set()
        self._seqs: list[int] = []  # seqs taken for this transaction, not yet used
        self._reserved: int | None = None
        self._pending: list[tuple[Any, ...]] = []
        self._sends: list[tuple[Any, ...]] = []
        self._fresh: dict[str, list[tuple[Any, ...]]] = {}
        self._batch: dict[str, dict[Any, Any]] | None = None

    def clock_us(self) -> int:
        return micros(aware(self.clock(), "the clock's time"))

    def facts(self, mode: str) -> dict[str, str]:
        from compliance.gate import opening

        return opening.facts(self, mode)  # type: ignore[arg-type]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
            if self._wrote:
                with suppress(LedgerError):
                    self.checkpoint()
        with self._lock:
            if self.pool is not None:
                self.pool.close()
                self.pool = None
            elif self.conn is not None:
                with suppress(Exception):
                    self.conn.raw.close()
            self.conn = None

    def _error(self, exc: BaseException, doing: str = "written") -> LedgerError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return LedgerError(f"ledger {self.path} cannot be {doing}: {first}")

    @contextmanager
    def write(
        self,
        *,
        check: bool = True,
        subjects: Iterable[str | None] | None = None,
        raw: Any = None,
        seqs: int | None = None,
    ) -> Iterator[Conn]:
        """One write transaction: the chains of `subjects` locked (None among them: chain 0;
        no `subjects`: every chain), the clock read once they are held, and the entries
        appended, the heads moved and the transaction committed, or none of it. Any database
        error, and no connection within busy_timeout, is raised as LedgerError. `raw`: a
        connection of the caller's (the opening transaction), committed here but not
        returned to the pool. `seqs`: how many entry seqs to take with the locks (by default
        one per subject); a write of no entries takes none, so leaves no gap in them."""
        import psycopg

        if self.readonly:
            raise LedgerError(f"ledger {self.path} was opened read-only")
        with self._lock:
            given = raw is not None
            if not given:
                raw = self._getconn()
            self._reset()
            self._known = {}  # other hosts write too: nothing is known from before
            try:
                try:
                    self._lock_chains(raw, subjects, seqs)
                except psycopg.OperationalError:
                    if given or not raw.broken:
                        raise
                    # a pooled connection the server dropped (a restart, a terminated
                    # backend): nothing was done on it, so a fresh one tries again
                    self.pool.putconn(raw)  # the pool discards a broken connection
                    raw = None
                    raw = self._getconn()
                    self._lock_chains(raw, subjects, seqs)
                self.conn = conn = Conn(raw)
                self.now = aware(self.clock(), "the clock's time")
                self.now_us = micros(self.now)
                self.now_iso = self.now.isoformat()
                if check and time.monotonic() - self._checked > SCHEMA_CHECK_EVERY_S:
                    from compliance.gate.ledger import pg_open

                    pg_open.check_schema(self, raw)
                yield conn
                try:
                    self._flush(raw)  # and commit
                except psycopg.OperationalError:
                    if given or not self._pending or not self._landed(self._pending[0][0]):
                        raise
                self._wrote += len(self._pending)
            except BaseException as exc:
                if raw is not None:
                    with suppress(Exception):
                        raw.rollback()
                if isinstance(exc, psycopg.Error):
                    raise self._error(exc) from exc
                raise
            finally:
                self._pending, self._sends = [], []
                self.conn = None
                if not given and raw is not None:
                    self.pool.putconn(raw)

    def _landed(self, seq: int) -> bool:
        """Whether the entry `seq` is in the trail, read on a fresh connection: a transaction
        whose COMMIT was sent when its connection dropped may have committed."""
        import psycopg

        from compliance.gate.ledger.pg_open import _session

        with suppress(psycopg.Error), psycopg.connect(
            self.url, connect_timeout=max(2, int(self.busy_timeout) + 1), autocommit=True,
            options=_session(self),
        ) as other:  # fmt: skip
            found = other.execute("SELECT 1 FROM audit_log WHERE seq = %s", (seq,)).fetchone()
            return found is not None
        return False

    def _getconn(self) -> Any:
        import psycopg
        from psycopg_pool import PoolTimeout

        if self.pool is None:
            raise LedgerError(f"ledger {self.path} is closed")
        try:
            return self.pool.getconn(timeout=self.busy_timeout)
        except PoolTimeout as exc:
            raise LedgerError(
                f"ledger {self.path} cannot be written: no connection within "
                f"{self.busy_timeout:g} s (the server does not answer, or all "
                f"{self.pool.max_size} connections of the pool are busy): {exc}"
            ) from exc
        except psycopg.Error as exc:  # the pool closed
            raise self._error(exc) from exc

    def _lock_chains(
        self, raw: Any, subjects: Iterable[str | None] | None, seqs: int | None
    ) -> None:
        if subjects is None:
            chains, need = list(range(CHAINS)), 1
        else:
            sids = [self.sid(s) if s is not None else None for s in subjects]
            chains, need = sorted({chain_of(sid) for sid in sids} or {0}), max(1, len(sids))
        if seqs is not None:
            need = seqs
        # one round trip: the locks, then, under them, the seqs taken, the pauses and which
        # tables have rows (pauses and lists are written holding every chain, a review holding
        # its subject's: none that these decisions read can be half-way while they are held)
        with raw.pipeline():
            heads = raw.execute(
                "SELECT chain, pos, hash FROM chain_heads WHERE chain = ANY(%s) ORDER BY chain "
                "FOR UPDATE",
                (chains,),
            )
            taken = (
                raw.execute("SELECT nextval('audit_seq') FROM generate_series(1, %s)", (need,))
                if need
                else None
            )
            pauses = raw.execute(PAUSED) if need else None
            has = raw.execute(HAS_ANY) if need else None
        self._heads = {chain: (pos, digest) for chain, pos, digest in heads.fetchall()}
        self._seqs = sorted(row[0] for row in taken.fetchall()) if taken else []
        if pauses is not None and has is not None:
            self._known["paused"] = in_force(pauses.fetchall())
            self._known["has"] = has.fetchone()
        if len(self._heads) != len(chains):
            raise LedgerError(f"ledger {self.path} is missing chain heads: run audit verify")

    def _flush(self, raw: Any) -> None:
        """The entries, the heads and the recent sends, and the COMMIT, in one round trip;
        it returns once the commit is flushed (synchronous_commit)."""
        if not self._pending:
            raw.commit()
            return
        bulk = len(self._pending) >= COPY_FROM
        if bulk:  # a batch: COPY, one statement for them all, not one per row
            with raw.cursor() as cur:
                with cur.copy(f"COPY audit_log ({', '.join(AUDIT_COLUMNS)}) FROM STDIN") as copy:
                    for row in self._pending:
                        copy.write_row(row)
                if self._sends:
                    with cur.copy("COPY recent_sends FROM STDIN") as copy:
                        for row in self._sends:
                            copy.write_row(row)
        with raw.pipeline(), raw.cursor() as cur:
            if not bulk:
                cur.executemany(INSERT_ENTRY, self._pending)
                if self._sends:
                    cur.executemany(
                        "INSERT INTO recent_sends VALUES (%s, %s, %s, %s, %s, %s)", self._sends
                    )
            cur.executemany(
                "UPDATE chain_heads SET pos = %s, hash = %s WHERE chain = %s",
                [(*self._heads[chain], chain) for chain in sorted(self._touched)],
            )
            raw.commit()

    @contextmanager
    def reading(self) -> Iterator[Conn]:
        """A connection for reads outside a write transaction."""
        import psycopg
        from psycopg_pool import PoolTimeout

        with self._lock:
            if self.pool is None or self.conn is not None:  # read-only, or in a write
                yield self.conn
                return
            try:
                with self.pool.connection(timeout=self.busy_timeout) as raw:
                    yield Conn(raw)
                    raw.rollback()
            except (psycopg.Error, PoolTimeout) as exc:
                raise self._error(exc, "read") from exc

    def _forget(self) -> None:
        self._known = {}

    def _take(self) -> int:
        if not self._seqs:
            rows = self.conn.raw.execute(
                "SELECT nextval('audit_seq') FROM generate_series(1, 64)"
            ).fetchall()
            self._seqs = sorted(row[0] for row in rows)
        return self._seqs.pop(0)

    def next_seq(self) -> int:
        """The seq the next audit entry of this transaction will have."""
        if self._reserved is None:
            self._reserved = self._take()
        return self._reserved

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
        """Append an entry to its subject's chain, dated by the transaction's clock; the
        transaction inserts it when it commits."""
        if text is None:
            data = audit.attributed(data)
        sid = self._remember(subject) if subject else None
        chain = chain_of(sid)
        if chain not in self._heads:
            raise LedgerError(f"ledger {self.path}: chain {chain} was not locked for this write")
        seq, self._reserved = (self._reserved, None) if self._reserved else (self._take(), None)
        if text is None:
            text = printable(audit.canonical(data or {}))
        stored = sid if sid is None or sid.isascii() else printable(sid)
        pos, prev = self._heads[chain]
        pos += 1
        digest = chain_hash(
            prev, seq, chain, pos, self.now_iso, self.now_us, kind, stored, outcome, purpose,
            channel, send_us, text,
        )  # fmt: skip
        self._pending.append(
            (seq, chain, pos, self.now_iso, self.now_us, kind, stored, outcome, purpose, channel,
             send_us, text, prev, digest, mac(self.key, digest) if self.key else None)
        )  # fmt: skip
        self._heads[chain] = (pos, digest)
        self._touched.add(chain)
        if outcome == "allow" and stored is not None and kind == "decision" and send_us is not None:
            self._sends.append((send_us // DAY_US, stored, send_us, purpose, channel, seq))
            self._fresh.setdefault(stored, []).append((purpose, channel, send_us))
        return seq

    def _insert(self, table: str, rows: list[tuple[Any, ...]], seq: int) -> list[tuple[Any, ...]]:
        """Insert rows (every column but id and audit_seq) with ids from the table's sequence
        and the entry that vouches for them; returns them whole, for the entry's digest."""
        if not rows:
            return []
        ids = sorted(
            row[0]
            for row in self.conn.raw.execute(
                "SELECT nextval(%s) FROM generate_series(1, %s)", (f"{table}_ids", len(rows))
            ).fetchall()
        )
        whole = [(ident, *row, seq) for ident, row in zip(ids, rows, strict=True)]
        marks = ", ".join(["%s"] * len(whole[0]))
        with self.conn.raw.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES ({marks})", whole)
        return whole

    def _params_per_query(self) -> int:
        return 10_000  # PostgreSQL takes 65,535 parameters in one statement

    # checkpoints ----------------------------------------------------------------------------

    def checkpoint(self) -> int | None:
        """Tie the chains together: every chain's head, chained to the checkpoint before and
        signed with the audit key. Returns its id, or None when no chain has moved since."""
        from compliance.gate.ledger import pg_verify

        with self.write(check=False, seqs=0):
            found = pg_verify.write_checkpoint(self)
            self._wrote = 0
            return found

    def prune(self) -> None:
        """Drop allowed sends older than frequency caps reach, by the clock, never by a
        send's own time (a day of margin for hosts' clocks that disagree)."""
        with self.write(check=False, subjects=[], seqs=0):
            # by the earlier of this host's clock and the server's: a host whose clock runs
            # ahead never drops sends that the other hosts' caps still count
            server = self.conn.execute(
                "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT"
            ).fetchone()[0]
            today = min(self.now_us, int(server)) // DAY_US
            self.conn.execute("DELETE FROM recent_sends WHERE day < ?", (today - RECENT_DAYS - 1,))

    def _checkpoints(self, every: float) -> None:
        pruned = 0.0
        while not self._stop.wait(every):
            with suppress(Exception):  # a fault is the next write's to report
                if self._wrote:
                    self.checkpoint()
                if time.monotonic() - pruned > PRUNE_EVERY_S:
                    pruned = time.monotonic()
                    self.prune()

    # reading the whole ledger ---------------------------------------------------------------

    def verify(self) -> Verdict:
        from compliance.gate.ledger import pg_verify

        return pg_verify.verify(self)

    def entry_count(self) -> int:
        with self.reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])

    def status(self) -> dict[str, Any]:
        from compliance.gate.ledger.overview import status

        with self.reading() as conn:
            count = conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
            last = conn.execute(
                "SELECT id, at, hash FROM checkpoints ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return status(
            self,
            "postgresql",
            {
                "chains": CHAINS,
                "checkpoints": int(count),
                "last_checkpoint": {"id": last[0], "at": last[1], "hash": last[2]}
                if last
                else None,
            },
        )

    def export(self, since_us: int | None = None, until_us: int | None = None) -> Iterator[Any]:
        from compliance.gate.ledger import pg_verify

        return pg_verify.export(self, since_us, until_us)
