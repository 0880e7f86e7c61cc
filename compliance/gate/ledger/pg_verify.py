"""`audit verify` and `audit export` on a PostgreSQL ledger, and the checkpoints that tie its
chains together.

verify reads one snapshot (REPEATABLE READ, READ ONLY: a standby works) and checks what the
SQLite verify checks, chain by chain:
- the schema is the pinned one (pg_schema.problems: no trigger, rule, policy, view, column,
  index or constraint added, changed or dropped);
- each chain: positions 1, 2, 3... with no gap, each entry following the one before it in its
  chain, its hash covering its seq, chain, position and every column, its HMAC with the audit
  key, its seq above the one before it, and its subject's chain its own; the chain's head row
  is its newest entry;
- the checkpoints: each following the one before, hashed and signed, and every chain holding
  the entry each names at the position it names (cutting a chain's newest entries below a
  checkpoint is seen);
- the ledger opened by its ledger.init entry, meta as that entry says;
- the covered tables' rows against the entries that wrote them, and recent_sends against the
  allowed decisions (in seq order, as on SQLite: verify.py's and chainhash's passes);
- with the subject key, every raw identifier of a pseudonymising ledger.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from compliance.chainhash import GENESIS, Problem, Vouching, chain_hash, checkpoint_hash, mac
from compliance.gate import audit, schema
from compliance.gate.ledger import pg_schema
from compliance.gate.ledger.chains import CHAINS, chain_of, heads_text, read_heads
from compliance.gate.opening import SUBJECT_KEY_ENV
from compliance.gate.upgrade import UPGRADE, upgraded_version
from compliance.gate.verify import (
    DAY_US,
    GAP,
    RECENT_DAYS,
    Verdict,
    _Broken,
    _Sends,
    _subjects,
)

if TYPE_CHECKING:
    from compliance.gate.ledger.pg import PostgresLedger

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _covered(version: int) -> tuple[tuple[str, int], ...]:
    return tuple(
        (name, schema.columns(name).index("audit_seq")) for name in schema.covered(version)
    )


_CHAIN_WALK = (
    "SELECT chain, pos, seq, at, at_us, kind, subject, outcome, purpose, channel, send_us, "
    "data, prev_hash, hash, mac FROM audit_log ORDER BY chain, pos"
)


def write_checkpoint(ledger: PostgresLedger) -> int | None:
    """Inside a write holding every chain: a checkpoint of the heads, unless none moved."""
    raw = ledger.conn.raw
    last = raw.execute(
        "SELECT id, heads, hash FROM checkpoints ORDER BY id DESC LIMIT 1"
    ).fetchone()
    heads = heads_text(ledger._heads)
    if last is not None and last[1] == heads:
        return None
    ident = raw.execute("SELECT nextval('checkpoint_ids')").fetchone()[0]
    prev = last[2] if last else GENESIS
    digest = checkpoint_hash(prev, ident, ledger.now_iso, ledger.now_us, heads)
    raw.execute(
        "INSERT INTO checkpoints VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (ident, ledger.now_iso, ledger.now_us, heads, prev, digest,
         mac(ledger.key, digest) if ledger.key else None),
    )  # fmt: skip
    return int(ident)


class _State:
    def __init__(self) -> None:
        self.count = 0
        self.signed = 0
        self.checkpoints = 0
        self.last_checkpoint: str | None = None
        self.after = 0
        self.mode: str | None = None
        self.version: int | None = None
        self.key_id: str | None = None
        self.schema = schema.SCHEMA_VERSION  # the schema the tables were held to


def verify(ledger: PostgresLedger) -> Verdict:
    import psycopg

    key = ledger.key
    raw = ledger.conn.raw if ledger.pool is None else None
    own = None
    if raw is None:
        own = ledger.pool.getconn(timeout=ledger.busy_timeout)
        raw = own
    state = _State()
    try:
        if not raw.autocommit:
            raw.rollback()
        raw.autocommit = False
        raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        raw.read_only = True
        from compliance.gate.ledger.pg import Conn

        conn = Conn(raw)
        try:
            # a ledger of an earlier schema (3 on) is held to that schema, as on SQLite
            from compliance.gate.ledger.pg_open import _version

            stored = _version(raw)
            state.schema = (
                stored if stored is not None and 3 <= stored <= schema.SCHEMA_VERSION
                else schema.SCHEMA_VERSION
            )  # fmt: skip
            found = pg_schema.problems(raw, state.schema)
            if found:
                return Verdict(
                    False, 0, None, "the schema is not the one the gate made: " + "; ".join(found)
                )
            heads = _chains(raw, key, state)
            _checkpoints(raw, key, heads, state)
            _in_order(conn, ledger.clock_us(), state)
            _sequences(raw, state.schema)
            _meta(raw, state)
            secret = ledger.subject_key
            if secret is None:
                import os

                value = os.environ.get(SUBJECT_KEY_ENV)
                secret = value.encode("utf-8") if value else None
            mismatch = False
            if secret is not None and state.key_id not in (None, audit.key_id(secret)):
                secret, mismatch = None, True
            unchecked = _subjects(conn, secret, state.mode)  # type: ignore[arg-type]
        except _Broken as exc:
            return Verdict(False, state.count, exc.seq, exc.problem, state.signed, key is not None)
        except psycopg.Error as exc:
            return Verdict(False, state.count, None, f"the database cannot be read: {exc}")
        finally:
            raw.rollback()
            raw.read_only = False
            raw.isolation_level = None
            if own is None:
                raw.autocommit = True
    finally:
        if own is not None:
            ledger.pool.putconn(own)
    return Verdict(
        True,
        state.count,
        None,
        None,
        state.signed,
        key is not None,
        0,
        unchecked,
        mismatch,
        chains=CHAINS,
        checkpoints=state.checkpoints,
        last_checkpoint=state.last_checkpoint,
        after_checkpoint=state.after,
    )


class _Line:
    """A chain as the walk leaves it: its last position and hash, and the hashes at the
    positions a checkpoint names (not every hash: a long trail would hold them all in memory)."""

    __slots__ = ("kept", "last_hash", "last_pos", "wanted")

    def __init__(self, wanted: set[int]) -> None:
        self.last_pos = 0
        self.last_hash = GENESIS
        self.wanted = wanted
        self.kept: dict[int, str] = {0: GENESIS}

    def append(self, digest: str) -> None:
        self.last_pos += 1
        self.last_hash = digest
        if self.last_pos in self.wanted:
            self.kept[self.last_pos] = digest


def _named_positions(raw: Any) -> dict[int, set[int]]:
    """The positions of each chain that the checkpoints name (a checkpoint that cannot be read
    is _checkpoints()'s to report)."""
    wanted: dict[int, set[int]] = {}
    for (heads,) in raw.execute("SELECT heads FROM checkpoints"):
        for chain, (pos, _head) in (read_heads(heads) or {}).items():
            wanted.setdefault(chain, set()).add(pos)
    return wanted


def _chains(raw: Any, key: bytes | None, state: _State) -> dict[int, _Line]:
    """Each chain entry by entry; returns every chain's end, and its hashes at the positions
    the checkpoints name, which the checkpoints are held to."""
    wanted = _named_positions(raw)
    hashes: dict[int, _Line] = {chain: _Line(wanted.get(chain, set())) for chain in range(CHAINS)}
    last_seq: dict[int, int] = {}
    with raw.cursor(name="compliance_verify_chains") as cur:
        cur.itersize = 5000
        cur.execute(_CHAIN_WALK)
        for row in cur:
            (chain, pos, seq, at, at_us, kind, subject, outcome, purpose, channel, send_us,
             data, prev, digest, signature) = row  # fmt: skip
            state.count += 1
            if chain not in hashes:
                raise _Broken(
                    seq, f"it is in chain {chain}, and there are chains 0 to {CHAINS - 1}"
                )
            line = hashes[chain]
            if pos != line.last_pos + 1:
                raise _Broken(
                    seq,
                    f"chain {chain} jumps from position {line.last_pos} to {pos} (an entry was "
                    "deleted or inserted)",
                )
            if prev != line.last_hash:
                raise _Broken(seq, "it does not follow the entry before it in its chain")
            if seq <= last_seq.get(chain, 0):
                raise _Broken(seq, f"its seq is not above the one before it in chain {chain}")
            if chain_of(subject) != chain:
                raise _Broken(seq, f"its subject belongs in chain {chain_of(subject)}, not {chain}")
            if (
                chain_hash(prev, seq, chain, pos, at, at_us, kind, subject, outcome, purpose,
                           channel, send_us, data)
                != digest
            ):  # fmt: skip
                raise _Broken(seq, "its content does not match its hash (edited)")
            if signature is not None:
                if not _HEX64.fullmatch(signature):
                    raise _Broken(seq, "its signature column holds something that is not one")
                state.signed += 1
            if key is not None and (
                signature is None or not hmac.compare_digest(signature, mac(key, digest))
            ):
                raise _Broken(
                    seq,
                    "it is not signed"
                    if signature is None
                    else "its signature does not match the audit key (the chain was "
                    "rewritten, or the key differs)",
                )
            line.append(digest)
            last_seq[chain] = seq
    for chain, pos, digest in raw.execute("SELECT chain, pos, hash FROM chain_heads ORDER BY 1"):
        line = hashes.get(chain)
        if line is None:
            raise _Broken(None, f"chain_heads holds a chain {chain}, which there is not")
        if (pos, digest) != (line.last_pos, line.last_hash):
            raise _Broken(
                None,
                f"the head of chain {chain} says position {pos}, but the chain ends at "
                f"position {line.last_pos} (entries cut from it, or its head edited)",
            )
    heads = raw.execute("SELECT COUNT(*) FROM chain_heads").fetchone()[0]
    if heads != CHAINS:
        raise _Broken(None, f"chain_heads holds {heads} chains, not {CHAINS}")
    return hashes


def _checkpoints(raw: Any, key: bytes | None, hashes: dict[int, _Line], state: _State) -> None:
    prev = GENESIS
    newest: dict[int, tuple[int, str]] = {}
    for ident, at, at_us, heads, prev_hash, digest, signature in raw.execute(
        "SELECT id, at, at_us, heads, prev_hash, hash, mac FROM checkpoints ORDER BY id"
    ):
        where = f"checkpoint {ident}"
        if prev_hash != prev:
            raise _Broken(None, f"{where} does not follow the checkpoint before it")
        if checkpoint_hash(prev_hash, ident, at, at_us, heads) != digest:
            raise _Broken(None, f"{where} does not match its hash (edited)")
        if signature is not None and not _HEX64.fullmatch(signature):
            raise _Broken(None, f"{where}'s signature column holds something that is not one")
        if key is not None and (
            signature is None or not hmac.compare_digest(signature, mac(key, digest))
        ):
            raise _Broken(None, f"{where} is not signed with the audit key")
        found = read_heads(heads)
        if found is None or set(found) != set(hashes):
            raise _Broken(None, f"{where} does not hold every chain's head")
        for chain, (pos, head) in sorted(found.items()):
            line = hashes[chain]
            if (
                pos > line.last_pos
                or line.kept.get(pos) != head
                or pos < newest.get(chain, (0, ""))[0]
            ):
                raise _Broken(
                    None,
                    f"{where} says chain {chain} reached position {pos}, but the chain does "
                    "not hold that entry there (entries cut from the chain, or rewritten)",
                )
        newest = found
        prev = digest
        state.checkpoints += 1
        state.last_checkpoint = at
    state.after = sum(
        line.last_pos - newest.get(chain, (0, ""))[0] for chain, line in hashes.items()
    )


def _in_order(conn: Any, now_us: int, state: _State) -> None:
    """The entries in seq order: the opening entry first, the covered rows against their
    entries, recent_sends against the allowed decisions."""
    raw = conn.raw
    first = raw.execute(
        "SELECT seq, kind FROM audit_log WHERE kind <> %s ORDER BY seq LIMIT 1", (GAP,)
    ).fetchone()
    opener = raw.execute(
        "SELECT seq, kind, data FROM audit_log WHERE kind IN ('ledger.init', 'ledger.migrate') "
        "ORDER BY seq LIMIT 1"
    ).fetchone()
    if opener is None or (opener[1] == "ledger.init" and opener[0] != first[0]):
        raise _Broken(first[0] if first else None, "the trail must open with a ledger.init entry")
    legacy_through = 0  # a ledger copied from a SQLite file begun under an earlier schema
    try:
        fields = json.loads(opener[2])
        if opener[1] == "ledger.migrate":
            legacy_through = fields["legacy_through"]
            if type(legacy_through) is not int or legacy_through != opener[0] - 1:
                raise _Broken(
                    opener[0], "its data does not say which entries came before the migration"
                )
        state.mode = fields["subjects"]
        state.version = int(fields.get("schema") or fields["to"])
        state.key_id = fields.get("subject_key_id")
    except (ValueError, KeyError, TypeError):
        raise _Broken(
            opener[0], "its data does not say the ledger's schema and subject mode"
        ) from None
    vouching = Vouching(conn, _covered(state.schema), order="audit_seq, id")
    sends = _Sends(conn, now_us // DAY_US - RECENT_DAYS)
    recent_us = (now_us // DAY_US - RECENT_DAYS) * DAY_US
    try:
        with raw.cursor(name="compliance_verify_seq") as cur:
            cur.itersize = 5000
            cur.execute(
                "SELECT seq, kind, outcome, subject, purpose, channel, send_us, data "
                "FROM audit_log ORDER BY seq"
            )
            for seq, kind, outcome, subject, purpose, channel, send_us, data in cur:
                if kind == UPGRADE and seq > opener[0]:
                    found = upgraded_version(seq, data, state.version)
                    if isinstance(found, str):
                        raise _Broken(seq, found)
                    state.version = found
                if seq > legacy_through and ('"rows":' in data or seq >= vouching.next_named):
                    vouching.entry(seq, kind, data)
                if sends.next_seq <= seq or (
                    outcome == "allow" and send_us is not None and send_us >= recent_us
                ):
                    sends.check(seq, kind, subject, outcome, purpose, channel, send_us)
        vouching.finish()
    except Problem as exc:
        raise _Broken(exc.seq, exc.problem) from None
    sends.finish()


def _sequences(raw: Any, version: int) -> None:
    """Ids rise with the entries that wrote their rows (a reader that takes the newest row by
    id would otherwise read another than the trail's newest), and every sequence is past the
    ids and seqs it has given (set back, it would make every write fail, or collide)."""
    for table in schema.covered(version):
        # rows about a subject are written under its chain's lock: their ids rise subject by
        # subject (writes about different subjects take ids side by side); the others are
        # written holding every chain, so theirs rise throughout
        by = "PARTITION BY subject " if "subject" in schema.columns(table) else ""
        found = raw.execute(
            f"SELECT id, audit_seq FROM (SELECT id, audit_seq, lag(id) OVER ({by}ORDER BY "
            f"audit_seq, id) AS before FROM {table}) x WHERE before >= id ORDER BY audit_seq "
            "LIMIT 1"
        ).fetchone()
        if found is not None:
            raise _Broken(
                found[1],
                f"a row of {table} written before it has a higher id than its row {found[0]} "
                "(ids must rise with the entries that write them: edited)",
            )
    tops = [(f"{table}_ids", table, "id") for table in schema.covered(version)]
    tops += [("audit_seq", "audit_log", "seq"), ("checkpoint_ids", "checkpoints", "id")]
    for sequence, table, column in tops:
        last, called = raw.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone()
        top = raw.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0]
        if top is not None and (last if called else last - 1) < top:
            raise _Broken(
                None,
                f"sequence {sequence} was set back to {last}, below the {column} {top} of "
                f"{table} (every later write would fail or collide)",
            )


def _meta(raw: Any, state: _State) -> None:
    found = raw.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
    want = [("schema_version", str(state.version)), ("subjects", str(state.mode))]
    if state.key_id is not None:
        want.append(("subject_key_id", str(state.key_id)))
    want.sort()
    if [tuple(r) for r in found] != want:
        shown = ", ".join(f"{k}={v!r}" for k, v in found)
        raise _Broken(
            None,
            f"meta holds {shown or 'nothing'}, but the trail says "
            + ", ".join(f"{k}={v!r}" for k, v in want),
        )
    if state.version != state.schema:
        raise _Broken(None, f"the trail says schema {state.version}, not {state.schema}")


def export(
    ledger: PostgresLedger, since_us: int | None, until_us: int | None
) -> Iterator[dict[str, Any]]:
    """Entries in seq order, streamed (a server-side cursor), as audit.export gives them,
    with each entry's chain and position (its hash covers them)."""
    names = ("seq", "chain", "pos", *[n for n in audit.EXPORTED if n != "seq"])
    clauses, args = [], []
    if since_us is not None:
        clauses.append("at_us >= %s")
        args.append(since_us)
    if until_us is not None:
        clauses.append("at_us < %s")
        args.append(until_us)
    sql = f"SELECT {', '.join(names)} FROM audit_log"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    raw = ledger.conn.raw if ledger.pool is None else ledger.pool.getconn()
    try:
        with raw.transaction(), raw.cursor(name="compliance_export") as cur:
            cur.itersize = 5000
            cur.execute(sql + " ORDER BY seq", args)
            for row in cur:
                found = dict(zip(names, row, strict=True))
                with contextlib.suppress(TypeError, ValueError):
                    found["data"] = json.loads(found["data"])
                yield found
    finally:
        if ledger.pool is not None:
            ledger.pool.putconn(raw)
