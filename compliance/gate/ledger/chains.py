"""Which chain of a PostgreSQL ledger's audit trail an entry goes to, and how a checkpoint
records every chain's head (docs/ledger-postgres-design.md).

An entry about a subject goes to chain crc32(subject) % CHAINS, so that everything about one
subject is ordered in one chain, under one lock; entries about no subject (the ledger's
opening, pauses, list imports, erasures) go to chain 0.
"""

from __future__ import annotations

import json
import zlib

from compliance.gate.model import printable

CHAINS = 16  # bench/pg_chains.py chose the number


def stored(sid: str) -> str:
    """A subject as the trail stores it (audit.entry makes non-ASCII text printable)."""
    return sid if sid.isascii() else printable(sid)


def chain_of(sid: str | None) -> int:
    """The chain of an entry about `sid` as the ledger stores it (None: about no subject)."""
    if sid is None:
        return 0
    return zlib.crc32(stored(sid).encode("utf-8", "surrogatepass")) % CHAINS


def heads_text(heads: dict[int, tuple[int, str]]) -> str:
    """A checkpoint's heads as stored and hashed: {"chain": [position, hash]}, compact JSON
    with the chains in order."""
    return json.dumps(
        {str(chain): [pos, digest] for chain, (pos, digest) in sorted(heads.items())},
        separators=(",", ":"),
    )


def read_heads(text: str) -> dict[int, tuple[int, str]] | None:
    """heads_text() read back, or None when it is not what heads_text writes."""
    try:
        found = json.loads(text)
        heads = {int(chain): (pos, digest) for chain, (pos, digest) in found.items()}
    except (ValueError, TypeError, AttributeError):
        return None
    if heads_text(heads) != text or any(
        type(pos) is not int or type(digest) is not str for pos, digest in heads.values()
    ):
        return None
    return heads
