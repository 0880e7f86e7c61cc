"""The audit trail's hashes: how a value, a row and an entry are encoded and hashed, and two
passes over the whole trail: every entry's hash, types and signature (check_trail), and the
covered tables' rows against the digests their entries hold (check_rows).

Kept apart from the gate (only the standard library here), so that `audit verify` can run
these passes in processes of their own, beside its walk of the trail's structure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple

GENESIS = "0" * 64
COLUMNS = (
    "seq",
    "at",
    "at_us",
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


class EncodeError(TypeError):
    """A value of a type the ledger never stores (a list, say)."""


# The canonical encoding of a value with its type, self-delimiting, as bytes:
#   NULL  n                  integer  i<decimal>;
#   text  s<UTF-8 bytes>:<UTF-8>     blob     b<bytes>:<HEX>
#   real  f<as SQLite writes it>;  (the gate never writes one, so it never matches)
# NULL, an empty string, a NUL character, an integer and a BLOB never encode alike; lengths
# count bytes, so that any implementation (SQL included) computes the same.


def encode(value: Any) -> bytes:
    kind = type(value)
    if kind is str:
        raw = value.encode("utf-8", "surrogatepass")
        return b"s%d:%s" % (len(raw), raw)
    if value is None:
        return b"n"
    if kind is int:
        return b"i%d;" % value
    if kind is bytes:
        return b"b%d:%s" % (len(value), value.hex().upper().encode("ascii"))
    if kind is float:
        return f"f{value!r};".encode("ascii")
    raise EncodeError(f"cannot encode a {kind.__name__}")


class _Odd(Exception):
    """A value row_text's fast path does not write."""


def _odd(value: Any) -> str:
    raise _Odd


def row_text(row: Iterable[Any]) -> bytes:
    """encode() of each value, joined: text, NULL and integers written out at once (verify
    runs this for every row of the covered tables), anything else by encode()."""
    row = tuple(row)
    try:
        return "".join(
            [
                (f"s{len(v)}:{v}" if v.isascii() else f"s{len(v.encode('utf-8'))}:{v}")
                if type(v) is str
                else "n"
                if v is None
                else f"i{v};"
                if type(v) is int
                else _odd(v)
                for v in row
            ]
        ).encode("utf-8")
    except (_Odd, UnicodeEncodeError):
        return b"".join(map(encode, row))


