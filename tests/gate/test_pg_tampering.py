"""Tampering with a PostgreSQL ledger as a role with write access to its tables would: every
edit, deletion, insertion or move in any table a decision reads, any column of an entry, the
chains' heads and the checkpoints, and any object added to the schema makes `audit verify`
fail and name the place, as on SQLite (test_tampering.py). PostgreSQL's column types refuse
the changes of type that SQLite takes (a BLOB where text was), so those have no case here."""

from __future__ import annotations

import datetime as dt
import secrets

import psycopg
import pytest
from psycopg import sql as pgsql

from compliance import Gate, Send
from compliance.gate import schema
from compliance.gate.ledger import LedgerConfigError
from compliance.gate.ledger.pg import PostgresLedger
from tests.backends import sql
from tests.gate.test_tampering import AT, MINUTE, US, build
from tests.pg import DB_PREFIX, drop_database, with_dbname

LATER = AT + dt.timedelta(hours=1)


def verdict(url: str):
    db = PostgresLedger(url, readonly=True, clock=lambda: LATER)
    try:
        return db.verify()
    finally:
        db.close()


@pytest.fixture(scope="module")
def pristine(pg_server):
    """The ledger test_tampering.build writes, on PostgreSQL, with a checkpoint after its
    first decisions and more entries after it."""
    name = f"{DB_PREFIX}pristine_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    url = with_dbname(pg_server, name)
    build(url)  # its gate writes a checkpoint as it closes
    gate = Gate.open(repo=US, ledger=url, clock=lambda: AT + 30 * MINUTE)
    gate.ledger.grant(
        subject="+14155550177", channel="sms", scope="us-sms-offers", source="web", at=AT
    )
    gate.close()  # and another
    yield url
    drop_database(pg_server, url)


@pytest.fixture
def ledger(pristine, pg_server):
    """A copy of the pristine ledger (CREATE DATABASE ... TEMPLATE), dropped after the test."""
    name = f"{DB_PREFIX}t_{secrets.token_hex(6)}"
    source = pristine.rsplit("/", 1)[-1]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(
            pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                pgsql.Identifier(name), pgsql.Identifier(source)
            )
        )
    url = with_dbname(pg_server, name)
    yield url
    drop_database(pg_server, url)


def test_the_pristine_ledger_verifies_with_its_chains_and_checkpoints(pristine):
    found = verdict(pristine)
    assert found.ok, found
    assert found.chains == 16 and found.checkpoints >= 1
    used = sql(pristine, "SELECT COUNT(DISTINCT chain) FROM audit_log")[0][0]
    assert used > 3  # the subjects' entries are spread over several chains


def _covered_columns():
    for table in schema.COVERED:
        for column in schema.columns(table):
            if column != "id":
                yield table, column


@pytest.mark.parametrize("table, column", list(_covered_columns()))
def test_any_change_to_a_covered_row_is_named(ledger, table, column):
    kind = sql(
        ledger,
        "SELECT data_type FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
        (table, column),
    )[0][0]
    quoted = '"by"' if column == "by" else column
    change = f"{quoted} + 1" if kind == "bigint" else f"COALESCE({quoted}, '') || 'x'"
    sql(ledger, f"UPDATE {table} SET {quoted} = {change} WHERE id = (SELECT MIN(id) FROM {table})")
    found = verdict(ledger)
    assert not found.ok, f"{table}.{column} passed verify"
    assert table in found.problem or "names" in found.problem, found


