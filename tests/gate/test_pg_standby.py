"""Verifying from a read-only replica (README: "Verify from a read-only replica"): on a hot
standby of a private cluster, streaming from its primary, `audit verify`, `ledger status` and
`audit export` read the ledger; a gate pointed at the standby by mistake denies, never allows;
a change made on the primary reaches the standby, and its verify names it."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest

from compliance import Gate, Send
from tests.backends import sql
from tests.pg import wait_until, with_dbname

US = "examples/us"
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)
TO = "+14155550123"
SALE = "10dlc-weekend-sale"


@pytest.fixture
def primary_and_standby(pg_cluster):
    with pg_cluster.connect(autocommit=True) as conn:
        conn.execute("CREATE DATABASE consent")
    primary = with_dbname(pg_cluster.url, "consent")
    gate = Gate.open(repo=US, ledger=primary, create=True, clock=lambda: AT)
    gate.ledger.grant(subject=TO, channel="sms", scope="us-sms-offers", source="web", at=AT)
    assert gate.check(Send(to=TO, template=SALE, at=AT)).allowed
    gate.ledger.inbound(subject=TO, text="STOP", channel="sms", at=AT)
    gate.close()  # and a checkpoint
    replica = pg_cluster.standby()
    try:
        standby = with_dbname(replica.url, "consent")
        yield primary, standby
    finally:
        replica.stop("fast")


def caught_up(primary: str, standby: str) -> bool:
    want = sql(primary, "SELECT COUNT(*), MAX(hash) FROM audit_log")
    try:
        return sql(standby, "SELECT COUNT(*), MAX(hash) FROM audit_log") == want
    except psycopg.Error:
        return False


def test_verify_status_and_export_run_on_a_hot_standby(primary_and_standby, cli):
    primary, standby = primary_and_standby
    assert wait_until(lambda: caught_up(primary, standby), timeout=30)
    assert sql(standby, "SELECT pg_is_in_recovery()") == [(True,)]
    run = cli(["audit", "verify", "--json", "--ledger", standby])
    found = json.loads(run.out)
    assert run.code == 0 and found["ok"] and found["entries"] == 4, run.out + run.err
    assert found["checkpoints"] >= 1 and found["after_checkpoint"] == 0
    status = cli(["ledger", "status", "--ledger", standby])
    assert status.code == 0 and "4 entries" in status.out
    export = cli(["audit", "export", "--ledger", standby])
    assert export.code == 0 and export.out.count("\n") == 4

    # a gate pointed at the standby by mistake cannot write its entries: deny, never allow
    gate = Gate.open(repo=US, ledger=standby, clock=lambda: AT)
    try:
        decision = gate.check(Send(to="+14155550199", template=SALE, at=AT))
        assert decision.codes == ["ledger.error"], decision.reasons
    finally:
        gate.close()


def test_a_change_on_the_primary_is_named_by_verify_on_the_standby(primary_and_standby, cli):
    primary, standby = primary_and_standby
    sql(primary, "UPDATE consent_events SET action = 'grant' WHERE action = 'revoke'")
    assert wait_until(
        lambda: (
            sql(standby, "SELECT COUNT(*) FROM consent_events WHERE action = 'revoke'") == [(0,)]
        ),
        timeout=30,
    )
    run = cli(["audit", "verify", "--ledger", standby])
    assert run.code == 1 and "consent_events" in run.out, run.out + run.err
