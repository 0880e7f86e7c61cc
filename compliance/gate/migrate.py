"""Ledgers of earlier schemas: verified as they were written, then migrated to this one.

Before schema 3, an entry's hash covered fewer columns, as text, and do-not-contact entries,
registry checks, reassigned numbers and reviews were not vouched for. A migration first checks
the old ledger with the old rules (a ledger that does not verify is not migrated: a person must
look at it), rebuilds every table with this version's schema, and writes a ledger.migrate entry
that vouches for every row of the covered tables as it stands. Old entries stay as they were:
verify accepts their old hash only before that entry.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import TYPE_CHECKING, Any

from compliance import __version__
from compliance.gate import audit, schema
from compliance.gate.verify import DAY_US, RECENT_DAYS, Verdict

if TYPE_CHECKING:
    from compliance.gate.ledger import Ledger

# what schema 2 covered with digests, and how it wrote them
_LEGACY_COVERED = {
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
_OLD_TABLES = (
    "audit_log",
    "recent_sends",
    "consent_events",
    "pauses",
    "dnc_entries",
    "dnc_lists",
    "reassigned",
    "reviews",
    "meta",
    "subjects",
)
_OLD_INDEXES = (
    "consent_latest",
    "consent_by_subject",
    "reviews_open",
    "dnc_by_number",
    "audit_by_subject",
)


def legacy_verify(conn: sqlite3.Connection, key: bytes | None) -> Verdict:
    """Schema 1 and 2's verify: the chain, and the consent events and pauses entries vouch
    for."""
    prev, count = audit.GENESIS, 0
    tables = {name: _LegacyRows(conn, name, cols) for name, cols in _LEGACY_COVERED.items()}
    rows = conn.execute(
        "SELECT seq, at, kind, subject, data, prev_hash, hash, mac FROM audit_log ORDER BY seq"
    )
    for seq, at, kind, subject, data, prev_hash, digest, signature in rows:
        count += 1
        if seq != count:
            return Verdict(False, count, min(seq, count), "an entry was deleted or inserted")
        if prev_hash != prev:
            return Verdict(False, count, seq, "it does not follow the entry before it")
        if audit.legacy_hash(prev, seq, at, kind, subject, data) != digest:
            return Verdict(False, count, seq, "its content does not match its hash (edited)")
        if key is not None and signature != audit.mac(key, digest):
            return Verdict(False, count, seq, "its signature does not match the audit key")
        vouched = json.loads(data).get("rows", {}) if '"rows":' in data else {}
        for name, table in tables.items():
            problem = table.check(seq, vouched.get(name))
            if problem:
                return Verdict(False, count, seq, problem)
        prev = digest
    for name, table in tables.items():
        if table.pending is not None:
            return Verdict(False, count, table.pending[0], f"a row of {name} names no entry")
    signed = conn.execute("SELECT COUNT(*) FROM audit_log WHERE mac IS NOT NULL").fetchone()[0]
    return Verdict(True, count, signed=signed, key_checked=key is not None, legacy=count)


class _LegacyRows:
    def __init__(self, conn: sqlite3.Connection, name: str, columns: tuple[str, ...]) -> None:
        text = " || char(31) || ".join(f"COALESCE(CAST({c} AS TEXT), char(0))" for c in columns)
        self.cursor = conn.execute(f"SELECT audit_seq, {text} FROM {name} ORDER BY id")
        self.name = name
        self.pending: tuple[Any, ...] | None = next(self.cursor, None)

    def check(self, seq: int, digest: str | None) -> str | None:
        hashed, found = hashlib.sha256(), 0
        while self.pending is not None and self.pending[0] <= seq:
            if self.pending[0] < seq:
                return f"a row of {self.name} names an entry that does not vouch for it"
            hashed.update(self.pending[1].encode("utf-8") + b"\x1e")
            found += 1
            self.pending = next(self.cursor, None)
        if digest is None:
            return (
                f"{found} rows of {self.name} name it, but it vouches for none" if found else None
            )
        if hashed.hexdigest() != digest:
            return f"its {self.name} rows were edited, deleted or added"
        return None


def migrate(ledger: Ledger, version: int, mode: str) -> None:
    """Bring a ledger of an earlier schema to this one, inside the caller's write
    transaction. Raises LedgerConfigError when the old ledger does not verify."""
    from compliance.gate.ledger import LedgerConfigError

    conn = ledger.conn
    verdict = legacy_verify(conn, ledger.key)
    if not verdict.ok:
        raise LedgerConfigError(
            f"ledger {ledger.path} (schema {version}) does not verify, so it is not migrated to "
            f"schema {schema.SCHEMA_VERSION}: {verdict}. Restore it from a backup, or keep it as "
            "evidence and start a new ledger"
        )
    if mode == "hashed" and ledger.subject_key is not None:
        for sid, raw in conn.execute("SELECT sid, raw FROM subjects"):
            if audit.pseudonym(ledger.subject_key, raw) != sid:
                raise LedgerConfigError(
                    "COMPLIANCE_SUBJECT_KEY is not the key ledger "
                    f"{ledger.path} was created with: set that key to migrate it"
                )
    tail = audit.tail_of(conn)
    seq = tail[0] + 1  # the ledger.migrate entry's
    fold = _folder(conn, ledger, mode)
    conn.create_function("compliance_fold", 1, fold, deterministic=True)
    for name in _OLD_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for name in _OLD_TABLES:
        if name in present:
            conn.execute(f"ALTER TABLE {name} RENAME TO _v2_{name}")
    schema.create(conn)
    facts = ledger.facts(mode)
    _copy(conn, present, seq, facts, ledger.clock_us() // DAY_US - RECENT_DAYS)
    for name in _OLD_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS _v2_{name}")
    rows = {
        name: audit.rows_digest(conn.execute(f"SELECT * FROM {name} ORDER BY id"))
        for name in schema.COVERED
    }
    ledger.audit(
        kind="ledger.migrate",
        subject=None,
        data={
            "from": version,
            "to": schema.SCHEMA_VERSION,
            "subjects": mode,
            **({"subject_key_id": facts["subject_key_id"]} if "subject_key_id" in facts else {}),
            "tool": __version__,
            "legacy_through": tail[0],
            "rows": rows,
        },
    )


def _folder(conn: sqlite3.Connection, ledger: Ledger, mode: str) -> Any:
    """Email addresses are compared case-insensitively from schema 3 on: the stored subject of
    an address, folded to lower case (for a pseudonymising ledger, the pseudonym of the
    folded address, where the raw address is still known)."""
    if mode != "hashed" or ledger.subject_key is None:
        return lambda s: (
            s.lower() if isinstance(s, str) and "@" in s and not s.startswith("+") else s
        )
    key = ledger.subject_key
    renamed = {
        sid: audit.pseudonym(key, raw.lower())
        for sid, raw in conn.execute("SELECT sid, raw FROM subjects")
        if "@" in raw and raw != raw.lower()
    }
    return lambda s: renamed.get(s, s)


def _copy(
    conn: sqlite3.Connection, present: set[str], seq: int, facts: dict[str, str], cutoff_day: int
) -> None:
    conn.execute(
        "INSERT INTO audit_log SELECT seq, at, at_us, kind, subject, outcome, purpose, "
        "CASE WHEN kind = 'decision' THEN json_extract(data, '$.channel') END, "
        "CASE WHEN kind = 'decision' THEN at_us END, data, prev_hash, hash, mac "
        "FROM _v2_audit_log ORDER BY seq"
    )
    conn.execute(
        "INSERT INTO consent_events SELECT id, compliance_fold(subject), channel, scope, action, "
        "source, at, at_us, capture_digest, evidence, audit_seq FROM _v2_consent_events "
        "ORDER BY id"
    )
    conn.execute(
        "INSERT INTO pauses SELECT id, target_kind, target, paused, reason, by, at, audit_seq "
        "FROM _v2_pauses ORDER BY id"
    )
    if "dnc_entries" in present:
        conn.execute(
            "INSERT OR IGNORE INTO dnc_entries (list, subject, added_at, audit_seq) SELECT list, "
            "compliance_fold(number), added_at, ? FROM _v2_dnc_entries ORDER BY rowid",
            (seq,),
        )
    if "dnc_lists" in present:
        conn.execute(
            "INSERT INTO dnc_checks (list, market, checked_at_us, audit_seq) SELECT name, "
            "registry_market, checked_at_us, ? FROM _v2_dnc_lists WHERE registry_market IS NOT "
            "NULL AND checked_at_us IS NOT NULL ORDER BY rowid",
            (seq,),
        )
    if "reassigned" in present:
        conn.execute(
            "INSERT OR IGNORE INTO reassigned (number, disconnected_us, audit_seq) SELECT number, "
            "disconnected_us, ? FROM _v2_reassigned ORDER BY rowid",
            (seq,),
        )
    if "reviews" in present:
        _copy_reviews(conn, seq)
    if "subjects" in present:
        conn.execute("INSERT INTO subjects SELECT sid, raw FROM _v2_subjects")
    conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(facts.items()))
    conn.execute(
        "INSERT OR IGNORE INTO recent_sends SELECT send_us / ?, subject, send_us, purpose, "
        "channel, seq FROM audit_log WHERE kind = 'decision' AND outcome = 'allow' AND "
        "subject IS NOT NULL AND send_us IS NOT NULL AND send_us / ? >= ?",
        (DAY_US, DAY_US, cutoff_day),
    )


def _copy_reviews(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute(
        "INSERT INTO reviews SELECT id, compliance_fold(subject), channel, text, at, audit_seq "
        "FROM _v2_reviews ORDER BY id"
    )
    old = {r[1] for r in conn.execute("PRAGMA table_info(_v2_reviews)")}
    if "resolution" not in old:  # schema 1 kept only whether a review was resolved
        conn.execute(
            "INSERT INTO review_resolutions (review, resolution, by, audit_seq) SELECT id, "
            "'unrecorded', 'unrecorded', ? FROM _v2_reviews WHERE resolved ORDER BY id",
            (seq,),
        )
        return
    resolved = conn.execute(
        "SELECT r.id, r.resolution, a.data FROM _v2_reviews r LEFT JOIN _v2_audit_log a ON "
        "a.seq = r.resolved_seq WHERE r.resolved ORDER BY r.id"
    ).fetchall()
    for review, resolution, data in resolved:
        try:
            by = str(json.loads(data)["by"]) if data else "unrecorded"
        except (ValueError, KeyError, TypeError):
            by = "unrecorded"
        conn.execute(
            "INSERT INTO review_resolutions (review, resolution, by, audit_seq) "
            "VALUES (?, ?, ?, ?)",
            (review, resolution or "unrecorded", by, seq),
        )