@pytest.mark.parametrize("table", schema.COVERED)
@pytest.mark.parametrize("how", ["delete", "copy", "move"])
def test_deleting_adding_or_moving_a_covered_row_is_named(ledger, table, how):
    if how == "delete":
        sql(ledger, f"DELETE FROM {table} WHERE id = (SELECT MIN(id) FROM {table})")
    elif how == "move":
        sql(
            ledger,
            f"UPDATE {table} SET audit_seq = audit_seq + 1 WHERE id = (SELECT MIN(id) FROM {table})",
        )
    else:
        columns = [c for c in schema.columns(table) if c != "id"]
        names = ", ".join('"by"' if c == "by" else c for c in columns)
        # a copy of the first row, its UNIQUE columns changed so that the table takes it
        copy = names.replace("list,", "'other',") if table == "dnc_entries" else names
        if table == "reassigned":
            copy = copy.replace("disconnected_us", "disconnected_us + 1")
        if table == "review_resolutions":
            copy = copy.replace("review,", "review + 1000,")
        if table in ("api_keys", "api_key_revocations"):
            copy = copy.replace("key_id,", "key_id || 'x',")
        if table == "api_keys":
            copy = copy.replace("token_sha256,", "token_sha256 || 'x',")
        if table == "webhook_messages":
            copy = copy.replace("message_id,", "message_id || 'x',")
        sql(
            ledger,
            f"INSERT INTO {table} (id, {names}) SELECT (SELECT MAX(id) FROM {table}) + 1, "
            f"{copy} FROM {table} WHERE id = (SELECT MIN(id) FROM {table})",
        )
    found = verdict(ledger)
    assert not found.ok and (table in found.problem or "names" in found.problem), found


ENTRY_COLUMNS = ["at", "at_us", "kind", "subject", "outcome", "purpose", "channel", "send_us",
                 "data", "prev_hash", "hash", "mac", "seq"]  # fmt: skip


@pytest.mark.parametrize("column", ENTRY_COLUMNS)
def test_any_change_to_an_entry_is_named(ledger, column):
    kind = sql(
        ledger,
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'audit_log' AND "
        "column_name = ?",
        (column,),
    )[0][0]
    change = f"{column} + 1" if kind == "bigint" else f"COALESCE({column}, '') || 'x'"
    if column == "seq":
        change = "seq + 100000"
    # the newest allowed decision: every column of it holds something
    target = sql(
        ledger,
        "SELECT seq FROM audit_log WHERE kind = 'decision' AND outcome = 'allow' "
        "ORDER BY seq DESC LIMIT 1",
    )[0][0]
    sql(ledger, f"UPDATE audit_log SET {column} = {change} WHERE seq = ?", (target,))
    found = verdict(ledger)
    assert not found.ok, f"audit_log.{column} passed verify"


