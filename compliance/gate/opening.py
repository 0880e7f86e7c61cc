"""Opening a ledger file: creating it (only when asked), migrating an older schema, and
refusing one that is missing, empty, foreign, altered (its schema, or meta against the entry
that opened it) or keyed with another subject key; and reading one read-only, from a read-only
mount too."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compliance.errors import LedgerConfigError, LedgerError, LedgerMissingError
from compliance.gate import audit, schema
from compliance.gate.checkpoint import Checkpointer
from compliance.gate.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from compliance.gate.ledger import Ledger

CACHE_KIB = 32768  # SQLite's page cache per connection (its default is 2 MiB)
SUBJECT_KEY_ENV = "COMPLIANCE_SUBJECT_KEY"


def connect(ledger: Ledger, *, create: bool) -> None:
    """Open the file, bring its schema up to date (only `create` may make a new ledger)
    and check its schema and subject mode. Raises LedgerError."""
    if ledger.conn is not None:
        with suppress(sqlite3.Error):
            ledger.conn.close()
        ledger.conn = None  # type: ignore[assignment]
    state = _file_state(ledger.path)
    if state != "file" and not (create and state in ("missing", "empty")):
        raise LedgerMissingError(missing_message(ledger.path, state))
    if create:
        try:
            ledger.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the folder of ledger {ledger.path}: {exc}") from None
    try:
        uri = f"{ledger.path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=ledger.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {ledger.path}: {exc}") from exc
    ledger.conn = conn
    try:
        conn.execute(f"PRAGMA busy_timeout={int(ledger.busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process (the WAL is on disk); FULL also survives power
        # loss, at an fsync per decision
        conn.execute(f"PRAGMA synchronous={'FULL' if ledger.durable else 'NORMAL'}")
        conn.execute(f"PRAGMA wal_autocheckpoint={Checkpointer.BACKSTOP_PAGES}")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        ledger._broken = None
        with ledger.write(check=False):
            prepare(ledger, create)
        ledger._identity = ledger._stat()
    except LedgerError as exc:
        ledger._broken = str(exc)
        if isinstance(exc, LedgerConfigError | LedgerMissingError):
            raise
        cause = exc.__cause__ if exc.__cause__ else exc
        raise LedgerError(f"cannot open ledger {ledger.path}: {cause}") from exc
    except sqlite3.Error as exc:
        ledger._broken = str(exc)
        raise LedgerError(f"cannot open ledger {ledger.path}: {exc}") from exc


def prepare(ledger: Ledger, create: bool) -> None:
    """Inside the opening transaction: a new ledger's schema and first entry, or an
    existing one's version, migration and pinned schema."""
    conn = ledger.conn
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        if not create:
            raise LedgerMissingError(missing_message(ledger.path, "blank"))
        mode = "hashed" if os.environ.get(SUBJECT_KEY_ENV) else "raw"
        subject_mode(ledger, mode)
        schema.create(conn)
        known = facts(ledger, mode)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(known.items()))
        from compliance import __version__

        ledger.audit(
            kind="ledger.init",
            subject=None,
            data={**_opening(known), "tool": __version__},
        )
    else:
        version = schema.version_of(conn)
        if version is None and "audit_log" in tables:  # a ledger whose meta was dropped
            check_schema(ledger)
        if version is None:
            raise LedgerMissingError(missing_message(ledger.path, "foreign"))
        check_version(ledger, version)
        mode = meta_mode(ledger)
        subject_mode(ledger, mode)
        if version < 3:
            from compliance.gate.migrate import migrate

            migrate(ledger, version, mode)  # writes meta and its opening entry itself
        elif version < SCHEMA_VERSION:
            check_opening(ledger, mode)
            upgrade(ledger, version)
        else:
            check_schema(ledger)
            check_opening(ledger, mode)
    check_schema(ledger)


def upgrade(ledger: Ledger, version: int) -> None:
    """A ledger of schema 3 or later brought to this one inside the opening transaction: the
    tables later schemas add, meta, and the ledger.upgrade entry (upgrade.py)."""
    from compliance.gate.upgrade import UPGRADE, added_tables, entry_data

    conn = ledger.conn
    for name in added_tables(version):
        conn.execute(schema.TABLES[name])
    check_schema(ledger)  # the old part too: nothing is committed if it was altered
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    ledger.audit(kind=UPGRADE, subject=None, data=entry_data(version))


def facts(ledger: Ledger, mode: str) -> dict[str, str]:
    """What meta holds, as the ledger's first entry says it: the schema, how subjects are
    stored, and for keyed hashes, which key."""
    found = {"schema_version": str(SCHEMA_VERSION), "subjects": mode}
    if mode == "hashed" and ledger.subject_key is not None:
        found["subject_key_id"] = audit.key_id(ledger.subject_key)
    return found


