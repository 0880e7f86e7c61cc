"""A PostgreSQL ledger run as a deployment runs it (README: "Deploying on PostgreSQL"): its owner
creates it and runs `compliance ledger grants`; the gate's workers log in as the application
role, which makes every write the gate makes but can change or remove nothing it wrote, nor
add an object to the schema; the reader verifies and exports and writes nothing."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from compliance import Gate, Send
from compliance.gate import schema
from compliance.gate.ledger import open_ledger
from compliance.gate.ledger.pg_grants import APPEND_ONLY, quote, statements
from tests.gate.test_tampering import AT, MINUTE, TO, US
from tests.pg import with_dbname, with_user

SALE = "10dlc-weekend-sale"


@pytest.fixture
def app(pg_roles, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "roles-test")  # erasure in play
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY", raising=False)
    return pg_roles.ledger()


def refused(url: str, statement: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege as exc:
            return str(exc)
    raise AssertionError(f"{statement!r} was allowed")


def test_the_application_role_makes_every_write_the_gate_makes(app, pg_roles, cli):
    gate = Gate.open(repo=US, ledger=app, clock=lambda: AT)
    try:
        consent = {"subject": TO, "channel": "sms", "scope": "us-sms-offers", "source": "web"}
        gate.ledger.grant(**consent, at=AT)
        gate.ledger.grant(**{**consent, "subject": "+14155550177"}, at=AT)
        gate.ledger.import_dnc("internal", ["+12125550100", "carol@example.com"])
        gate.ledger.import_dnc("us-registry", [], registry="US", checked_at=AT - MINUTE)
        gate.ledger.import_reassigned([("+16465550100", AT - dt.timedelta(days=2))])
        gate.ledger.inbound(subject="+13125550100", text="stop? who is this", channel="sms", at=AT)
        gate.ledger.resolve(gate.ledger.reviews()[-1]["id"], opt_out=True, by="jane@example.com")
        first = gate.check(Send(to=TO, template=SALE, at=AT))
        batch = gate.check_many([Send(to="+14155550177", template=SALE, at=AT)] * 2)
        assert first.allowed and batch[0].allowed, (first.reasons, batch[0].reasons)
        gate.pause(template=SALE, reason="legal review", by="jane@example.com")
        assert gate.check(Send(to=TO, template=SALE, at=AT)).codes == ["paused"]
        gate.resume(template=SALE, reason="cleared", by="jane@example.com")
        gate.ledger.inbound(subject=TO, text="STOP", channel="sms", at=AT)
        assert "consent.revoked" in gate.check(Send(to=TO, template=SALE, at=AT)).codes
        assert gate.ledger.erase("+14155550177") >= 1  # deletes its raw identifier
        gate._db.prune()  # deletes old recent_sends
        assert gate._db.checkpoint() is not None
    finally:
        gate.close()
    reader = with_user(app, pg_roles.reader)
    run = cli(["audit", "verify", "--ledger", reader])
    assert run.code == 0 and "audit trail intact" in run.out, run.out + run.err
    assert cli(["ledger", "status", "--ledger", reader]).code == 0
    assert cli(["audit", "export", "--ledger", reader]).out.count("\n") > 10


@pytest.mark.parametrize("table", [*APPEND_ONLY, "meta"])
def test_the_application_role_cannot_change_or_remove_a_record(app, table):
    gate = Gate.open(repo=US, ledger=app, clock=lambda: AT)
    gate.ledger.grant(subject=TO, channel="sms", scope="us-sms-offers", source="web", at=AT)
    gate.close()
    column = schema.columns(table)[-1] if table in schema.TABLES else "at"
    if table in ("audit_log", "checkpoints"):
        column = "hash"
    assert "permission denied" in refused(app, f"UPDATE {table} SET {column} = {column}")
    assert "permission denied" in refused(app, f"DELETE FROM {table}")
    assert "permission denied" in refused(app, f"TRUNCATE {table}")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE chain_heads SET chain = chain",  # only pos and hash move
        "DELETE FROM chain_heads",
        "INSERT INTO meta VALUES ('subjects_note', 'x')",
        "CREATE TABLE notes (id INTEGER)",
        "CREATE VIEW v AS SELECT 1",
        "ALTER TABLE consent_events ADD COLUMN note TEXT",
        "CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RETURN NULL; END $$",
        "CREATE RULE r AS ON INSERT TO consent_events DO INSTEAD NOTHING",
        "SELECT setval('audit_seq', 1)",  # seqs (and ids) only go forward
        "ALTER SEQUENCE audit_seq RESTART",
        "DROP INDEX consent_latest",
    ],
)
def test_the_application_role_cannot_alter_the_schema_or_its_sequences(app, statement):
    assert refused(app, statement)


def test_the_reader_reads_and_writes_nothing(app, pg_roles):
    Gate.open(repo=US, ledger=app, clock=lambda: AT).close()
    reader = with_user(app, pg_roles.reader)
    db = open_ledger(reader, readonly=True)
    try:
        assert db.verify().ok
    finally:
        db.close()
    gate = Gate.open(repo=US, ledger=reader, clock=lambda: AT)
    try:
        found = gate.check(Send(to=TO, template=SALE, at=AT))
        assert found.codes == ["ledger.error"] and "permission denied" in found.reasons[0].message
    finally:
        gate.close()
    assert refused(reader, "INSERT INTO consent_events (id) VALUES (1)")


def test_grants_quote_role_names_and_name_every_table():
    text = "\n".join(statements("app", "audit team", in_schema="ledger"))
    assert '"audit team"' in text and "ON SCHEMA ledger" in text
    for table in schema.TABLES:
        assert table in text
    assert quote('we"ird') == '"we""ird"'
    with pytest.raises(ValueError):
        quote("")


def test_an_identifier_the_application_role_deletes_without_erasing_is_named(app, pg_roles):
    # the role may delete from subjects (erasure): a deletion without its erase entry is seen
    gate = Gate.open(repo=US, ledger=app, clock=lambda: AT)
    gate.ledger.grant(subject=TO, channel="sms", scope="us-sms-offers", source="web", at=AT)
    gate.close()
    with psycopg.connect(app, autocommit=True) as conn:
        assert conn.execute("DELETE FROM subjects").rowcount == 1
    db = open_ledger(with_user(app, pg_roles.reader), readonly=True)
    try:
        found = db.verify()
    finally:
        db.close()
    assert not found.ok and "no erase entry removed it" in found.problem, found


def test_a_search_path_set_for_the_role_cannot_point_the_gate_at_another_copy(
    app, pg_roles, pg_server
):
    # a copy of the ledger in another schema, without the STOP, and the application role's
    # search_path pointed at it: the gate keeps to the schema its URL names (public), the one
    # its auditors verify, and the STOP holds
    owner = with_user(app, pg_roles.owner)
    gate = Gate.open(repo=US, ledger=app, clock=lambda: AT)
    gate.ledger.grant(subject=TO, channel="sms", scope="us-sms-offers", source="web", at=AT)
    gate.ledger.inbound(subject=TO, text="STOP", channel="sms", at=AT)
    gate.close()
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA shadow")
    shadow = owner + "?options=-csearch_path%3Dshadow"
    copy = Gate.open(repo=US, ledger=shadow, create=True, clock=lambda: AT)
    copy.ledger.grant(subject=TO, channel="sms", scope="us-sms-offers", source="web", at=AT)
    assert copy.check(Send(to=TO, template=SALE, at=AT)).allowed  # the URL's schema is used
    copy.close()
    database = app.rsplit("/", 1)[-1]
    with psycopg.connect(with_dbname(pg_server, database), autocommit=True) as conn:
        conn.execute(f'GRANT USAGE ON SCHEMA shadow TO "{pg_roles.app}"')
        conn.execute(
            f'ALTER ROLE "{pg_roles.app}" IN DATABASE "{database}" SET search_path = shadow, public'
        )
    gate = Gate.open(repo=US, ledger=app, clock=lambda: AT)
    try:
        assert "consent.revoked" in gate.check(Send(to=TO, template=SALE, at=AT)).codes
    finally:
        gate.close()
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{pg_roles.app}" IN DATABASE "{database}" RESET search_path')
