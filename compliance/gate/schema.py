"""The ledger's schema, pinned: every table, column and index the gate reads or writes, and
nothing else. A trigger, view, table, column or index the gate did not create could change
what a decision reads (a trigger that deletes every new STOP), so the gate refuses to open such
a ledger and `audit verify` names the object.

Tables that decisions read are append-only and covered: each row names the audit entry that
wrote it (audit_seq) and that entry holds a digest of the rows (see audit.py). recent_sends is
derived from the trail (the allowed sends of the last days) and compared with it; meta is
compared with what the trail's ledger.init and ledger.migrate entries say.
"""

from __future__ import annotations

import re
import sqlite3
from functools import cache

SCHEMA_VERSION = 3

TABLES = {
    "audit_log": "CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, "
    "at_us INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT, outcome TEXT, purpose TEXT, "
    "channel TEXT, send_us INTEGER, data TEXT NOT NULL, prev_hash TEXT NOT NULL, "
    "hash TEXT NOT NULL, mac TEXT)",
    # allowed sends of the last days, for frequency caps: derived from the trail
    "recent_sends": "CREATE TABLE recent_sends (day INTEGER NOT NULL, subject TEXT NOT NULL, "
    "at_us INTEGER NOT NULL, purpose TEXT, channel TEXT, seq INTEGER NOT NULL, "
    "PRIMARY KEY (day, subject, at_us, seq)) WITHOUT ROWID",
    "consent_events": "CREATE TABLE consent_events (id INTEGER PRIMARY KEY, "
    "subject TEXT NOT NULL, channel TEXT NOT NULL, scope TEXT, action TEXT NOT NULL, "
    "source TEXT NOT NULL, at TEXT NOT NULL, at_us INTEGER NOT NULL, capture_digest TEXT, "
    "evidence TEXT, audit_seq INTEGER NOT NULL)",
    "pauses": "CREATE TABLE pauses (id INTEGER PRIMARY KEY, target_kind TEXT NOT NULL, "
    "target TEXT NOT NULL, paused INTEGER NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL, "
    "at TEXT NOT NULL, audit_seq INTEGER NOT NULL)",
    # do-not-contact entries: numbers and email addresses, by list
    "dnc_entries": "CREATE TABLE dnc_entries (id INTEGER PRIMARY KEY, list TEXT NOT NULL, "
    "subject TEXT NOT NULL, added_at TEXT, audit_seq INTEGER NOT NULL, UNIQUE (subject, list))",
    # each check of a national registry (the gate reads the newest per market)
    "dnc_checks": "CREATE TABLE dnc_checks (id INTEGER PRIMARY KEY, list TEXT NOT NULL, "
    "market TEXT NOT NULL, checked_at_us INTEGER NOT NULL, audit_seq INTEGER NOT NULL)",
    "reassigned": "CREATE TABLE reassigned (id INTEGER PRIMARY KEY, number TEXT NOT NULL, "
    "disconnected_us INTEGER NOT NULL, audit_seq INTEGER NOT NULL, "
    "UNIQUE (number, disconnected_us))",
    "reviews": "CREATE TABLE reviews (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, "
    "channel TEXT NOT NULL, text TEXT NOT NULL, at TEXT NOT NULL, audit_seq INTEGER NOT NULL)",
    "review_resolutions": "CREATE TABLE review_resolutions (id INTEGER PRIMARY KEY, "
    "review INTEGER NOT NULL UNIQUE, resolution TEXT NOT NULL, by TEXT NOT NULL, "
    "audit_seq INTEGER NOT NULL)",
    "meta": "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # raw identifiers of a pseudonymising ledger: erasable, so never vouched for by a digest
    "subjects": "CREATE TABLE subjects (sid TEXT PRIMARY KEY, raw TEXT NOT NULL)",
}
INDEXES = {
    # the newest event per subject, channel and scope is read from the index alone
    "consent_latest": "CREATE INDEX consent_latest ON consent_events "
    "(subject, channel, scope, at_us, id DESC, action, source)",
    "reviews_by_subject": "CREATE INDEX reviews_by_subject ON reviews (subject, channel)",
    "dnc_checks_by_market": "CREATE INDEX dnc_checks_by_market ON dnc_checks "
    "(market, checked_at_us)",
}
SCHEMA = [*TABLES.values(), *INDEXES.values()]

# tables whose rows an audit entry vouches for (a digest of every column of the rows it
# wrote, in id order); decisions read all of them
COVERED = (
    "consent_events",
    "pauses",
    "dnc_entries",
    "dnc_checks",
    "reassigned",
    "reviews",
    "review_resolutions",
)
META_KEYS = ("schema_version", "subjects")


def create(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)


@cache
def expected() -> dict[tuple[str, str], str | None]:
    """(type, name) -> SQL of every object this version's schema creates, as SQLite keeps it."""
    conn = sqlite3.connect(":memory:")
    try:
        create(conn)
        return _objects(conn)
    finally:
        conn.close()


@cache
def columns(table: str) -> tuple[str, ...]:
    conn = sqlite3.connect(":memory:")
    try:
        create(conn)
        return tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
    finally:
        conn.close()


# SQLite's own statistics tables (ANALYZE makes them; they steer query plans, not results)
STATISTICS = {"sqlite_stat1", "sqlite_stat2", "sqlite_stat3", "sqlite_stat4"}


def _objects(conn: sqlite3.Connection) -> dict[tuple[str, str], str | None]:
    """Every object of the schema, SQLite's own indexes (behind UNIQUE and PRIMARY KEY)
    included: a name starting sqlite_ cannot be made with CREATE, but can be written into the
    schema by hand (PRAGMA writable_schema), so it is compared like any other."""
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
    return {
        (kind, name): _normal(sql, table)
        for kind, name, table, sql in rows
        if not (kind == "table" and name in STATISTICS)
    }


def _normal(sql: str | None, table: str) -> str | None:
    return None if sql is None else re.sub(r"\s+", " ", sql).strip() + f" -- on {table}"


def problems(conn: sqlite3.Connection) -> list[str]:
    """What differs from the pinned schema: unexpected objects, missing ones, changed ones
    (an added column changes its table's SQL). Empty when the schema is the pinned one."""
    found = _objects(conn)
    want = expected()
    out = []
    for (kind, name), sql in sorted(found.items()):
        if (kind, name) not in want:
            table = (sql or "").rsplit(" -- on ", 1)[-1]
            where = f" on table {table}" if kind in ("index", "trigger") and table else ""
            out.append(f"unexpected {kind} {name!r}{where}")
        elif sql != want[(kind, name)]:
            out.append(f"{kind} {name!r} differs from the one this version creates")
    for kind, name in sorted(set(want) - set(found)):
        out.append(f"{kind} {name!r} is missing")
    return out


def version_of(conn: sqlite3.Connection) -> int | None:
    """The ledger's schema version from meta, or None when the file holds no ledger."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:
        return None
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        return -1
