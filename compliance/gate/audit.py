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
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring as _encode_string
from typing import Any

GENESIS = "0" * 64
KEY_ENV = "COMPLIANCE_AUDIT_KEY"


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
    if text is None:
        text = canonical(data)
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
    """Recompute the chain; the first entry that does not match is named."""
    prev = GENESIS
    expected = 1
    count = 0
    rows = conn.execute(
        "SELECT seq, at, kind, subject, data, prev_hash, hash, mac FROM audit_log ORDER BY seq"
    )
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
        prev = digest
        expected += 1
    return Verdict(True, count)


def export(
    conn: sqlite3.Connection, since_us: int | None = None, until_us: int | None = None
) -> Iterator[dict[str, Any]]:
    """Entries in order, one at a time: memory does not grow with the trail."""
    sql = "SELECT seq, at, kind, subject, outcome, purpose, data, prev_hash, hash FROM audit_log"
    clauses, args = [], []
    if since_us is not None:
        clauses.append("at_us >= ?")
        args.append(since_us)
    if until_us is not None:
        clauses.append("at_us < ?")
        args.append(until_us)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    for seq, at, kind, subject, outcome, purpose, data, prev, digest in conn.execute(
        sql + " ORDER BY seq", args
    ):
        yield {
            "seq": seq,
            "at": at,
            "kind": kind,
            "subject": subject,
            "outcome": outcome,
            "purpose": purpose,
            "data": json.loads(data),
            "prev_hash": prev,
            "hash": digest,
        }
