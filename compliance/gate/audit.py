"""The audit trail: an append-only, hash-chained table `audit_log`.

Each entry's hash covers every column of the entry (but its own hash and signature) and the
previous entry's hash, with each value encoded with its type (encode()), so that NULL, an empty
string, a NUL character, an integer and a BLOB never hash alike. Changing, deleting, reordering
or inserting an entry breaks the chain there. With COMPLIANCE_AUDIT_KEY set, each entry also
carries an HMAC of its hash: rewriting the whole chain consistently then needs the key too.

Entries that write rows of a covered table (schema.COVERED) hold a digest of those rows, and
verify() checks every row against the entry it names; see verify.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Iterator
from contextvars import ContextVar
from json.encoder import encode_basestring as _encode_string
from typing import Any

from compliance.chainhash import (  # noqa: F401 (the trail's hashes, re-exported)
    COLUMNS,
    GENESIS,
    HASHED,
    EncodeError,
    any_hash,
    encode,
    entry_hash,
    legacy_hash,
    mac,
    row_text,
    rows_digest,
)
from compliance.gate.model import printable

KEY_ENV = "COMPLIANCE_AUDIT_KEY"

# Who is writing, when it is not the code that holds the Gate: the service sets it for each
# request (an API key's id, "key:key_...", or a provider's webhook, "webhook:twilio"), and
# every entry written meanwhile says so in its data ("via"), so an auditor can tell one
# integration's writes from another's.
ACTOR: ContextVar[str | None] = ContextVar("compliance_actor", default=None)


def attributed(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """An entry's data with the writer set for this context, if any."""
    actor = ACTOR.get()
    if actor is None:
        return data
    return {**(data or {}), "via": actor}


INSERT = f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def audit_key() -> bytes | None:
    key = os.environ.get(KEY_ENV)
    return key.encode("utf-8") if key else None


def key_id(key: bytes) -> str:
    """A short fingerprint of a subject key, kept in the ledger: opening it with another key
    (a typo, a trailing space) would otherwise hash every subject differently and hide every
    opt-out on record."""
    return hmac.new(key, b"compliance ledger subject key", hashlib.sha256).hexdigest()[:16]


def pseudonym(key: bytes, subject: str) -> str:
    """How a pseudonymising ledger stores a subject: a keyed hash (the raw value then lives
    only in the erasable `subjects` table)."""
    return "h:" + hmac.new(key, subject.encode("utf-8"), hashlib.sha256).hexdigest()[:40]


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
    requested: str | None,
    scheduled: str | None,
    template: str,
    to: str,
    warnings: list[str],
    via: str | None = None,
) -> str:
    """canonical() of a decision's data, written out directly: the gate writes one per send,
    and this is a fifth of the time json.dumps takes (a test holds the two equal).
    `scheduled` is the instant the send was judged at (the later of Send.at and the
    decision), `requested` the Send.at the caller gave."""
    return (
        f'{{"catalog":{_text(catalog)},"channel":{_text(channel)},"market":{_text(market)},'
        f'"not_before":{_text(not_before)},"outcome":{_text(outcome)},'
        f'"reasons":[{",".join(map(_encode_string, reasons))}],"requested":{_text(requested)},'
        f'"scheduled":{_text(scheduled)},"template":{_text(template)},'
        f'"to":{_text(to)},'
        + (f'"via":{_encode_string(via)},' if via is not None else "")
        + f'"warnings":[{",".join(map(_encode_string, warnings))}]}}'
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
    channel: str | None = None,
    send_us: int | None = None,
    key: bytes | None = None,
    text: str | None = None,
) -> tuple[tuple[Any, ...], tuple[int, str]]:
    """The row that follows `tail` (for INSERT), and the new tail (seq, hash); `text` is
    canonical(data) when the caller has it already (and has made it printable)."""
    seq, prev = tail[0] + 1, tail[1]
    if text is None:
        text = printable(canonical(data or {}))
    if subject is not None and not subject.isascii():
        subject = printable(subject)
    digest = entry_hash(
        prev, seq, at, at_us, kind, subject, outcome, purpose, channel, send_us, text
    )
    row = (
        seq,
        at,
        at_us,
        kind,
        subject,
        outcome,
        purpose,
        channel,
        send_us,
        text,
        prev,
        digest,
        mac(key, digest) if key else None,
    )
    return row, (seq, digest)


EXPORTED = (
    "seq",
    "at",
    "kind",
    "subject",
    "outcome",
    "purpose",
    "channel",
    "send_us",
    "data",
    "prev_hash",
    "hash",
    "mac",
)


def export(
    conn: sqlite3.Connection, since_us: int | None = None, until_us: int | None = None
) -> Iterator[dict[str, Any]]:
    """Entries in order, one at a time (sqlite-utils streams the rows as dicts): memory does
    not grow with the trail. `mac` is the entry's HMAC with COMPLIANCE_AUDIT_KEY, or None.
    Ledgers before schema 3 have no channel or send_us columns: those are None."""
    import sqlite_utils

    have = {row[1] for row in conn.execute("PRAGMA table_info(audit_log)")}
    names = [name if name in have else f"NULL AS {name}" for name in EXPORTED]
    sql = f"SELECT {', '.join(names)} FROM audit_log"
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
        try:  # as stored when it is not the JSON the gate writes (verify names such an entry)
            row["data"] = json.loads(row["data"])
        except (TypeError, ValueError):
            row["data"] = row["data"].hex() if isinstance(row["data"], bytes) else row["data"]
        yield row
