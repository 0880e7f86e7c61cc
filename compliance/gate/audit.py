"""The audit trail: an append-only, hash-chained table `audit_log`.

Each entry's hash covers its own fields and the previous entry's hash, so changing, deleting,
reordering or inserting an entry breaks the chain from there on. With COMPLIANCE_AUDIT_KEY set,
each entry also carries an HMAC of its hash: rewriting the whole chain consistently then needs
the key as well.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring as _encode_string
from typing import Any

from compliance.gate.model import printable

GENESIS = "0" * 64
KEY_ENV = "COMPLIANCE_AUDIT_KEY"
# Tables whose rows an audit entry vouches for: each row names its entry (audit_seq), and the
# entry's data holds a digest of the rows it wrote ("rows": {table: digest}), so editing,
# deleting or adding a row is found by verify like a change to the trail itself
COVERED = {
    "consent_events": (
        "subject",
        "channel",
        "scope",
        "action",
        "source",
        "at",
        "at_us",
        "capture_digest",
        "evidence",
    ),
    "pauses": ("target_kind", "target", "paused", "reason", "by", "at"),
}


def rows_digest(rows: Iterable[tuple[Any, ...]]) -> str:
    """The digest of a table's rows (values in COVERED order) that one entry wrote."""
    digest = hashlib.sha256()
    for row in rows:
        text = "\x1f".join("\x00" if value is None else str(value) for value in row)
        digest.update(text.encode("utf-8") + b"\x1e")
    return digest.hexdigest()


def audit_key() -> bytes | None:
    key = os.environ.get(KEY_ENV)
    return key.encode("utf-8") if key else None


def entry_hash(prev: str, seq: int, at: str, kind: str, subject: str | None, data: str) -> str:
    material = "\x1f".join((prev, str(seq), at, kind, subject or "", data))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode


def canonical(data: dict[str, Any]) -> str:
    """The entry's data as stored and hashed: compact JSON, keys sorted, UTF-8."""
    return _CANONICAL(data)


