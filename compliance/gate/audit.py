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


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


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
    if tail is None:
        row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        tail = (row[0], row[1]) if row else (0, GENESIS)
    seq, prev = tail[0] + 1, tail[1]
    text = canonical(data)
    digest = entry_hash(prev, seq, at, kind, subject, text)
    conn.execute(
        "INSERT INTO audit_log (seq, at, at_us, kind, subject, outcome, purpose, data, prev_hash,"
        " hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
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
        ),
    )
    return seq, digest


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