def rows_digest(rows: Iterable[Iterable[Any]]) -> str:
    """The digest of the rows one entry wrote: every column of each, in table order."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row_text(row))
    return digest.hexdigest()


def _n(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def entry_hash(
    prev: str,
    seq: int,
    at: str,
    at_us: int,
    kind: str,
    subject: str | None,
    outcome: str | None,
    purpose: str | None,
    channel: str | None,
    send_us: int | None,
    data: str,
) -> str:
    """The hash of an entry: encode() of (prev, seq, at, at_us, kind, subject, outcome,
    purpose, channel, send_us, data), written out for the types the gate writes (a decision
    pays for this); any_hash() takes values of any type."""
    if data.isascii() and (subject is None or subject.isascii()):
        # the common case: every length in characters is one in bytes (the other columns
        # hold hashes, ISO times and the gate's own words, never anything but ASCII)
        return hashlib.sha256(
            (
                f"s{len(prev)}:{prev}i{seq};s{len(at)}:{at}i{at_us};s{len(kind)}:{kind}"
                f"{'n' if subject is None else f's{len(subject)}:{subject}'}"
                f"{'n' if outcome is None else f's{len(outcome)}:{outcome}'}"
                f"{'n' if purpose is None else f's{len(purpose)}:{purpose}'}"
                f"{'n' if channel is None else f's{len(channel)}:{channel}'}"
                f"{'n' if send_us is None else f'i{send_us};'}s{len(data)}:{data}"
            ).encode("ascii")
        ).hexdigest()
    return hashlib.sha256(
        (
            f"s{_n(prev)}:{prev}i{seq};s{_n(at)}:{at}i{at_us};s{_n(kind)}:{kind}"
            f"{'n' if subject is None else f's{_n(subject)}:{subject}'}"
            f"{'n' if outcome is None else f's{_n(outcome)}:{outcome}'}"
            f"{'n' if purpose is None else f's{_n(purpose)}:{purpose}'}"
            f"{'n' if channel is None else f's{_n(channel)}:{channel}'}"
            f"{'n' if send_us is None else f'i{send_us};'}s{_n(data)}:{data}"
        ).encode()
    ).hexdigest()


def chain_hash(
    prev: str,
    seq: int,
    chain: int,
    pos: int,
    at: str,
    at_us: int,
    kind: str,
    subject: str | None,
    outcome: str | None,
    purpose: str | None,
    channel: str | None,
    send_us: int | None,
    data: str,
) -> str:
    """The hash of an entry of a ledger kept in several chains (PostgreSQL): encode() of the
    previous entry's hash in its chain, its seq, chain and position, then the columns
    entry_hash() covers. Its place is hashed too, so an entry moved to another chain or
    position no longer matches."""
    return hashlib.sha256(
        row_text(
            (
                prev,
                seq,
                chain,
                pos,
                at,
                at_us,
                kind,
                subject,
                outcome,
                purpose,
                channel,
                send_us,
                data,
            )
        )  # fmt: skip
    ).hexdigest()


def checkpoint_hash(prev: str, ident: int, at: str, at_us: int, heads: str) -> str:
    """The hash of a checkpoint: encode() of the previous checkpoint's hash, its id, its time
    and the heads it holds (JSON: chain -> [position, hash])."""
    return hashlib.sha256(row_text((prev, ident, at, at_us, heads))).hexdigest()


# what an entry's hash covers, in order: the previous entry's hash, then its own columns
HASHED = ("prev_hash", *COLUMNS[:10])


def any_hash(values: tuple[Any, ...]) -> str:
    """entry_hash of values read back from the file (prev first), whatever their types."""
    return hashlib.sha256(row_text(values)).hexdigest()


def legacy_hash(prev: str, seq: int, at: str, kind: str, subject: str | None, data: str) -> str:
    """How ledgers before schema 3 hashed an entry: text joined, some columns left out."""
    material = "\x1f".join((prev, str(seq), at, kind, subject or "", data))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


class HashResult(NamedTuple):
    """What the hash pass found: the first entry whose hash, types, signature or rows are
    wrong (first_bad None with a problem: rows that name no entry), or nothing."""

    first_bad: int | None
    problem: str | None
    signed: int  # entries that carry an HMAC
    legacy: int  # entries hashed as before schema 3
    count: int


class Problem(Exception):
    """What is wrong, at which entry (None: rows that name no entry there is)."""

    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq, self.problem = seq, problem


_HEX64 = re.compile(r"[0-9a-f]{64}")
INF = float("inf")


def check_rows(
    conn: sqlite3.Connection, legacy_through: int, covered: tuple[tuple[str, int], ...]
) -> HashResult:
    """The covered tables' rows (name, position of audit_seq) against the digests their
    entries hold (Vouching), on their own: a pass that reads of each entry only its seq, its
    kind and the data of those that vouch for rows. An entry whose seq is not an integer ends
    the pass (the structure walk names it)."""
    count = 0
    try:
        vouching = Vouching(conn, covered)
        rows = conn.execute(  # (instr() in SQL costs more than `in` here)
            "SELECT seq, kind, data FROM audit_log WHERE seq > ? ORDER BY seq", (legacy_through,)
        )
        for seq, kind, data in rows:
            if type(seq) is not int:
                return HashResult(None, None, 0, 0, count)
            count += 1
            if (
                seq >= vouching.next_named
                or kind == "ledger.migrate"
                or (type(data) is str and '"rows":' in data)
            ):
                vouching.entry(seq, kind, data)
        vouching.finish()
    except Problem as exc:
        return HashResult(exc.seq, exc.problem, 0, 0, count)
    except sqlite3.OperationalError as exc:
        if "decode" not in str(exc).lower():
            raise
        return HashResult(None, "a row holds text that is not UTF-8 (edited)", 0, 0, count)
    return HashResult(None, None, 0, 0, count)


def _on_own_connection(uri: str, run: Any) -> HashResult:
    conn = sqlite3.connect(uri, uri=True)
    try:
        return run(conn)  # type: ignore[no-any-return]
    finally:
        conn.close()


def check_trail(
    conn: sqlite3.Connection,
    key: bytes | None,
    legacy_through: int,
    covered: tuple[tuple[str, int], ...],
) -> HashResult:
    """Every entry's hash against its columns (the entries up to `legacy_through` as ledgers
    before schema 3 hashed them), the types of its columns, its HMAC with the audit key, and
    with `covered` (name, position of audit_seq) the rows of those tables against the digests
    their entries hold (Vouching). The chain's links and the rest of its structure are
    verify's to check."""
    walk = _Walk(conn, key, legacy_through)
    try:
        walk.run(Vouching(conn, covered) if covered else None)
    except Problem as exc:
        return HashResult(exc.seq, exc.problem, walk.signed, walk.legacy, walk.count)
    except sqlite3.OperationalError as exc:
        if "decode" not in str(exc).lower():
            raise
        problem = "it holds text that is not UTF-8 (edited)"
        return HashResult(walk.last + 1, problem, walk.signed, walk.legacy, walk.count)
    return HashResult(None, None, walk.signed, walk.legacy, walk.count)


