"""What a batch's decisions read, in a few queries for all its subjects at once."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compliance.gate.ledger.dialect import Dialect

DAY_US = 86_400_000_000
# which of the tables a decision may read have rows (one with none is not asked about)
HAS = (
    "SELECT EXISTS (SELECT 1 FROM dnc_entries), EXISTS (SELECT 1 FROM reassigned), "
    "(SELECT COUNT(*) FROM reviews) > (SELECT COUNT(*) FROM review_resolutions)"
)
# the same without counting (PostgreSQL asks at every decision, SQLite once per change): any
# review at all, open or not, has its subjects asked about
HAS_ANY = (
    "SELECT EXISTS (SELECT 1 FROM dnc_entries), EXISTS (SELECT 1 FROM reassigned), "
    "EXISTS (SELECT 1 FROM reviews)"
)


def read_batch(
    conn: sqlite3.Connection,
    dialect: Dialect,
    known: dict[str, Any],
    sids: list[str],
    since_us: int,
    until_us: int,
    size: int,
) -> dict[str, Any]:
    """The newest consent event per subject, channel and scope, list entries, disconnections,
    open reviews and allowed sends in (since_us, until_us), for every subject at once. `known`
    keeps which of those tables have rows while no other connection commits."""
    batch: dict[str, Any] = {
        "subjects": set(sids),
        "events": {},
        "dnc": {},
        "gone": {},
        "review": {},
        "allowed": {},
        "span": (since_us, until_us),
    }
    queries = [
        # the newest event per subject, channel and scope (the dialect says how)
        ("events", dialect.newest("subject IN ({})", by_subject=True), ()),
        ("dnc", "SELECT subject, list FROM dnc_entries WHERE subject IN ({})", ()),
        ("gone", "SELECT number, disconnected_us FROM reassigned WHERE number IN ({})", ()),
        (
            "review",
            "SELECT DISTINCT subject, channel FROM reviews r WHERE subject IN ({}) AND NOT "
            "EXISTS (SELECT 1 FROM review_resolutions x WHERE x.review = r.id)",
            (),
        ),
    ]
    # a table with nothing in it is not asked about each subject
    has = known.get("has")
    if has is None:
        has = known["has"] = conn.execute(HAS).fetchone()
    empty = {name for name, found in zip(("dnc", "gone", "review"), has, strict=True) if not found}
    queries = [q for q in queries if q[0] not in empty]
    if until_us > since_us:
        days = ",".join(map(str, range(since_us // DAY_US, until_us // DAY_US + 1)))
        queries.append(
            (
                "allowed",
                f"SELECT subject, purpose, channel, at_us FROM recent_sends WHERE day IN ({days}) "
                "AND subject IN ({}) AND at_us > ? AND at_us < ?",
                (since_us, until_us),
            )
        )
    for start in range(0, len(sids), size):
        chunk = sids[start : start + size]
        marks = ",".join("?" * len(chunk))
        for name, sql, extra in queries:
            found = batch[name]
            for row in conn.execute(sql.format(marks), (*chunk, *extra)):
                if row[0] in found:
                    found[row[0]].append(row[1:])
                else:
                    found[row[0]] = [row[1:]]
    return batch