def check_opening(ledger: Ledger, mode: str) -> None:
    """meta against the entry that opened the ledger (its hash checked, and its HMAC with
    the audit key): meta flipped to raw would hide every pseudonymised opt-out. A ledger
    is opened only with the subject key it was created with."""
    conn = ledger.conn
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    row = conn.execute(
        f"SELECT {', '.join(audit.COLUMNS)} FROM audit_log WHERE kind IN ('ledger.init', "
        "'ledger.migrate') ORDER BY seq LIMIT 1"
    ).fetchone()
    intact = (
        row is not None
        and audit.any_hash((row[10], *row[:10])) == row[11]
        and (ledger.key is None or row[12] == audit.mac(ledger.key, row[11]))
    )
    opened_by(
        ledger,
        conn,
        meta,
        mode,
        None if row is None else (row[0], row[3], row[9]),
        intact,
    )


def opened_by(
    ledger: Any,
    conn: Any,
    meta: dict[str, str],
    mode: str,
    opener: tuple[Any, Any, Any] | None,
    intact: bool,
) -> None:
    """Either backend: meta against the opening entry (seq, kind, data) whose hash and
    signature the caller has checked (`intact`), and the subject key against the ledger's."""
    problem = None
    if opener is None:
        problem = "it has no ledger.init entry"
    elif not intact:
        problem = f"its entry {opener[0]} ({opener[1]}) does not match its hash or signature"
    else:
        try:
            said = _facts_of(json.loads(opener[2]))
        except (ValueError, TypeError, KeyError):
            said = None
        if said is not None and _upgraded(meta, said):
            # a ledger.upgrade entry moved the version on (verify follows it)
            said = {**said, "schema_version": meta["schema_version"]}
        if said != meta:
            problem = f"meta holds {meta}, but entry {opener[0]} says {said}"
    if problem is None and mode == "raw":
        hashed = conn.execute(
            "SELECT 1 FROM consent_events WHERE subject >= 'h:' AND subject < 'h;' LIMIT 1"
        ).fetchone()
        if hashed is not None:
            problem = "it says subjects are stored raw, but consent events hold keyed hashes"
    if problem is not None:
        raise LedgerConfigError(
            f"ledger {ledger.path} has been altered, so the gate will not use it: {problem}. "
            "Run `compliance audit verify` and restore the ledger from a backup"
        )
    key = ledger.subject_key
    if mode == "hashed" and key is not None and meta.get("subject_key_id") != audit.key_id(key):
        raise LedgerConfigError(
            f"{SUBJECT_KEY_ENV} is not the key ledger {ledger.path} was created with: "
            "with another key every subject would hash differently and every opt-out on "
            "record would be missed. Set the key it was created with"
        )


def _upgraded(meta: dict[str, str], said: dict[str, str]) -> bool:
    """Whether meta's schema is a later one than the opening entry's, which only an upgrade
    makes (meta set to a version its tables are not is found by the pinned schema)."""
    try:
        return 3 <= int(said["schema_version"]) < int(meta["schema_version"]) <= SCHEMA_VERSION
    except (KeyError, ValueError):
        return False


def check_version(ledger: Ledger, version: int) -> None:
    if version > SCHEMA_VERSION or version < 1:
        raise LedgerConfigError(
            f"ledger {ledger.path} has schema version {version}, newer than this compliance "
            f"understands ({SCHEMA_VERSION}): upgrade compliance"
        )


def meta_mode(ledger: Ledger) -> str:
    try:
        row = ledger.conn.execute("SELECT value FROM meta WHERE key = 'subjects'").fetchone()
    except sqlite3.OperationalError:  # no meta table: verify names it
        return "raw"
    return row[0] if row else "raw"


def check_schema(ledger: Ledger) -> None:
    """The schema is the pinned one: anything else (a trigger that deletes every new STOP)
    could change what decisions read, so the ledger is refused."""
    found = schema.problems(ledger.conn)
    if found:
        raise LedgerConfigError(
            f"ledger {ledger.path} has been altered, so the gate will not use it: "
            + "; ".join(found)
            + ". Run `compliance audit verify` and restore the ledger from a backup"
        )
    ledger._cookie = ledger.conn.execute("PRAGMA schema_version").fetchone()[0]