class _Walk:
    def __init__(
        self,
        conn: sqlite3.Connection,
        key: bytes | None,
        legacy_through: int,
    ) -> None:
        self.conn, self.key, self.legacy_through = conn, key, legacy_through
        self.signed = self.legacy = self.count = self.last = 0

    def run(self, vouching: Vouching | None) -> None:
        rows = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log ORDER BY seq")
        key, legacy_through = self.key, self.legacy_through
        for row in rows:
            (seq, at, at_us, kind, subject, outcome, purpose, channel, send_us, data,
             prev, digest, signature) = row  # fmt: skip
            self.count += 1
            if type(seq) is not int:
                raise Problem(self.last + 1, f"its seq is a {type(seq).__name__}")
            self.last = seq
            if seq <= legacy_through:
                if not _legacy_match(row):
                    raise Problem(seq, "its content does not match its hash (edited)")
                self.legacy += 1
            elif (
                type(prev) is str
                and type(at) is str
                and type(at_us) is int
                and type(kind) is str
                and type(data) is str
                and (subject is None or type(subject) is str)
                and (outcome is None or type(outcome) is str)
                and (purpose is None or type(purpose) is str)
                and (channel is None or type(channel) is str)
                and (send_us is None or type(send_us) is int)
            ):  # the types the gate writes
                if (
                    entry_hash(
                        prev, seq, at, at_us, kind, subject, outcome, purpose, channel, send_us,
                        data,
                    )
                    != digest
                ):  # fmt: skip
                    raise Problem(seq, "its content does not match its hash (edited)")
            elif any_hash((prev, *row[:10])) == digest:
                raise Problem(seq, "its columns do not hold the types the gate writes (edited)")
            else:
                raise Problem(seq, "its content does not match its hash (edited)")
            if signature is not None:
                if type(signature) is not str or not _HEX64.fullmatch(signature):
                    raise Problem(seq, "its signature column holds something that is not one")
                self.signed += 1
            if key is not None and (
                type(signature) is not str
                or type(digest) is not str
                or not hmac.compare_digest(signature, mac(key, digest))
            ):
                raise Problem(
                    seq,
                    "it is not signed"
                    if signature is None
                    else "its signature does not match the audit key (the chain was "
                    "rewritten, or the key differs)",
                )
            # most entries neither vouch for rows nor are named by one
            if (
                vouching is not None
                and seq > legacy_through
                and ('"rows":' in data or seq >= vouching.next_named)
            ):
                vouching.entry(seq, kind, data)
        if vouching is not None:
            vouching.finish()


class Vouching:
    """The covered tables' rows against the entries that wrote them, entry by entry in seq
    order (after the entries of an earlier schema, which vouch for none): each entry's "rows"
    digests must match the rows that name it. The caller hands over an entry when its data
    holds '"rows":' or its seq reaches `next_named`; the others have nothing to check."""

    def __init__(self, conn: Any, covered: tuple[tuple[str, int], ...], order: str = "id") -> None:
        self.tables = {name: _Rows(conn, name, at, order) for name, at in covered}
        self.next_named = _next_named(self.tables)

    def entry(self, seq: int, kind: Any, data: Any) -> None:
        tables = self.tables
        vouched = _vouched(data) if type(data) is str and '"rows":' in data else {}
        if "" in vouched:  # what the gate writes is a JSON object
            raise Problem(seq, vouched[""] + " (edited)")
        upto = kind == "ledger.migrate"  # it vouches for every row before it
        for name, digest_of_rows in vouched.items():
            if name in tables:
                tables[name].check(seq, digest_of_rows, upto)
        if seq >= self.next_named or upto:  # rows that name it, not vouched for
            for name, table in tables.items():
                if name not in vouched and table.next_seq <= seq:
                    table.check(seq, None, upto)
        self.next_named = _next_named(tables)

    def finish(self) -> None:
        """Rows left over name entries there are not (or that do not vouch for them)."""
        for name, table in self.tables.items():
            if table.pending is not None:
                raise Problem(
                    int(table.next_seq) if table.next_seq != INF else None,
                    f"a row of {name} names entry {table.pending[table.at]}, which does not "
                    "vouch for it",
                )


_ROWS = re.compile(r'"rows":\{((?:"[a-z_]+":"[0-9a-f]{64}",?)+)\}')
_PAIR = re.compile(r'"([a-z_]+)":"([0-9a-f]{64})"')


_ONE = re.compile(r'"rows":\{"([a-z_]+)":"([0-9a-f]{64})"\}')