def test_a_null_made_empty_and_an_empty_made_null_are_named(ledger):
    sql(ledger, "UPDATE audit_log SET purpose = '' WHERE purpose IS NULL AND kind = 'pause'")
    assert not verdict(ledger).ok


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_deleting_an_entry_from_a_chain_is_named(ledger, where):
    chain, top = sql(
        ledger, "SELECT chain, MAX(pos) FROM audit_log GROUP BY chain ORDER BY 2 DESC LIMIT 1"
    )[0]
    pos = {"first": 1, "middle": top // 2 or 1, "last": top}[where]
    sql(ledger, "DELETE FROM audit_log WHERE chain = ? AND pos = ?", (chain, pos))
    found = verdict(ledger)
    assert not found.ok, found


def test_an_entry_moved_to_another_chain_is_named(ledger):
    seq, chain = sql(
        ledger,
        "SELECT seq, chain FROM audit_log WHERE subject IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )[0]
    other = (chain + 1) % 16
    top = sql(ledger, "SELECT COALESCE(MAX(pos), 0) FROM audit_log WHERE chain = ?", (other,))[0][0]
    sql(ledger, "UPDATE audit_log SET chain = ?, pos = ? WHERE seq = ?", (other, top + 1, seq))
    found = verdict(ledger)
    assert not found.ok and found.first_bad is not None, found


def test_swapping_two_entries_of_a_chain_is_named(ledger):
    chain = sql(ledger, "SELECT chain FROM audit_log GROUP BY chain HAVING COUNT(*) > 2 LIMIT 1")[
        0
    ][0]
    sql(ledger, "UPDATE audit_log SET pos = -pos WHERE chain = ? AND pos IN (1, 2)", (chain,))
    sql(ledger, "UPDATE audit_log SET pos = 3 + pos WHERE chain = ? AND pos IN (-1, -2)", (chain,))
    found = verdict(ledger)
    assert not found.ok, found


def test_a_head_moved_back_is_named(ledger):
    sql(
        ledger,
        "UPDATE chain_heads SET pos = pos - 1 WHERE pos > 0 AND chain = (SELECT MIN(chain) FROM chain_heads WHERE pos > 0)",
    )
    found = verdict(ledger)
    assert not found.ok and "head of chain" in found.problem, found


def test_cutting_a_chains_newest_entries_below_a_checkpoint_is_named(ledger):
    """The cut made consistent (the head moved back to the new newest entry): the checkpoint
    that saw the cut entries names it."""
    cut = sql(
        ledger,
        "SELECT a.chain, a.pos FROM audit_log a JOIN chain_heads h ON h.chain = a.chain "
        "WHERE a.pos = h.pos AND a.pos > 1 AND a.seq <= (SELECT MAX(seq) FROM audit_log "
        "WHERE at_us <= (SELECT MAX(at_us) FROM checkpoints)) LIMIT 1",
    )
    assert cut, "the pristine ledger has a chain whose newest entry a checkpoint holds"
    chain, pos = cut[0]
    sql(ledger, "DELETE FROM audit_log WHERE chain = ? AND pos = ?", (chain, pos))
    sql(
        ledger,
        "UPDATE chain_heads SET pos = ?, hash = (SELECT hash FROM audit_log WHERE chain = ? "
        "AND pos = ?) WHERE chain = ?",
        (pos - 1, chain, pos - 1, chain),
    )
    found = verdict(ledger)
    assert not found.ok and "checkpoint" in found.problem, found


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE checkpoints SET heads = replace(heads, '[', '[1') WHERE id = (SELECT MIN(id) FROM checkpoints)",
        "UPDATE checkpoints SET at = 'x' || at",
        "DELETE FROM checkpoints WHERE id = (SELECT MIN(id) FROM checkpoints)",
        "UPDATE checkpoints SET mac = 'x'",
        "UPDATE checkpoints SET prev_hash = hash",
    ],
)
def test_any_change_to_a_checkpoint_is_named(ledger, statement):
    sql(ledger, statement)
    found = verdict(ledger)
    assert not found.ok and "checkpoint" in found.problem, found


@pytest.mark.parametrize(
    "statement, problem",
    [
        ("DELETE FROM recent_sends WHERE seq = (SELECT MIN(seq) FROM recent_sends)", "no row"),
        ("UPDATE recent_sends SET at_us = at_us + 1", "edited"),
        (
            "INSERT INTO recent_sends SELECT day, subject, at_us + 1, purpose, channel, seq "
            "FROM recent_sends WHERE seq = (SELECT MIN(seq) FROM recent_sends)",
            "two rows",
        ),
        (
            "INSERT INTO recent_sends SELECT day, subject, at_us, purpose, channel, "
            "(SELECT MIN(seq) FROM audit_log WHERE kind = 'pause') FROM recent_sends "
            "WHERE seq = (SELECT MIN(seq) FROM recent_sends)",
            "not an allowed decision",
        ),
    ],  # fmt: skip
)
def test_recent_sends_must_be_exactly_the_allowed_decisions(ledger, statement, problem):
    sql(ledger, statement)
    found = verdict(ledger)
    assert not found.ok and problem in found.problem, found


def test_meta_must_say_what_the_trail_says(ledger):
    sql(ledger, "UPDATE meta SET value = 'hashed' WHERE key = 'subjects'")
    found = verdict(ledger)
    assert not found.ok and "meta" in found.problem
    with pytest.raises(LedgerConfigError, match="altered|COMPLIANCE_SUBJECT_KEY"):
        Gate.open(repo=US, ledger=ledger)
    sql(ledger, "UPDATE meta SET value = 'raw' WHERE key = 'subjects'")
    sql(ledger, "INSERT INTO meta VALUES ('subject_key_id', 'abc')")
    with pytest.raises(LedgerConfigError, match="altered"):
        Gate.open(repo=US, ledger=ledger)


