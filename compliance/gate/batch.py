"""What a batch's decisions read, in a few queries for all its subjects at once."""

from __future__ import annotations

import sqlite3
from typing import Any

DAY_US = 86_400_000_000


# the newest event per (channel, scope): an opt-out (revoke) ranks above anything else of the
# same instant. SQLite takes bare columns from the row that reaches MAX, the first one in index
# order (id descending) among equals, so the later-recorded one (a test holds it to that)
NEWEST = (
    "SELECT channel, scope, action, MAX(at_us * 2 + (action = 'revoke')), source, id, at_us "
    "FROM consent_events"
)


def read_batch(
    conn: sqlite3.Connection,
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
        (
            "events",
            "SELECT subject, channel, scope, action, MAX(at_us * 2 + (action = 'revoke')), "
            "source, id, at_us FROM consent_events WHERE subject IN ({}) "
            "GROUP BY subject, channel, scope",
            (),
        ),
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
        has = known["has"] = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM dnc_entries), EXISTS (SELECT 1 FROM reassigned), "
            "(SELECT COUNT(*) FROM reviews) > (SELECT COUNT(*) FROM review_resolutions)"
        ).fetchone()
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
