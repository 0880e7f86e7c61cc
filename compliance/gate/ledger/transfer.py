"""`compliance ledger migrate SOURCE TARGET`: a ledger copied from one backend to the other (a
SQLite file to a PostgreSQL database, or back), and proved on both sides.

1. The target must hold nothing: a path with no file (or an empty one), a database with no
   tables. A copy never merges into, or overwrites, records that exist.
2. The source must verify (`audit verify`); a signed source is copied only with its audit key
   (COMPLIANCE_AUDIT_KEY), so the copy is signed too.
3. The source is held against writes (PostgreSQL: its tables locked in SHARE mode, which
   only its owner may do; SQLite: its write lock), writes in flight finish first, and only
   then is it verified: what is verified is what is copied. One snapshot is copied in one
   transaction: every table's rows as they are (ids,
   subjects, digests), and every entry with its seq, time and content, chained the target's
   way (PostgreSQL: the subject's chain; SQLite: one chain). The rows' digests still match,
   since the entries' content and the rows' ids and seqs are kept. Seqs the source skipped
   (a PostgreSQL sequence leaves gaps) become one `ledger.gap` entry each run of them on
   SQLite, whose seqs follow one another. A last entry, `ledger.copied`, says where the trail
   came from and the source's head: its newest entry's hash (SQLite) or every chain's head
   (PostgreSQL), which a copy of the source proves.
4. The copy is verified before it is used: SQLite writes a file beside the target and links it
   into place once it verifies (it is removed if not); PostgreSQL commits, then verifies, and
   says so if that fails.

A source written to during the copy is refused: the copy would not hold the newest records.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.chainhash import (
    COLUMNS,
    GENESIS,
    chain_hash,
    checkpoint_hash,
    entry_hash,
    legacy_hash,
    mac,
)
from compliance.errors import LedgerConfigError, LedgerError
from compliance.gate import audit, model, schema
from compliance.gate.ledger.chains import CHAINS, chain_of, heads_text
from compliance.gate.ledger.common import micros
from compliance.gate.ledger.pg import is_url, shown
from compliance.gate.verify import GAP, Verdict, gap_data

COPIED = "ledger.copied"
# what both backends keep of an entry, and hash, in this order
ENTRY = COLUMNS[:10]
# every table but the trail, copied row for row (the same columns on both backends)
TABLES = tuple(name for name in schema.TABLES if name != "audit_log")
BATCH = 5000
LOCK_WAIT_S = 30.0  # how long the copy waits for writes in flight to finish


@dataclass
class Copy:
    source: str
    target: str
    entries: int = 0  # entries copied (the source's)
    gaps: int = 0  # ledger.gap entries written for seqs the source skipped
    rows: dict[str, int] = field(default_factory=dict)
    source_verdict: Verdict | None = None
    target_verdict: Verdict | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "entries": self.entries,
            "gaps": self.gaps,
            "rows": self.rows,
            "source_verdict": self.source_verdict.to_dict() if self.source_verdict else None,
            "target_verdict": self.target_verdict.to_dict() if self.target_verdict else None,
        }


def _name(where: str | os.PathLike[str]) -> str:
    return shown(str(where)) if is_url(where) else str(where)


def migrate(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    say: Callable[[str], None] = lambda _: None,
) -> Copy:
    """Copy the ledger at `source` to the empty `target` (a path or a postgresql:// URL),
    verifying both. Raises LedgerError (LedgerConfigError for what the user must change)."""
    from compliance.gate.ledger import open_ledger

    done = Copy(_name(source), _name(target))
    if _same(source, target):
        raise LedgerConfigError("the source and the target are the same ledger")
    writer = _writer(target)
    writer.check_empty()
    key = audit.audit_key()
    # the source is held against writes (and in-flight writes finish) before it is verified,
    # so what is verified is what is copied
    db = open_ledger(source, readonly=True)  # (names a missing or foreign source)
    try:
        reader = _reader(source)
    except BaseException:
        db.close()
        raise
    try:
        say(f"verifying {done.source} ...")
        try:
            verdict = db.verify()
        finally:
            db.close()
        done.source_verdict = verdict
        if not verdict.ok:
            raise LedgerError(
                f"ledger {done.source} does not verify, so it is not copied: {verdict}. Restore "
                "it from a backup, or keep it as evidence"
            )
        if verdict.signed and key is None:
            raise LedgerConfigError(
                f"ledger {done.source} is signed with an audit key: set {audit.KEY_ENV} to it, "
                "so that the source is checked against it and the copy is signed too"
            )
        say(f"copying {verdict.entries:,} entries to {done.target} ...")
        writer.begin(key)
        for table in TABLES:
            done.rows[table] = writer.rows(table, reader.rows(table))
        legacy_through = reader.legacy_through()
        done.entries, done.gaps = writer.entries(reader.entries(), legacy_through)
        head = reader.head()
        if reader.grew():
            raise LedgerError(
                f"ledger {done.source} was written to during the copy: stop every process "
                "that writes to it (the gate's workers), then run the copy again"
            )
        writer.finish(
            {
                "from": reader.backend,
                "source": done.source,
                "entries": done.entries,
                "head": head,
                "tool": _version(),
            }
        )
    except BaseException:
        writer.abort()
        raise
    finally:
        reader.close()
    db = open_ledger(writer.written, readonly=True)
    try:
        done.target_verdict = db.verify()
    finally:
        db.close()
    if not done.target_verdict.ok:
        writer.discard()
        raise LedgerError(
            f"the copy at {done.target} does not verify ({done.target_verdict}): do not use it; "
            "the source is unchanged"
        )
    writer.publish()
    return done


def _version() -> str:
    from compliance import __version__

    return __version__


def _same(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> bool:
    if is_url(source) or is_url(target):
        return str(source) == str(target)
    try:
        return Path(source).resolve() == Path(target).resolve()
    except OSError:
        return False


# reading ------------------------------------------------------------------------------------


class _Reader:
    backend = ""
    conn: Any

    def _query(self, sql: str) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError

    def rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        return self._query(f"SELECT {', '.join(schema.columns(table))} FROM {table} ORDER BY 1")

    def entries(self) -> Iterator[tuple[Any, ...]]:
        return self._query(f"SELECT {', '.join(ENTRY)} FROM audit_log ORDER BY seq")

    def legacy_through(self) -> int:
        """The last entry written under a schema before 3 (0: none), as its ledger.migrate
        entry says: a SQLite target hashes those the way they were hashed."""
        found = next(
            self._query(
                "SELECT seq, kind, data FROM audit_log WHERE kind IN ('ledger.init', "
                "'ledger.migrate') ORDER BY seq LIMIT 1"
            ),
            None,
        )
        if found is None or found[1] == "ledger.init":
            return 0
        return int(json.loads(found[2])["legacy_through"])

    def last_seq(self) -> int:
        return next(self._query("SELECT COALESCE(MAX(seq), 0) FROM audit_log"))[0]  # type: ignore[no-any-return]

    def head(self) -> dict[str, Any]:
        raise NotImplementedError

    def grew(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        self.conn.close()


class _SqliteReader(_Reader):
    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        from compliance.gate.opening import read_uri

        self.path = path
        try:  # the write lock: no other writer commits until the copy ends
            self.conn = sqlite3.connect(path.absolute().as_uri() + "?mode=rw", uri=True,
                                        isolation_level=None, timeout=LOCK_WAIT_S)  # fmt: skip
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise LedgerError(
                    f"ledger {path} is being written to: stop every process that writes to it "
                    "(the gate's workers), then run the copy again"
                ) from None
            # a read-only file: one snapshot, and a look at the end for writes meanwhile
            self.conn = sqlite3.connect(read_uri(path), uri=True, isolation_level=None)
            self.conn.execute("BEGIN")
        self.conn.execute("SELECT 1 FROM audit_log LIMIT 1").fetchall()
        self.seen = self.last_seq()

    def _query(self, sql: str) -> Iterator[tuple[Any, ...]]:
        cur = self.conn.execute(sql)
        while batch := cur.fetchmany(BATCH):
            yield from batch

    def head(self) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return {"seq": row[0], "hash": row[1]}

    def grew(self) -> bool:
        other = sqlite3.connect(self.conn_uri(), uri=True)
        try:
            now = other.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0]
        finally:
            other.close()
        return bool(now != self.seen)

    def conn_uri(self) -> str:
        from compliance.gate.opening import read_uri

        return read_uri(self.path)


class _PgReader(_Reader):
    backend = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        from compliance.gate.ledger.pg_open import with_schema

        self.conn = psycopg.connect(
            url, options=with_schema(url, f"-c lock_timeout={int(LOCK_WAIT_S * 1000)}")
        )
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True
        self._n = 0
        # every table held against writes (writes in flight finish first), then the snapshot:
        # the one that is verified and copied, with nothing committed in between
        from compliance.gate.ledger import pg_schema

        tables = sorted({*pg_schema.DATA_TABLES, *pg_schema.CHAIN_TABLES} - {"chain_heads"})
        try:
            # (EXCLUSIVE on the heads also waits for writers that hold a chain's lock)
            self.conn.execute("LOCK TABLE chain_heads IN EXCLUSIVE MODE")
            self.conn.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE MODE")
        except psycopg.errors.InsufficientPrivilege:
            self.conn.close()
            raise LedgerConfigError(
                f"ledger {shown(url)} can be copied only by a role that may hold its tables "
                "against writes: its owner (the role that ran `ledger init`)"
            ) from None
        except psycopg.errors.LockNotAvailable:
            self.conn.close()
            raise LedgerError(
                f"ledger {shown(url)} is being written to: stop every process that writes to "
                "it (the gate's workers), then run the copy again"
            ) from None
        self.seen = self.last_seq()

    def _query(self, sql: str) -> Iterator[tuple[Any, ...]]:
        self._n += 1
        with self.conn.cursor(name=f"compliance_copy_{self._n}") as cur:
            cur.itersize = BATCH
            cur.execute(sql)
            yield from cur

    def head(self) -> dict[str, Any]:
        heads = self.conn.execute("SELECT chain, pos, hash FROM chain_heads ORDER BY chain")
        return {
            "seq": self.seen,
            "heads": {str(chain): [pos, digest] for chain, pos, digest in heads},
        }

    def grew(self) -> bool:
        import psycopg

        from compliance.gate.ledger.pg_open import with_schema

        with psycopg.connect(self.url, autocommit=True, options=with_schema(self.url, "")) as other:
            now = other.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0]
        return bool(now != self.seen)


def _reader(where: str | os.PathLike[str]) -> _Reader:
    try:
        if is_url(where):
            return _PgReader(str(where))
        return _SqliteReader(Path(where))
    except LedgerError:
        raise
    except Exception as exc:
        raise LedgerError(f"cannot read ledger {_name(where)}: {exc}") from exc


# writing ------------------------------------------------------------------------------------


class _Writer:
    written: str | os.PathLike[str]  # where the copy is, to be verified before it is used
    key: bytes | None

    def publish(self) -> None:
        """The verified copy into place."""

    def discard(self) -> None:
        """A copy that does not verify: removed where it can be."""

    def check_empty(self) -> None:
        raise NotImplementedError

    def begin(self, key: bytes | None) -> None:
        raise NotImplementedError

    def rows(self, table: str, rows: Iterable[tuple[Any, ...]]) -> int:
        raise NotImplementedError

    def entries(self, rows: Iterable[tuple[Any, ...]], legacy_through: int) -> tuple[int, int]:
        raise NotImplementedError

    def finish(self, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def _sign(self, digest: str) -> str | None:
        return mac(self.key, digest) if self.key else None

    @staticmethod
    def _now() -> tuple[str, int]:
        now = model.system_clock()
        return now.isoformat(), micros(now)


class _SqliteWriter(_Writer):
    """A new file beside the target, renamed into place once the copy verifies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temp = self.written = path.with_name(f".{path.name}.copying")
        self.conn: sqlite3.Connection | None = None

    def check_empty(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        except OSError as exc:
            raise LedgerConfigError(f"cannot use {self.path} as the target: {exc}") from None
        if size or not self.path.is_file():
            raise LedgerConfigError(
                f"target {self.path} already exists: a copy never overwrites a ledger or any "
                "other file. Name a path where there is no file"
            )

    def begin(self, key: bytes | None) -> None:
        self.key = key
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.temp.unlink(missing_ok=True)
            self.conn = sqlite3.connect(self.temp, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("BEGIN")
            schema.create(self.conn)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot write {self.temp}: {exc}") from exc

    def rows(self, table: str, rows: Iterable[tuple[Any, ...]]) -> int:
        assert self.conn is not None
        marks = ", ".join("?" * len(schema.columns(table)))
        count = 0
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(row))
            if len(batch) >= BATCH:
                self.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", batch)
                count += len(batch)
                batch = []
        self.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", batch)
        return count + len(batch)

    def entries(self, rows: Iterable[tuple[Any, ...]], legacy_through: int) -> tuple[int, int]:
        assert self.conn is not None
        self.tail = (0, GENESIS)
        self.last_at = ("", 0)
        count = gaps = 0
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            seq = row[0]
            if seq != self.tail[0] + 1:
                # seqs the source did not use: one entry stands for them
                batch.append(self._entry(GAP, None, audit.canonical(gap_data(seq)), *self.last_at))
                gaps += 1
            at, at_us, kind, subject, outcome, purpose, channel, send_us, data = row[1:]
            prev = self.tail[1]
            if seq <= legacy_through:
                digest = legacy_hash(prev, seq, at, kind, subject, data)
            else:
                digest = entry_hash(
                    prev, seq, at, at_us, kind, subject, outcome, purpose, channel, send_us, data
                )
            batch.append((*row, prev, digest, self._sign(digest)))
            self.tail, self.last_at = (seq, digest), (at, at_us)
            count += 1
            if len(batch) >= BATCH:
                self.conn.executemany(audit.INSERT, batch)
                batch = []
        self.conn.executemany(audit.INSERT, batch)
        return count, gaps

    def _entry(
        self, kind: str, subject: str | None, text: str, at: str, at_us: int
    ) -> tuple[Any, ...]:
        row, self.tail = audit.entry(
            self.tail, at=at, at_us=at_us, kind=kind, subject=subject, data=None, key=self.key,
            text=text,
        )  # fmt: skip
        return row

    def finish(self, data: dict[str, Any]) -> None:
        assert self.conn is not None
        row = self._entry(COPIED, None, audit.canonical(data), *self._now())
        try:
            self.conn.execute(audit.INSERT, row)
            self.conn.execute("COMMIT")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one file to move
            self.conn.close()
            self.conn = None
        except (OSError, sqlite3.Error) as exc:
            self.abort()
            raise LedgerError(f"cannot write {self.temp}: {exc}") from exc

    def publish(self) -> None:
        try:
            # into place only if still nothing is there (never over a file made meanwhile)
            os.link(self.temp, self.path)
        except FileExistsError:
            self.abort()
            raise LedgerConfigError(
                f"target {self.path} appeared during the copy: it is left as it is"
            ) from None
        except OSError as exc:
            self.abort()
            raise LedgerError(f"cannot write {self.path}: {exc}") from exc
        self.abort()  # the working file's name, and its -wal and -shm if any

    def discard(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self.conn is not None:
            with suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None
        for leftover in (self.temp, Path(f"{self.temp}-wal"), Path(f"{self.temp}-shm")):
            leftover.unlink(missing_ok=True)


class _PgWriter(_Writer):
    """One transaction: the schema, the rows (COPY), the chains, the heads, the sequences past
    every id, a last entry and a checkpoint."""

    def __init__(self, url: str) -> None:
        self.url = self.written = url
        self.conn: Any = None

    def _connect(self) -> Any:
        import psycopg

        try:
            from compliance.gate.ledger.pg_open import with_schema

            return psycopg.connect(
                self.url, options=with_schema(self.url, "-c synchronous_commit=on")
            )
        except psycopg.Error as exc:
            raise LedgerError(f"cannot open {shown(self.url)}: {str(exc).strip()}") from exc

    def _tables(self, conn: Any) -> list[str]:
        from compliance.gate.ledger import pg_schema

        return sorted(pg_schema._relations(conn, "rpfvmSc"))  # sequences and types too

    def check_empty(self) -> None:
        conn = self._connect()
        try:
            found = self._tables(conn)
        finally:
            conn.close()
        if found:
            raise LedgerConfigError(
                f"target {shown(self.url)} is not empty (it holds {', '.join(found[:5])}"
                f"{', ...' if len(found) > 5 else ''}): a copy goes into a database (or schema) "
                "of its own that holds nothing, never into a ledger that exists. Create one "
                "with CREATE DATABASE"
            )

    def begin(self, key: bytes | None) -> None:
        from compliance.gate.ledger import pg_open, pg_schema

        self.key = key
        self.conn = self._connect()
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (pg_open.OPENING_LOCK,))
        if self._tables(self.conn):
            raise LedgerConfigError(f"target {shown(self.url)} was written to meanwhile")
        pg_schema.create(self.conn)
        self.heads: dict[int, tuple[int, str]] = {chain: (0, GENESIS) for chain in range(CHAINS)}
        self.last_seq = 0
        self.max_ids: dict[str, int] = {}

    def rows(self, table: str, rows: Iterable[tuple[Any, ...]]) -> int:
        columns = schema.columns(table)
        count = 0
        top = 0
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
                if columns[0] == "id":
                    top = max(top, row[0])
        self.max_ids[table] = top
        return count

    def entries(self, rows: Iterable[tuple[Any, ...]], legacy_through: int) -> tuple[int, int]:
        count = 0
        columns = ("seq", "chain", "pos", *ENTRY[1:], "prev_hash", "hash", "mac")
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY audit_log ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(self._chained(row))
                count += 1
        return count, 0

    def _chained(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        seq, at, at_us, kind, subject, outcome, purpose, channel, send_us, data = row
        chain = chain_of(subject)
        pos, prev = self.heads[chain]
        pos += 1
        digest = chain_hash(
            prev, seq, chain, pos, at, at_us, kind, subject, outcome, purpose, channel, send_us,
            data,
        )  # fmt: skip
        self.heads[chain] = (pos, digest)
        self.last_seq = max(self.last_seq, seq)
        return (seq, chain, pos, at, at_us, kind, subject, outcome, purpose, channel, send_us,
                data, prev, digest, self._sign(digest))  # fmt: skip

    def finish(self, data: dict[str, Any]) -> None:
        import psycopg

        at, at_us = self._now()
        seq = self.last_seq + 1
        entry = self._chained(
            (seq, at, at_us, COPIED, None, None, None, None, None, audit.canonical(data))
        )
        try:
            cur = self.conn.cursor()
            cur.execute(
                "INSERT INTO audit_log VALUES (" + ", ".join(["%s"] * len(entry)) + ")", entry
            )
            cur.executemany(
                "UPDATE chain_heads SET pos = %s, hash = %s WHERE chain = %s",
                [(pos, digest, chain) for chain, (pos, digest) in sorted(self.heads.items())],
            )
            cur.execute("SELECT setval('audit_seq', %s)", (seq,))
            for table, top in self.max_ids.items():
                if top:
                    cur.execute("SELECT setval(%s, %s)", (f"{table}_ids", top))
            heads = heads_text(self.heads)
            digest = checkpoint_hash(GENESIS, 1, at, at_us, heads)
            cur.execute(
                "INSERT INTO checkpoints VALUES (1, %s, %s, %s, %s, %s, %s)",
                (at, at_us, heads, GENESIS, digest, self._sign(digest)),
            )
            cur.execute("SELECT setval('checkpoint_ids', 1)")
            self.conn.commit()
            # the visibility map (the consent index is read without the table) and the
            # planner's statistics now, not when autovacuum comes round to the new rows
            self.conn.autocommit = True
            with suppress(psycopg.Error):  # (the copy is kept without them)
                self.conn.execute("VACUUM (ANALYZE)")
        except psycopg.Error as exc:
            self.abort()
            raise LedgerError(f"cannot write {shown(self.url)}: {str(exc).strip()}") from exc
        finally:
            if self.conn is not None:
                self.conn.close()
                self.conn = None

    def abort(self) -> None:
        if self.conn is not None:
            try:
                self.conn.rollback()
                self.conn.close()
            except Exception:  # noqa: BLE001 - the connection may be gone; nothing was kept
                pass
            self.conn = None


def _writer(where: str | os.PathLike[str]) -> _Writer:
    if is_url(where):
        return _PgWriter(str(where))
    return _SqliteWriter(Path(where))
