"""The PostgreSQL ledger's schema is pinned as the SQLite one is: created on a real server it
shows no problems, and every change that could alter what a decision reads is named (a
trigger, a rule, a row-level security policy, a view, a column added or retyped, an index
dropped or added, a CHECK constraint, a child table)."""

from __future__ import annotations

import psycopg
import pytest

from compliance.chainhash import GENESIS
from compliance.gate.ledger import pg_schema


@pytest.fixture
def pg(pg_database):
    conn = psycopg.connect(pg_database, autocommit=True)
    pg_schema.create(conn)
    yield conn
    conn.close()


def test_the_schema_as_created_has_no_problems(pg):
    assert pg_schema.problems(pg) == []
    heads = pg.execute("SELECT chain, pos, hash FROM chain_heads ORDER BY chain").fetchall()
    assert heads == [(c, 0, GENESIS) for c in range(pg_schema.CHAINS)]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            "CREATE FUNCTION drop_stop() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RETURN NULL; END $$; CREATE TRIGGER no_stop BEFORE INSERT ON "
            "consent_events FOR EACH ROW EXECUTE FUNCTION drop_stop()",
            "unexpected trigger 'no_stop' on table consent_events",
        ),
        (
            "CREATE RULE hide AS ON INSERT TO dnc_entries DO INSTEAD NOTHING",
            "unexpected rule 'hide' on table dnc_entries",
        ),
        (
            "ALTER TABLE consent_events ENABLE ROW LEVEL SECURITY; CREATE POLICY p ON "
            "consent_events USING (action <> 'revoke')",
            "unexpected row-level security policy 'p' on table consent_events",
        ),
        ("CREATE VIEW v AS SELECT * FROM pauses", "unexpected view 'v'"),
        (
            "ALTER TABLE consent_events ADD COLUMN hidden TEXT",
            "table 'consent_events' differs",
        ),
        (
            "ALTER TABLE dnc_entries ALTER COLUMN subject TYPE VARCHAR(400)",
            "table 'dnc_entries' differs",
        ),
        ("DROP INDEX consent_latest", "index 'consent_latest' is missing"),
        (
            "CREATE INDEX extra ON reviews (text)",
            "unexpected index 'extra' on table reviews",
        ),
        (
            "ALTER TABLE consent_events ADD CONSTRAINT no_revoke CHECK (action <> 'revoke')",
            "unexpected constraint 'no_revoke' on table consent_events",
        ),
        (
            "ALTER TABLE dnc_entries DROP CONSTRAINT dnc_entries_subject_list_key",
            "unique constraint on dnc_entries (subject, list) is missing",
        ),
        (
            "CREATE TABLE consent_child () INHERITS (consent_events)",
            "table 'consent_events' has row-level security or child tables",
        ),
        ("CREATE TABLE notes (x TEXT)", "unexpected table 'notes'"),
        ("DROP SEQUENCE audit_seq", "sequence 'audit_seq' is missing"),
    ],
)
def test_each_change_is_named(pg, change, named):
    pg.execute(change)
    found = pg_schema.problems(pg)
    assert any(named in p for p in found), found