@pytest.mark.parametrize(
    "statement, named",
    [
        (
            "CREATE FUNCTION drop_stop() RETURNS trigger LANGUAGE plpgsql AS "
            "'BEGIN RETURN NULL; END'; CREATE TRIGGER no_stop BEFORE INSERT ON consent_events "
            "FOR EACH ROW EXECUTE FUNCTION drop_stop()",
            "trigger 'no_stop'",
        ),
        ("CREATE RULE no_stop AS ON INSERT TO consent_events DO INSTEAD NOTHING", "rule 'no_stop'"),
        ("CREATE INDEX extra ON audit_log (kind)", "index 'extra'"),
        ("ALTER TABLE consent_events ADD COLUMN note TEXT", "consent_events"),
        # a domain whose CHECK refuses every new STOP, a default, a collation
        (
            "CREATE DOMAIN act AS TEXT CHECK (length(VALUE) < 100) | "
            "ALTER TABLE consent_events ALTER COLUMN action TYPE act",
            "'action' of table consent_events",
        ),
        ("ALTER TABLE pauses ALTER COLUMN paused SET DEFAULT 0", "'paused' of table pauses"),
        (
            'ALTER TABLE consent_events ALTER COLUMN source TYPE TEXT COLLATE "C"',
            "'source' of table consent_events",
        ),
        ("ALTER TABLE consent_events SET UNLOGGED", "'consent_events' is not logged"),
        (
            "DROP INDEX consent_latest | CREATE INDEX consent_latest ON consent_events (subject)",
            "index 'consent_latest' differs",
        ),
        ("ALTER SEQUENCE pauses_ids INCREMENT BY -1 MINVALUE -100", "sequence 'pauses_ids'"),
        # what would be taken for PostgreSQL's own
        (
            "CREATE FUNCTION nextval(text) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'",
            "function 'nextval'",
        ),
        (
            "CREATE FUNCTION newer(bigint, bigint) RETURNS boolean LANGUAGE sql AS "
            "'SELECT $1 < $2' | CREATE OPERATOR >>> (LEFTARG = bigint, RIGHTARG = bigint, "
            "FUNCTION = newer)",
            "operator '>>>'",
        ),
        ("CREATE TYPE mood AS ENUM ('a', 'b')", "type 'mood'"),
    ],  # fmt: skip
)
def test_an_unexpected_schema_object_fails_verify_and_the_gate_refuses_it(ledger, statement, named):
    for part in statement.split(" | "):
        sql(ledger, part)
    found = verdict(ledger)
    assert not found.ok and named in found.problem, found
    with pytest.raises(LedgerConfigError, match="altered"):
        Gate.open(repo=US, ledger=ledger)


def test_a_trigger_added_while_the_gate_runs_is_refused_at_a_later_write(ledger):
    gate = Gate.open(repo=US, ledger=ledger, clock=lambda: AT + 20 * MINUTE)
    try:
        sale = Send(to="+14155550199", template="10dlc-weekend-sale", at=AT + 20 * MINUTE)
        sql(ledger, "CREATE RULE no_stop AS ON INSERT TO consent_events DO INSTEAD NOTHING")
        gate._db._checked = 0.0  # as if SCHEMA_CHECK_EVERY_S had passed
        decision = gate.check(sale)
        assert decision.codes == ["ledger.error"] and "no_stop" in decision.reasons[0].message
    finally:
        gate.close()


