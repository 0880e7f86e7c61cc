"""Opening a PostgreSQL ledger: creating it (only when asked, one opener at a time), and
refusing a database that holds no ledger, another schema version, an altered schema (a
trigger, a rule, a policy: pg_schema.problems), meta that differs from the entry that opened
the ledger, or another subject key; reading one read-only (a replica works)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from compliance.errors import LedgerConfigError, LedgerError, LedgerMissingError
from compliance.gate import opening
from compliance.gate.ledger import pg_schema
from compliance.gate.opening import SUBJECT_KEY_ENV
from compliance.gate.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from compliance.gate.ledger.pg import PostgresLedger

OPENING_LOCK = 0x636F6D706C  # the advisory lock openers take while they look and create


def _connect(ledger: PostgresLedger, **kwargs: Any) -> Any:
    import psycopg

    try:
        return psycopg.connect(
            ledger.url, connect_timeout=max(2, int(ledger.busy_timeout) + 1), **kwargs
        )
    except psycopg.Error as exc:
        raise ledger._error(exc, "opened") from exc


def with_schema(url: str, options: str) -> str:
    """Connection options: the URL's own (options=...), then `options`, and the ledger's schema
    as the search_path. The schema is the one the URL's options name (-c search_path=...),
    else public, set on the connection itself: a search_path set for a role or a database
    (ALTER ROLE ... SET) cannot point the gate at another copy of the ledger than the one
    its auditors read."""
    from psycopg.conninfo import conninfo_to_dict

    own = str(conninfo_to_dict(url).get("options") or "")
    if "search_path" in own:
        return f"{own} {options}".strip()
    return f"{own} {options} -c search_path=public".strip()


def _session(ledger: PostgresLedger) -> str:
    """What every connection of the ledger sets: every commit waits for its WAL to be flushed
    (and for synchronous standbys), no statement or lock wait runs forever, and each statement
    is planned for its own values (a batch's statements, prepared once used often enough,
    would otherwise fall to a generic plan for a thousand subjects that took a second where
    its own took 70 ms: bench/ledger_backends.py)."""
    return with_schema(
        ledger.url,
        f"-c synchronous_commit=on -c statement_timeout={int(ledger.statement_timeout * 1000)} "
        f"-c lock_timeout={max(1, int(ledger.busy_timeout * 1000))} "
        "-c idle_in_transaction_session_timeout=60000 -c plan_cache_mode=force_custom_plan",
    )


def open_pool(ledger: PostgresLedger, *, create: bool, size: int) -> None:
    """Check (or create) the ledger on a connection of its own, then open the pool."""
    import psycopg
    from psycopg_pool import ConnectionPool

    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError("pool_size must be a whole number of connections, at least 1")
    conn = _connect(ledger, options=_session(ledger))
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (OPENING_LOCK,))
        found = conn.execute("SELECT to_regclass('meta'), to_regclass('audit_log')").fetchone()
        if found == (None, None):
            if not create:
                raise LedgerMissingError(missing(ledger))
            _create(ledger, conn)  # commits
        else:
            prepare(ledger, conn)
            conn.rollback()
    except psycopg.Error as exc:
        raise ledger._error(exc, "opened") from exc
    finally:
        conn.close()
    ledger.pool = ConnectionPool(
        ledger.url,
        min_size=1,
        max_size=size,
        kwargs={"autocommit": False, "options": _session(ledger)},
        # no check before each use (a round trip per decision): write() replaces a connection
        # the server dropped, on the first statement, before anything was done on it
        name="compliance-ledger",
        open=False,
    )
    ledger.pool.open(wait=False)


def missing(ledger: PostgresLedger) -> str:
    return (
        f"database {ledger.path} holds no ledger: create one with `compliance ledger init "
        f"--ledger URL` (or Gate.open(..., create=True)); if it held consent records, restore "
        "it from a backup instead: a new empty ledger forgets every opt-out"
    )


def _create(ledger: PostgresLedger, conn: Any) -> None:
    """The schema, meta and the ledger.init entry, in the opening transaction."""
    others = pg_schema._relations(conn, "rpfvm")
    if others:
        raise LedgerMissingError(
            f"database {ledger.path} holds other tables ({', '.join(sorted(others)[:5])}), not "
            "a ledger: give the ledger a database (or schema) of its own"
        )
    mode = "hashed" if os.environ.get(SUBJECT_KEY_ENV) else "raw"
    opening.subject_mode(ledger, mode)  # type: ignore[arg-type]
    pg_schema.create(conn)
    known = ledger.facts(mode)
    from compliance import __version__

    with ledger.write(check=False, raw=conn):
        ledger.conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(known.items()))
        ledger.audit(
            kind="ledger.init",
            subject=None,
            data={**opening._opening(known), "tool": __version__},
        )


def prepare(ledger: PostgresLedger, conn: Any) -> None:
    """An existing ledger: its version, pinned schema, subject mode and opening entry."""
    version = _version(conn)
    if version is None:
        raise LedgerMissingError(
            f"database {ledger.path} is not a compliance ledger (it has no meta): check the URL"
        )
    opening.check_version(ledger, version)  # type: ignore[arg-type]
    if version < 3:  # no earlier schema was ever kept on PostgreSQL
        raise LedgerConfigError(
            f"ledger {ledger.path} has schema version {version}, which was never written to "
            "PostgreSQL: restore it from a backup"
        )
    if version == SCHEMA_VERSION:
        check_schema(ledger, conn)
    row = conn.execute("SELECT value FROM meta WHERE key = 'subjects'").fetchone()
    mode = row[0] if row else "raw"
    opening.subject_mode(ledger, mode)  # type: ignore[arg-type]
    check_opening(ledger, conn, mode)
    if version < SCHEMA_VERSION:
        _upgrade(ledger, conn, version)


def _upgrade(ledger: PostgresLedger, conn: Any, version: int) -> None:
    """A ledger of an earlier schema (3 on) brought to this one, by its owner, in the opening
    transaction (upgrade.py): the added tables and their id sequences, the whole schema
    checked, meta moved on, a ledger.upgrade entry; committed together."""
    from compliance.gate.upgrade import UPGRADE, added_tables, entry_data

    may_create = conn.execute("SELECT has_schema_privilege(current_schema(), 'CREATE')").fetchone()[
        0
    ]
    if not may_create:
        raise LedgerConfigError(
            f"ledger {ledger.path} has schema version {version}, and this compliance uses "
            f"{SCHEMA_VERSION}: the role it logs in as cannot create the tables the upgrade "
            "adds. Upgrade it as the role that owns it (`compliance ledger upgrade --ledger "
            "postgresql://OWNER@HOST/DB`), then run the statements of `compliance ledger "
            "grants` again as the owner, for the new tables"
        )
    for statement in pg_schema.statements(added_tables(version)):
        conn.execute(statement)
    check_schema(ledger, conn)  # the old part too: nothing is committed if it was altered
    with ledger.write(check=False, raw=conn):
        ledger.conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
        )
        ledger.audit(kind=UPGRADE, subject=None, data=entry_data(version))


def _version(conn: Any) -> int | None:
    if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        return -1


def check_schema(ledger: PostgresLedger, conn: Any) -> None:
    import time

    found = pg_schema.problems(conn)
    if found:
        raise LedgerConfigError(
            f"ledger {ledger.path} has been altered, so the gate will not use it: "
            + "; ".join(found)
            + ". Run `compliance audit verify` and restore the ledger from a backup"
        )
    ledger._checked = time.monotonic()


def check_opening(ledger: PostgresLedger, conn: Any, mode: str) -> None:
    """meta against the entry that opened the ledger (ledger.init, or ledger.migrate in a
    ledger copied from a SQLite file that began under an earlier schema), its hash and its
    HMAC with the audit key; the subject key against the one the ledger was created with."""
    from compliance.chainhash import chain_hash, mac

    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    row = conn.execute(
        "SELECT seq, chain, pos, at, at_us, kind, subject, outcome, purpose, channel, send_us, "
        "data, prev_hash, hash, mac FROM audit_log WHERE kind IN ('ledger.init', "
        "'ledger.migrate') ORDER BY seq LIMIT 1"
    ).fetchone()
    intact = (
        row is not None
        and chain_hash(row[12], *row[:12]) == row[13]
        and (ledger.key is None or row[14] == mac(ledger.key, row[13]))
    )
    opening.opened_by(
        ledger, conn, meta, mode, None if row is None else (row[0], row[5], row[11]), intact
    )


def open_readonly(ledger: PostgresLedger) -> None:
    """One connection that only reads (it works on a hot standby): verify and export."""
    from compliance.gate.ledger.pg import Conn

    opening._no_empty_keys()
    raw = _connect(
        ledger,
        autocommit=True,
        options=with_schema(ledger.url, "-c default_transaction_read_only=on"),
    )
    try:
        version = _version(raw)
        if version is None:
            if raw.execute("SELECT to_regclass('audit_log')").fetchone()[0] is None:
                raise LedgerMissingError(
                    f"database {ledger.path} holds no ledger: check the URL (--ledger or "
                    "$COMPLIANCE_DB)"
                )
            version = SCHEMA_VERSION  # meta dropped: verify says so
        opening.check_version(ledger, version)  # type: ignore[arg-type]
        mode = raw.execute("SELECT value FROM meta WHERE key = 'subjects'").fetchone()
    except LedgerError:
        raw.close()
        raise
    except Exception as exc:
        raw.close()
        raise ledger._error(exc, "read") from exc
    secret = os.environ.get(SUBJECT_KEY_ENV)
    ledger.subject_key = (
        secret.encode("utf-8") if secret and mode is not None and mode[0] == "hashed" else None
    )
    ledger.version = version
    ledger.conn = Conn(raw)