def _vouched(data: str) -> dict[str, str]:
    """The entry's "rows" digests. Read with a pattern when the text holds one such object
    (a JSON string cannot hold an unescaped quote, so only an object can), else parsed
    whole: the evidence a grant records may itself hold a "rows" key."""
    if data.count('"rows":') == 1:
        one = _ONE.search(data)  # most entries write rows of one table
        if one is not None:
            return {one.group(1): one.group(2)}
    found = _ROWS.findall(data)
    if len(found) == 1 and data.count('"rows":') == 1:
        return dict(_PAIR.findall(found[0]))
    try:
        parsed = json.loads(data)
    except ValueError:
        return {"": "its data is not JSON"}
    rows = parsed.get("rows", {}) if isinstance(parsed, dict) else {"": "its data is no object"}
    return rows if isinstance(rows, dict) else {}


def _next_named(tables: dict[str, _Rows]) -> float:
    return min([t.next_seq for t in tables.values()], default=INF)  # (seven tables)


class _Rows:
    """A covered table's rows in id order (the order they were written, so audit_seq order),
    consumed alongside the trail."""

    def __init__(self, conn: Any, name: str, at: int, order: str = "id") -> None:
        self.name = name
        self.at = at  # where audit_seq is in a row
        # on SQLite ids follow seqs; on PostgreSQL writers of several chains take ids at once
        self.cursor = conn.execute(f"SELECT * FROM {name} ORDER BY {order}")
        self.pending: tuple[Any, ...] | None = None
        self.next_seq: float = INF
        self._advance()

    def _advance(self) -> None:
        try:
            self.pending = next(self.cursor, None)
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc).lower():
                raise
            raise Problem(
                None, f"a row of {self.name} holds text that is not UTF-8 (edited)"
            ) from None
        if self.pending is None:
            self.next_seq = INF
            return
        seq = self.pending[self.at]
        if type(seq) is not int:
            raise Problem(
                None,
                f"{self.name} row {self.pending[0]!r} names its entry with a "
                f"{type(seq).__name__}, not an integer",
            )
        self.next_seq = seq

    def check(self, seq: int, digest: str | None, upto: bool) -> None:
        """Consume the rows that name entry `seq` (with `upto`, every row up to it) and hold
        them to the entry's digest."""
        if self.next_seq == seq and digest is not None and not upto:
            # the common case: one row for its entry
            row = self.pending or ()
            self._advance()
            if self.next_seq != seq:
                if hashlib.sha256(row_text(row)).hexdigest() != digest:
                    raise Problem(seq, f"its {self.name} rows were edited, deleted or added")
                return
            hashed = hashlib.sha256(row_text(row))
            found = 1
        else:
            hashed = hashlib.sha256()
            found = 0
        while self.next_seq <= seq:
            if self.next_seq < seq and not upto:
                ident = self.pending[0] if self.pending else None
                raise Problem(
                    int(self.next_seq),
                    f"{self.name} row {ident!r} names it, but it does not vouch for that row",
                )
            hashed.update(row_text(self.pending or ()))
            found += 1
            self._advance()
        if digest is None:
            if found:
                raise Problem(seq, f"it vouches for no {self.name} rows, but {found} name it")
            return
        if hashed.hexdigest() != digest:
            raise Problem(seq, f"its {self.name} rows were edited, deleted or added")


def _legacy_match(row: tuple[Any, ...]) -> bool:
    seq, at, _, kind, subject, _, _, _, _, data, prev, digest = row[:12]
    if not all(type(v) is str for v in (at, kind, data, prev)) or not (
        subject is None or type(subject) is str
    ):
        return False
    return legacy_hash(prev, seq, at, kind, subject, data) == digest


def _main(argv: list[str]) -> int:
    """`python -I chainhash.py hashes URI LEGACY_THROUGH` (the audit key, in hex, on
    standard input) runs check_trail() without rows; `python -I chainhash.py rows URI
    LEGACY_THROUGH TABLE:AT ...` runs check_rows(). Each prints its HashResult as a JSON list;
    verify runs them in processes of their own, from this file in isolated mode."""
    import json
    import sys

    if len(argv) < 3 or argv[0] not in ("hashes", "rows"):
        print(_main.__doc__, file=sys.stderr)
        return 2
    mode, uri, legacy_through = argv[0], argv[1], int(argv[2])
    if mode == "rows":
        covered = tuple((name, int(at)) for name, at in (pair.split(":") for pair in argv[3:]))
        found = _on_own_connection(uri, lambda conn: check_rows(conn, legacy_through, covered))
    else:
        text = sys.stdin.read().strip()
        key = bytes.fromhex(text) if text else None
        found = _on_own_connection(uri, lambda conn: check_trail(conn, key, legacy_through, ()))
    print(json.dumps(list(found)))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