def _text(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


def decision_text(
    *,
    catalog: str,
    channel: str | None,
    market: str | None,
    not_before: str | None,
    outcome: str,
    reasons: list[str],
    template: str,
    to: str,
    warnings: list[str],
) -> str:
    """canonical() of a decision's data, written out directly: the gate writes one per send,
    and this is a fifth of the time json.dumps takes (a test holds the two equal)."""
    return (
        f'{{"catalog":{_text(catalog)},"channel":{_text(channel)},"market":{_text(market)},'
        f'"not_before":{_text(not_before)},"outcome":{_text(outcome)},'
        f'"reasons":[{",".join(map(_encode_string, reasons))}],"template":{_text(template)},'
        f'"to":{_text(to)},"warnings":[{",".join(map(_encode_string, warnings))}]}}'
    )


INSERT = (
    "INSERT INTO audit_log (seq, at, at_us, kind, subject, outcome, purpose, data, prev_hash,"
    " hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def tail_of(conn: sqlite3.Connection) -> tuple[int, str]:
    """The newest entry's (seq, hash), or (0, GENESIS) for an empty trail."""
    row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def entry(
    tail: tuple[int, str],
    *,
    at: str,
    at_us: int,
    kind: str,
    subject: str | None,
    data: dict[str, Any] | None,
    outcome: str | None = None,
    purpose: str | None = None,
    key: bytes | None = None,
    text: str | None = None,
) -> tuple[tuple[Any, ...], tuple[int, str]]:
    """The row that follows `tail` (for INSERT), and the new tail (seq, hash); `text` is
    canonical(data) when the caller has it already."""
    seq, prev = tail[0] + 1, tail[1]
    if text is None:  # a caller that writes its own text has made it printable
        text = printable(canonical(data))
    if subject is not None and not subject.isascii():
        subject = printable(subject)
    digest = entry_hash(prev, seq, at, kind, subject, text)
    row = (
        seq,
        at,
        at_us,
        kind,
        subject,
        outcome,
        purpose,
        text,
        prev,
        digest,
        mac(key, digest) if key else None,
    )
    return row, (seq, digest)


def append(
    conn: sqlite3.Connection,
    *,
    at: str,
    at_us: int,
    kind: str,
    subject: str | None,
    data: dict[str, Any],
    outcome: str | None = None,
    purpose: str | None = None,
    key: bytes | None = None,
    tail: tuple[int, str] | None = None,
) -> tuple[int, str]:
    """Append one entry inside the caller's write transaction; returns its (seq, hash), which
    the caller may pass back as `tail` for the next append in the same transaction."""
    row, tail = entry(
        tail or tail_of(conn),
        at=at,
        at_us=at_us,
        kind=kind,
        subject=subject,
        data=data,
        outcome=outcome,
        purpose=purpose,
        key=key,
    )
    conn.execute(INSERT, row)
    return tail


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.entries:,} entries"
        return f"audit trail broken at entry {self.first_bad}: {self.problem}"


def verify(conn: sqlite3.Connection, key: bytes | None = None) -> Verdict:
    """Recompute the chain, and the rows each entry vouches for (COVERED); the first entry
    that does not match is named."""
    prev = GENESIS
    expected = 1
    count = 0
    rows = conn.execute(
        "SELECT seq, at, kind, subject, data, prev_hash, hash, mac FROM audit_log ORDER BY seq"
    )
    tables = {name: _Rows(conn, name, columns) for name, columns in COVERED.items()}
    next_named = _next_named(tables)  # the lowest entry a row of a covered table names
    for seq, at, kind, subject, data, prev_hash, digest, signature in rows:
        count += 1
        if seq != expected:
            return Verdict(
                False,
                count,
                expected if seq > expected else seq,
                f"sequence jumps from {expected - 1} to {seq} (an entry was deleted or inserted)",
            )
        if prev_hash != prev:
            return Verdict(False, count, seq, "it does not follow the entry before it")
        if entry_hash(prev, seq, at, kind, subject, data) != digest:
            return Verdict(False, count, seq, "its content does not match its hash (edited)")
        if key is not None and (
            signature is None or not hmac.compare_digest(signature, mac(key, digest))
        ):
            return Verdict(
                False,
                count,
                seq,
                "its signature does not match the audit key "
                "(the chain was rewritten, or the key differs)",
            )
        vouches = '"rows":' in data
        if vouches or seq >= next_named:  # most entries (decisions) neither vouch nor are named
            vouched = _vouched(data) if vouches else {}
            for name, table in tables.items():
                pending = table.pending
                if name not in vouched and (pending is None or pending[0] > seq):
                    continue  # this table has nothing to do with this entry
                problem = table.check(seq, vouched.get(name))
                if problem:
                    return Verdict(False, count, problem[0], problem[1])
            next_named = _next_named(tables)
        prev = digest
        expected += 1
    for name, table in tables.items():
        if table.pending is not None:
            return Verdict(
                False,
                count,
                table.pending[0],
                f"a row of {name} names entry {table.pending[0]}, which is not in the trail",
            )
    return Verdict(True, count)


_ROWS = re.compile(r'"rows":\{((?:"[a-z_]+":"[0-9a-f]{64}",?)+)\}')
_PAIR = re.compile(r'"([a-z_]+)":"([0-9a-f]{64})"')


def _vouched(data: str) -> dict[str, str]:
    """The entry's "rows" digests. Read with a pattern when the text holds one such object
    (a JSON string cannot hold an unescaped quote, so only an object can), else parsed
    whole: the evidence a grant records may itself hold a "rows" key."""
    found = _ROWS.findall(data)
    if len(found) == 1 and data.count('"rows":') == 1:
        return dict(_PAIR.findall(found[0]))
    rows = json.loads(data).get("rows", {})
    return rows if isinstance(rows, dict) else {}


def _next_named(tables: dict[str, _Rows]) -> float:
    return min((t.pending[0] for t in tables.values() if t.pending is not None), default=INF)


INF = float("inf")


class _Rows:
    """A covered table's rows in audit_seq order, consumed alongside the trail. SQLite writes
    each row as the text rows_digest() hashes, so that Python only feeds the digest."""

    def __init__(self, conn: sqlite3.Connection, name: str, columns: tuple[str, ...]) -> None:
        self.name = name
        text = " || char(31) || ".join(f"COALESCE(CAST({c} AS TEXT), char(0))" for c in columns)
        # rows are written in audit_seq order, so id order is audit_seq order; a row moved
        # out of it is reported as not matching its entry
        self.cursor = conn.execute(f"SELECT audit_seq, {text} FROM {name} ORDER BY id")
        self.pending: tuple[Any, ...] | None = next(self.cursor, None)

    def check(self, seq: int, digest: str | None) -> tuple[int, str] | None:
        """Consume the rows that name entry `seq`: None when they are the ones it vouches
        for, else (the first bad entry, why)."""
        if digest is None and (self.pending is None or self.pending[0] > seq):
            return None  # the common case: an entry that wrote no rows, and none name it
        found = 0
        hashed = hashlib.sha256()
        while self.pending is not None and self.pending[0] <= seq:
            if self.pending[0] < seq:  # out of order: added after its entry's own rows
                return self.pending[0], f"it vouches for no such {self.name} row, yet one names it"
            hashed.update(self.pending[1].encode("utf-8") + b"\x1e")
            found += 1
            self.pending = next(self.cursor, None)
        if digest is None:
            return seq, f"it vouches for no {self.name} rows, but {found} name it"
        if hashed.hexdigest() != digest:
            return seq, f"its {self.name} rows were edited, deleted or added"
        return None


EXPORTED = (
    "seq",
    "at",
    "kind",
    "subject",
    "outcome",
    "purpose",
    "data",
    "prev_hash",
    "hash",
    "mac",
)


def export(
    conn: sqlite3.Connection, since_us: int | None = None, until_us: int | None = None
) -> Iterator[dict[str, Any]]:
    """Entries in order, one at a time (sqlite-utils streams the rows as dicts): memory does
    not grow with the trail. `mac` is the entry's HMAC with COMPLIANCE_AUDIT_KEY, or None."""
    import sqlite_utils

    sql = f"SELECT {', '.join(EXPORTED)} FROM audit_log"
    clauses, args = [], []
    if since_us is not None:
        clauses.append("at_us >= ?")
        args.append(since_us)
    if until_us is not None:
        clauses.append("at_us < ?")
        args.append(until_us)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    for row in sqlite_utils.Database(conn).query(sql + " ORDER BY seq", args):
        row["data"] = json.loads(row["data"])
        yield row
