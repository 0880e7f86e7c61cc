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

SCHEMA_VERSION = 4

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
    # the service's API keys (schema 4): a SHA-256 of each token, never the token; a key is
    # revoked by a row of api_key_revocations (covered tables are only appended to)
    "api_keys": "CREATE TABLE api_keys (id INTEGER PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, "
    "name TEXT NOT NULL, scopes TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE, "
    "created_at TEXT NOT NULL, created_by TEXT NOT NULL, audit_seq INTEGER NOT NULL)",
    "api_key_revocations": "CREATE TABLE api_key_revocations (id INTEGER PRIMARY KEY, "
    "key_id TEXT NOT NULL UNIQUE, by TEXT NOT NULL, reason TEXT NOT NULL, "
    "audit_seq INTEGER NOT NULL)",
    # provider message ids of inbound webhooks already recorded (schema 4): a retry, on any
    # host, is answered from here and recorded once; audit_seq is the inbound entry
    "webhook_messages": "CREATE TABLE webhook_messages (id INTEGER PRIMARY KEY, "
    "provider TEXT NOT NULL, message_id TEXT NOT NULL, subject TEXT NOT NULL, "
    "action TEXT NOT NULL, reply TEXT, audit_seq INTEGER NOT NULL, "
    "UNIQUE (provider, message_id))",
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
    "api_keys",
    "api_key_revocations",
    "webhook_messages",
)
# tables each schema version added, created when a ledger of the version before is upgraded
# (a ledger.upgrade entry says so); versions before 3 are rebuilt instead (migrate.py)
ADDED = {4: ("api_keys", "api_key_revocations", "webhook_messages")}
META_KEYS = ("schema_version", "subjects")


def create(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)


def later(version: int) -> set[str]:
    """The tables schemas after `version` added (none for this version)."""
    return {name for step, names in ADDED.items() if step > version for name in names}


def covered(version: int = SCHEMA_VERSION) -> tuple[str, ...]:
    """The covered tables a ledger of `version` (3 or later) has."""
    return tuple(name for name in COVERED if name not in later(version))


def stored_version(conn: sqlite3.Connection) -> int:
    """The schema a ledger of schema 3 or later says it has (this one when meta says nothing
    readable or something else: verify then names what differs)."""
    try:
        found = version_of(conn)
    except sqlite3.Error:
        found = None
    return found if found is not None and 3 <= found <= SCHEMA_VERSION else SCHEMA_VERSION


@cache
def expected(version: int = SCHEMA_VERSION) -> dict[tuple[str, str], str | None]:
    """(type, name) -> SQL of every object the schema of `version` (3 or later) creates, as
    SQLite keeps it."""
    conn = sqlite3.connect(":memory:")
    try:
        create(conn)
        skip = [(kind, name) for kind, name, table in _owners(conn) if table in later(version)]
        found = _objects(conn)
        for key in skip:
            del found[key]
        return found
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


def _owners(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(type, name, table) of every object: an index SQLite makes for UNIQUE has no SQL
    that names its table."""
    return [tuple(row) for row in conn.execute("SELECT type, name, tbl_name FROM sqlite_master")]


def _normal(sql: str | None, table: str) -> str | None:
    return None if sql is None else re.sub(r"\s+", " ", sql).strip() + f" -- on {table}"


def problems(conn: sqlite3.Connection, version: int = SCHEMA_VERSION) -> list[str]:
    """What differs from the pinned schema (of `version`): unexpected objects, missing ones,
    changed ones (an added column changes its table's SQL). Empty when the schema is the
    pinned one."""
    found = _objects(conn)
    want = expected(version)
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
