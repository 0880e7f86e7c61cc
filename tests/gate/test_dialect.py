"""The statements the ledger runs differently on SQLite and PostgreSQL answer alike on the same
rows: the newest consent event per channel and scope (an opt-out above anything else of its
instant, then the later-recorded), one subject or many; and schema.py's tables and indexes
are created on a real PostgreSQL server as the dialect writes them."""

from __future__ import annotations

import random
import sqlite3

import psycopg
import pytest

from compliance.gate import schema
from compliance.gate.ledger.dialect import POSTGRES, SQLITE, placeholders

TEXT = ("sms", "mms", "rcs")
SUBJECTS = ("+13055550101", "+13055550102", "+13055550103", "a@example.com")


def events(seed: int, count: int = 400) -> list[tuple]:
    """consent_events rows with many ties: few instants, both actions, scoped and not."""
    rng = random.Random(seed)
    rows = []
    for ident in range(1, count + 1):
        rows.append(
            (
                ident,
                rng.choice(SUBJECTS),
                rng.choice((*TEXT, "email")),
                rng.choice((None, "offers", "alerts")),
                rng.choice(("grant", "revoke", "opt_in")),
                f"source-{ident}",
                "2026-12-01T00:00:00+00:00",
                1_700_000_000_000_000 + rng.randrange(12) * 1_000_000,
                None,
                "{}",
                ident,
            )
        )
    return rows


@pytest.fixture
def both(pg_database):
    lite = sqlite3.connect(":memory:")
    schema.create(lite)
    pg = psycopg.connect(pg_database, autocommit=True)
    for statement in schema.SCHEMA:
        pg.execute(POSTGRES.ddl(statement))
    yield lite, pg
    lite.close()
    pg.close()


def rows_of(conn, dialect, sql, args):
    if dialect is POSTGRES:
        return sorted(map(tuple, conn.execute(placeholders(sql), args).fetchall()), key=repr)
    return sorted(conn.execute(sql, args).fetchall(), key=repr)


@pytest.mark.parametrize("seed", range(5))
def test_the_newest_event_is_the_same_row_on_both(both, seed):
    lite, pg = both
    rows = events(seed)
    marks = ", ".join("?" * len(rows[0]))
    lite.executemany(f"INSERT INTO consent_events VALUES ({marks})", rows)
    with pg.cursor() as cursor:
        cursor.executemany(placeholders(f"INSERT INTO consent_events VALUES ({marks})"), rows)
    for subject in SUBJECTS:
        for channels in (TEXT, ("email",)):
            where = f"subject = ? AND channel IN ({', '.join('?' * len(channels))})"
            args = (subject, *channels)
            mine = rows_of(lite, SQLITE, SQLITE.newest(where), args)
            theirs = rows_of(pg, POSTGRES, POSTGRES.newest(where), args)
            assert mine == theirs, (subject, channels)
            assert mine  # the seeds give every subject events on both families
    where = f"subject IN ({', '.join('?' * len(SUBJECTS))})"
    assert rows_of(lite, SQLITE, SQLITE.newest(where, by_subject=True), SUBJECTS) == rows_of(
        pg, POSTGRES, POSTGRES.newest(where, by_subject=True), SUBJECTS
    )


def test_a_tie_goes_to_the_opt_out_then_to_the_later_record(both):
    lite, pg = both
    at = 1_700_000_000_000_000
    rows = [
        (1, "s", "sms", None, "grant", "a", "t", at, None, "{}", 1),
        (2, "s", "sms", None, "revoke", "b", "t", at, None, "{}", 2),
        (3, "s", "sms", None, "grant", "c", "t", at, None, "{}", 3),
        (4, "s", "sms", "x", "grant", "d", "t", at, None, "{}", 4),
        (5, "s", "sms", "x", "grant", "e", "t", at, None, "{}", 5),
    ]
    marks = ", ".join("?" * len(rows[0]))
    lite.executemany(f"INSERT INTO consent_events VALUES ({marks})", rows)
    with pg.cursor() as cursor:
        cursor.executemany(placeholders(f"INSERT INTO consent_events VALUES ({marks})"), rows)
    for conn, dialect in ((lite, SQLITE), (pg, POSTGRES)):
        found = rows_of(conn, dialect, dialect.newest("subject = ?"), ("s",))
        # the whole channel: the revoke (b) of the instant; scope x: the later grant (e)
        assert sorted((str(r[1]), r[4]) for r in found) == [("None", "b"), ("x", "e")], found


def test_remembering_a_subject_twice_keeps_one_row(both):
    lite, pg = both
    for _ in range(2):
        lite.execute(SQLITE.remember_subject(), ("sid", "raw"))
        pg.execute(placeholders(POSTGRES.remember_subject()), ("sid", "raw"))
    assert lite.execute("SELECT COUNT(*) FROM subjects").fetchone()[0] == 1
    assert pg.execute("SELECT COUNT(*) FROM subjects").fetchone()[0] == 1


def test_a_literal_percent_survives_the_placeholders():
    assert placeholders("SELECT '5%' WHERE a = ? AND b = ?") == (
        "SELECT '5%%' WHERE a = %s AND b = %s"
    )
