"""Ledgers of schema 3 are upgraded in place to this schema when they are opened, on both
backends: the tables schema 4 adds (API keys, webhook message ids) are created empty, every
opt-out and entry stays as it was, a ledger.upgrade entry says so, and `audit verify` follows
the version through it.

tests/fixtures/ledger-v3.db and ledger-v3.pg.sql were written by compliance at schema 3
(tests/fixtures/make_ledger_v3.py): three grants, a STOP from +14155550123, a doubtful reply
from +12125550123 waiting for review, a pause and its resume, and three decisions.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from compliance import Gate, Send
from compliance.gate.ledger import LedgerConfigError, open_ledger
from compliance.gate.schema import ADDED, SCHEMA_VERSION
from tests.backends import sql
from tests.conftest import ROOT, Clock
from tests.gate.test_tampering import rewrite_hashes

US = ROOT / "examples" / "us"
FIXTURES = ROOT / "tests" / "fixtures"
T0 = dt.datetime(2026, 11, 20, 17, 0, tzinfo=dt.timezone.utc)
SALE = "10dlc-weekend-sale"


def _restore_pg(url: str) -> None:
    dump = (FIXTURES / "ledger-v3.pg.sql").read_text()
    done = subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", url],
        input=dump,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def v3(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """A schema-3 ledger on the backend under test."""
    if backend == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copyfile(FIXTURES / "ledger-v3.db", path)
        return path
    url = str(request.getfixturevalue("pg_database"))
    _restore_pg(url)
    return url


def _kinds(where: Path | str) -> list[str]:
    return [row[0] for row in sql(where, "SELECT kind FROM audit_log ORDER BY seq")]


def _version(where: Path | str) -> str:
    return sql(where, "SELECT value FROM meta WHERE key = 'schema_version'")[0][0]


def test_the_fixture_is_a_schema_3_ledger_that_verifies(v3):
    assert _version(v3) == "3"
    ledger = open_ledger(v3, readonly=True)
    try:
        verdict = ledger.verify()
    finally:
        ledger.close()
    # read-only (a backup, a replica), it is verified as the schema-3 ledger it is
    assert verdict.ok, verdict
    assert _version(v3) == "3"


def test_opening_upgrades_and_keeps_every_opt_out(v3):
    before = _kinds(v3)
    at = T0 + dt.timedelta(hours=1)
    gate = Gate.open(repo=US, ledger=v3, clock=Clock(at))
    try:
        assert _version(v3) == str(SCHEMA_VERSION)
        kinds = _kinds(v3)
        assert kinds[: len(before)] == before
        assert kinds[len(before)] == "ledger.upgrade"
        for table in ADDED[4]:
            assert sql(v3, f"SELECT COUNT(*) FROM {table}") == [(0,)]
        # the STOP and the reply waiting for review still hold
        assert gate.check(Send(to="+14155550123", template=SALE, at=at)).codes == [
            "consent.revoked"
        ]
        held = gate.check(Send(to="+12125550123", template=SALE, at=at))
        assert held.codes == ["consent.revoked"] and "review" in held.reasons[0].message
        # the two sends allowed before the upgrade still count for Florida's cap of three
        assert gate.check(Send(to="+13055550123", template=SALE, at=at)).allowed
        assert gate.check(Send(to="+13055550123", template=SALE, at=at)).codes == ["frequency_cap"]
        verdict = gate._db.verify()
        assert verdict.ok, verdict
    finally:
        gate.close()
    again = Gate.open(repo=US, ledger=v3, clock=Clock(at))  # nothing more to upgrade
    again.close()
    assert _kinds(v3).count("ledger.upgrade") == 1


def test_an_altered_schema_3_ledger_is_not_upgraded(v3, backend):
    """A trigger added to the old part is found by the pinned schema, and the upgrade is not
    committed: the ledger stays at schema 3 for a person to look at."""
    if backend == "sqlite":
        sql(
            v3,
            "CREATE TRIGGER hide AFTER INSERT ON consent_events BEGIN "
            "DELETE FROM consent_events WHERE id = new.id; END",
        )
    else:
        sql(
            v3,
            "CREATE FUNCTION hide() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN DELETE FROM consent_events WHERE id = NEW.id; RETURN NULL; END $$",
        )
        sql(
            v3,
            "CREATE TRIGGER hide AFTER INSERT ON consent_events FOR EACH ROW "
            "EXECUTE FUNCTION hide()",
        )
    with pytest.raises(LedgerConfigError, match="altered.*trigger 'hide'"):
        Gate.open(repo=US, ledger=v3, clock=Clock(T0))
    assert _version(v3) == "3"
    assert "ledger.upgrade" not in _kinds(v3)
    assert sql(v3, "SELECT COUNT(*) FROM meta") == [(2,)]


def test_verify_follows_the_upgrade_entry(v3, backend):
    Gate.open(repo=US, ledger=v3, clock=Clock(T0)).close()
    seq = sql(v3, "SELECT seq FROM audit_log WHERE kind = 'ledger.upgrade'")[0][0]
    # meta said back to 3 with the tables in place: the trail says 4
    sql(v3, "UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    ledger = open_ledger(v3, readonly=True)
    try:
        verdict = ledger.verify()
    finally:
        ledger.close()
    # held to schema 3, the ledger has tables schema 3 never had
    assert not verdict.ok and "unexpected table 'api_key_revocations'" in str(verdict)
    # meta and tables both put back to schema 3: the trail says 4
    for table in ADDED[4]:
        sql(v3, f"DROP TABLE {table}")
    if backend == "postgresql":
        for table in ADDED[4]:
            sql(v3, f"DROP SEQUENCE {table}_ids")
    ledger = open_ledger(v3, readonly=True)
    try:
        verdict = ledger.verify()
    finally:
        ledger.close()
    assert not verdict.ok and "schema_version='3'" in str(verdict)
    assert "schema_version='4'" in str(verdict) and seq > 1


def test_a_ledger_upgrade_entry_that_skips_a_version_is_named(tmp_path):
    """verify holds each upgrade to the version the ledger was at (here a rewritten entry
    whose hash is recomputed: only an unsigned ledger can be rewritten so)."""
    path = tmp_path / "ledger.db"
    shutil.copyfile(FIXTURES / "ledger-v3.db", path)
    Gate.open(repo=US, ledger=path, clock=Clock(T0)).close()
    conn = sqlite3.connect(path, isolation_level=None)
    seq = conn.execute("SELECT seq FROM audit_log WHERE kind = 'ledger.upgrade'").fetchone()[0]
    conn.execute(
        "UPDATE audit_log SET data = replace(data, '\"from\":3', '\"from\":2') WHERE seq = ?",
        (seq,),
    )
    conn.close()
    rewrite_hashes(path)  # every hash recomputed, as an attacker with the file would
    verdict = open_ledger(path, readonly=True).verify()
    assert not verdict.ok and verdict.first_bad == seq
    assert "upgrades from schema 2, but the ledger was at schema 3" in str(verdict)


def test_the_application_role_cannot_upgrade_and_is_told_who_can(pg_roles, pg_server):
    """On PostgreSQL the owner upgrades (the application role creates nothing); the message
    says so, and after the owner opened it and ran the grants again, the application works."""
    from compliance.gate.ledger.pg_grants import statements
    from tests.pg import _psycopg, create_database, with_user

    psycopg = _psycopg()
    url = create_database(pg_server)
    pg_roles.made.append(url)
    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" OWNER TO "{pg_roles.owner}"')
    owner = with_user(url, pg_roles.owner)
    _restore_pg(owner)
    with psycopg.connect(owner, autocommit=True) as conn:  # schema 3's grants, roughly
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{pg_roles.app}"')
        conn.execute(f'GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO "{pg_roles.app}"')
        conn.execute(f'GRANT UPDATE ON chain_heads TO "{pg_roles.app}"')
        conn.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{pg_roles.app}"')
    app = with_user(url, pg_roles.app)
    with pytest.raises(LedgerConfigError, match="compliance ledger upgrade --ledger"):
        Gate.open(repo=US, ledger=app, clock=Clock(T0))
    from compliance.cli import main

    assert main(["ledger", "upgrade", "--ledger", owner]) == 0
    assert main(["ledger", "upgrade", "--ledger", owner]) == 0  # nothing more to do
    with psycopg.connect(owner, autocommit=True) as conn:
        for line in statements(pg_roles.app):
            if not line.startswith("--"):
                conn.execute(line)
    gate = Gate.open(repo=US, ledger=app, clock=Clock(T0 + dt.timedelta(hours=1)))
    try:
        assert gate.check(
            Send(to="+14155550123", template=SALE, at=T0 + dt.timedelta(hours=1))
        ).codes == ["consent.revoked"]
    finally:
        gate.close()


def test_the_upgrade_command_says_what_it_did(v3, cli):
    where = str(v3)
    run = cli(["ledger", "upgrade", "--ledger", where])
    assert run.code == 0, run.err
    assert f"from schema 3 to {SCHEMA_VERSION}" in run.out
    again = cli(["ledger", "upgrade", "--ledger", where])
    assert again.code == 0 and f"at schema {SCHEMA_VERSION} already" in again.out
    assert cli(["audit", "verify", "--ledger", where]).code == 0