def test_with_the_audit_key_a_consistent_rewrite_is_found(pg_database, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "audit-secret")
    build(pg_database)
    assert verdict(pg_database).ok
    # rewrite the newest entry of a chain consistently: new data, its hash recomputed, the
    # head and the checkpoint that holds it recomputed too; only the signatures (the key) give
    # it away
    from compliance.chainhash import chain_hash, checkpoint_hash

    gate = Gate.open(repo=US, ledger=pg_database, clock=lambda: AT + 30 * MINUTE)
    denied = gate.check(Send(to="+14155550188", template="10dlc-weekend-sale", at=AT))
    gate.close()  # a checkpoint holds it as its chain's head
    row = sql(
        pg_database,
        "SELECT chain, pos, seq, at, at_us, kind, subject, outcome, purpose, channel, send_us, "
        "data, prev_hash FROM audit_log WHERE seq = ?",
        (denied.id,),
    )[0]
    chain, pos, seq, *rest, data, prev = row
    data = data.replace("10dlc-weekend-sale", "10dlc-order-shipped")
    digest = chain_hash(prev, seq, chain, pos, *rest, data)
    sql(pg_database, "UPDATE audit_log SET data = ?, hash = ? WHERE seq = ?", (data, digest, seq))
    sql(pg_database, "UPDATE chain_heads SET hash = ? WHERE chain = ?", (digest, chain))
    cid, at, at_us, heads, prev = sql(
        pg_database, "SELECT id, at, at_us, heads, prev_hash FROM checkpoints ORDER BY id DESC"
    )[0]
    from compliance.gate.ledger.chains import heads_text, read_heads

    found = read_heads(heads)
    found[chain] = (pos, digest)
    heads = heads_text(found)
    sql(
        pg_database,
        "UPDATE checkpoints SET heads = ?, hash = ? WHERE id = ?",
        (heads, checkpoint_hash(prev, cid, at, at_us, heads), cid),
    )
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY")
    assert verdict(pg_database).ok  # without the key, a consistent rewrite passes
    monkeypatch.setenv("COMPLIANCE_AUDIT_KEY", "audit-secret")
    found = verdict(pg_database)
    assert not found.ok and found.first_bad == seq and "signature" in found.problem


def test_a_sequence_set_back_is_named_and_the_newest_pause_still_holds(ledger):
    # ids from a sequence set back: the newest pause has the lowest id; the gate takes the
    # newest in the trail's order, and verify names the sequence and the order of the ids
    sale = Send(to="+14155550199", template="10dlc-weekend-sale", at=AT + 20 * MINUTE)
    gate = Gate.open(repo=US, ledger=ledger, clock=lambda: AT + 20 * MINUTE)
    try:
        sql(ledger, "SELECT setval('pauses_ids', 1000000)")
        gate.resume(template="10dlc-weekend-sale", reason="cleared", by="jane@example.com")
        sql(ledger, "SELECT setval('pauses_ids', 5)")
        gate.pause(template="10dlc-weekend-sale", reason="again", by="jane@example.com")
        assert "paused" in gate.check(sale).codes
    finally:
        gate.close()
    found = verdict(ledger)
    assert not found.ok and "pauses" in found.problem and "higher id" in found.problem, found


def test_the_audit_sequence_set_back_is_named(ledger):
    sql(ledger, "SELECT setval('audit_seq', 1)")
    found = verdict(ledger)
    assert not found.ok and "sequence audit_seq was set back" in found.problem, found


def test_a_search_path_before_pg_catalog_is_overridden_or_named(ledger):
    # set for the database, it does not reach the gate's connections (they set their own)
    sql(
        ledger,
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', "
        "current_database()); END $$",
    )
    assert verdict(ledger).ok
    gate = Gate.open(repo=US, ledger=ledger, clock=lambda: AT + 20 * MINUTE)
    gate.close()
    # given in the ledger's own URL, it is named, and the gate refuses it
    url = ledger + "?options=-csearch_path%3Dpublic,pg_catalog"
    found = verdict(url)
    assert not found.ok and "before pg_catalog" in found.problem, found
    with pytest.raises(LedgerConfigError, match="before pg_catalog"):
        Gate.open(repo=US, ledger=url)