def open_readonly(ledger: Ledger) -> None:
    _no_empty_keys()  # an empty audit key would make verify cry tampering, or check nothing
    state = _file_state(ledger.path)
    if state != "file":
        raise LedgerMissingError(missing_message(ledger.path, state, readonly=True))
    try:
        ledger.conn = _connect_readonly(ledger.path, ledger.busy_timeout)
        ledger.conn.execute("SELECT 1 FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        # a read-only folder with a WAL SQLite cannot map: read a private copy
        ledger.conn, ledger._copy, ledger.read_uri = _readonly_copy(
            ledger.path, ledger.busy_timeout
        )
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot read ledger {ledger.path}: {exc}") from exc
    try:
        version = schema.version_of(ledger.conn)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot read ledger {ledger.path}: {exc}") from exc
    if version is None:
        tables = {r[0] for r in ledger.conn.execute("SELECT name FROM sqlite_master")}
        if "audit_log" not in tables:
            raise LedgerMissingError(missing_message(ledger.path, "foreign", readonly=True))
        version = SCHEMA_VERSION  # a ledger whose meta was dropped: verify says so
    check_version(ledger, version)
    ledger.version = version
    # reading needs no subject key: verify and export never turn identifiers into hashes
    secret = os.environ.get(SUBJECT_KEY_ENV)
    ledger.subject_key = (
        secret.encode("utf-8") if secret and meta_mode(ledger) == "hashed" else None
    )


def subject_mode(ledger: Ledger, mode: str) -> None:
    _no_empty_keys()
    secret = os.environ.get(SUBJECT_KEY_ENV)
    if mode == "hashed" and not secret:
        raise LedgerConfigError(
            f"ledger {ledger.path} stores subjects as keyed hashes: set "
            f"{SUBJECT_KEY_ENV} to the key it was created with"
        )
    ledger.subject_key = secret.encode("utf-8") if mode == "hashed" and secret else None


def _opening(facts: dict[str, str]) -> dict[str, Any]:
    """The ledger.init (or ledger.migrate) data that says what meta holds."""
    data: dict[str, Any] = {"schema": int(facts["schema_version"]), "subjects": facts["subjects"]}
    if "subject_key_id" in facts:
        data["subject_key_id"] = facts["subject_key_id"]
    return data


def _facts_of(data: dict[str, Any]) -> dict[str, str]:
    """What meta must hold, from an opening entry's data."""
    found = {
        "schema_version": str(data.get("schema") or data["to"]),
        "subjects": str(data["subjects"]),
    }
    if "subject_key_id" in data:
        found["subject_key_id"] = str(data["subject_key_id"])
    return found


def _no_empty_keys() -> None:
    """A key variable set but empty is a mistake (an unset secret in a deployment), never a
    choice: an empty audit key would leave the trail unsigned, an empty subject key would make
    a ledger that can never erase anyone."""
    for name in (audit.KEY_ENV, SUBJECT_KEY_ENV):
        if name in os.environ and not os.environ[name].strip():
            raise LedgerConfigError(f"{name} is set but empty: set it to the key, or unset it")


def _file_state(path: Path) -> str:
    """missing, empty (0 bytes), folder or file."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"
    if path.is_dir():
        return "folder"
    return "empty" if found.st_size == 0 else "file"


def missing_message(path: Path, state: str, *, readonly: bool = False) -> str:
    init = (
        f"create one with `compliance ledger init --ledger {path}` (or Gate.open(..., "
        "create=True)); if it held consent records, restore it from a backup instead: a new "
        "empty ledger forgets every opt-out"
    )
    why = {
        "missing": f"there is no ledger at {path}",
        "gone": f"ledger {path} is missing",
        "empty": f"{path} is an empty file, not a ledger",
        "blank": f"{path} is an empty database, not a ledger",
        "foreign": f"{path} is not a compliance ledger",
        "folder": f"{path} is a folder, not a ledger file",
        "unreadable": f"{path} cannot be read",
    }[state]
    if state == "gone":
        return (
            f"{why}: restore it from a backup (the gate denies every send until then; a new "
            "empty ledger would forget every opt-out)"
        )
    if state in ("foreign", "folder", "unreadable") or readonly:
        return f"{why}: check the path (--ledger or $COMPLIANCE_DB)"
    return f"{why}: {init}"


def read_uri(path: Path, immutable: bool = False) -> str:
    return f"{path.absolute().as_uri()}?{'mode=ro&immutable=1' if immutable else 'mode=ro'}"


def _connect_readonly(path: Path, timeout: float, immutable: bool = False) -> sqlite3.Connection:
    return sqlite3.connect(
        read_uri(path, immutable),
        uri=True,
        timeout=timeout,
        isolation_level=None,
        check_same_thread=False,
    )


def _readonly_copy(path: Path, timeout: float) -> tuple[sqlite3.Connection, Any, str]:
    """SQLite cannot open a WAL ledger read-only where it may not create the -shm file (a
    read-only mount). Without a WAL to apply the file is read as immutable; with one, the file
    and its WAL are copied to a private folder and read there."""
    import shutil
    import tempfile

    wal = Path(f"{path}-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        try:
            return _connect_readonly(path, timeout, immutable=True), None, read_uri(path, True)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot read ledger {path}: {exc}") from exc
    folder = tempfile.TemporaryDirectory(prefix="compliance-ledger-")
    try:
        copy = Path(folder.name) / "ledger.db"
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, Path(f"{copy}-wal"))
        return _connect_readonly(copy, timeout), folder, read_uri(copy)
    except (OSError, sqlite3.Error) as exc:
        folder.cleanup()
        raise LedgerError(f"cannot read ledger {path}: {exc}") from exc
