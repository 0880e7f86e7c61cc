"""Faults and concurrency on a PostgreSQL ledger: the gate's connections killed (between
decisions and in the middle of one), the server restarted, a chain's lock held past the busy
timeout, the pool exhausted. While a fault lasts every answer is deny with ledger.error (never
allow, never an allow without its entry); once it is gone the gate recovers by itself, and
nothing written before is lost. Eight processes, as eight hosts would, decide and grant on one
database at once: every chain verifies and every allow has its entry."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import time

import psycopg
import pytest

from compliance import Gate, Send
from compliance.gate.catalog import from_repo
from compliance.gate.ledger.pg import PostgresLedger
from tests.backends import sql
from tests.conftest import ROOT
from tests.pg import with_user

US = ROOT / "examples" / "us"
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)  # 10:00 in California
TO = "+14155550123"
SALE = Send(to=TO, template="10dlc-weekend-sale", at=AT)


def opened(url: str, clock=lambda: AT, **options) -> Gate:
    ledger = PostgresLedger(url, create=True, clock=clock, busy_timeout=0.5, **options)
    gate = Gate(from_repo(US), ledger)
    gate.ledger.grant(subject=TO, channel="sms", scope="us-sms-offers", source="web", at=AT)
    return gate


def denied(gate: Gate) -> str:
    decision = gate.check(SALE)
    assert (decision.outcome, decision.codes, decision.id) == ("deny", ["ledger.error"], None)
    return decision.reasons[0].message


def allows_recorded(url: str) -> int:
    return sql(url, "SELECT COUNT(*) FROM audit_log WHERE outcome = 'allow'")[0][0]


def kill_others(url: str) -> int:
    """pg_terminate_backend on every other connection to the ledger's database."""
    rows = sql(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
        "current_database() AND pid <> pg_backend_pid()",
    )
    return len(rows)


def test_connections_killed_between_decisions_are_replaced_without_a_wrong_answer(pg_database):
    gate = opened(pg_database)
    try:
        assert gate.check(SALE).allowed
        assert kill_others(pg_database) >= 1
        # a dead connection is found at a write's first statement and replaced
        answers = [gate.check(SALE) for _ in range(3)]
        assert all(d.allowed or d.codes == ["ledger.error"] for d in answers)
        assert answers[-1].allowed
        assert gate._db.verify().ok
        assert allows_recorded(pg_database) == 1 + sum(d.allowed for d in answers)
    finally:
        gate.close()


def test_a_connection_killed_inside_a_decision_is_a_deny_and_writes_nothing(pg_database):
    kill = threading.Event()

    def clock():  # read once the decision holds its chain's lock: kill it there
        if kill.is_set():
            kill.clear()
            kill_others(pg_database)
        return AT

    gate = opened(pg_database, clock=clock)
    try:
        before = sql(pg_database, "SELECT COUNT(*) FROM audit_log")[0][0]
        kill.set()
        message = denied(gate)
        assert "cannot be written" in message
        assert sql(pg_database, "SELECT COUNT(*) FROM audit_log")[0][0] == before
        assert gate.check(SALE).allowed  # recovered by itself
        assert gate._db.verify().ok
    finally:
        gate.close()


def test_a_server_restart_denies_while_down_and_recovers(pg_cluster):
    url = pg_cluster.url
    gate = opened(url)
    try:
        assert gate.check(SALE).allowed
        pg_cluster.stop(mode="immediate")  # a crash: no clean shutdown
        messages = [denied(gate) for _ in range(2)]
        assert "cannot be written" in messages[0]
        pg_cluster.start()
        # the pool makes new connections as the server answers again (backing off between
        # attempts): denies until then, never an allow without its entry
        deadline = time.monotonic() + 30
        answers = [gate.check(SALE)]
        while not answers[-1].allowed and time.monotonic() < deadline:
            assert answers[-1].codes == ["ledger.error"]
            time.sleep(0.2)
            answers.append(gate.check(SALE))
        assert answers[-1].allowed, answers[-1].reasons
        verdict = gate._db.verify()
        assert verdict.ok and allows_recorded(url) == 2
    finally:
        gate.close()


def test_a_chain_locked_past_the_busy_timeout_is_a_deny_then_recovers(pg_database):
    gate = opened(pg_database)
    try:
        holder = psycopg.connect(pg_database)
        holder.execute("SELECT * FROM chain_heads FOR UPDATE")  # every chain, held
        message = denied(gate)
        assert "lock" in message
        holder.rollback()
        holder.close()
        assert gate.check(SALE).allowed
    finally:
        gate.close()


def test_a_statement_past_its_timeout_is_a_deny(pg_database):
    gate = opened(pg_database, statement_timeout=0.2)
    try:
        assert gate.check(SALE).allowed

        def slow():
            gate._db.conn.execute("SELECT pg_sleep(1)")
            return AT

        gate._db.clock = slow
        message = denied(gate)
        assert "statement timeout" in message
        gate._db.clock = lambda: AT
        assert gate.check(SALE).allowed
        assert gate._db.verify().ok
    finally:
        gate.close()


def test_a_full_pool_is_a_deny_then_recovers(pg_database):
    gate = opened(pg_database, pool_size=1)
    try:
        taken = gate._db.pool.getconn()
        message = denied(gate)
        assert "connections of the pool are busy" in message
        gate._db.pool.putconn(taken)
        assert gate.check(SALE).allowed
    finally:
        gate.close()


def test_every_commit_waits_for_its_wal_even_where_the_server_says_otherwise(pg_database):
    sql(pg_database, "ALTER ROLE CURRENT_USER SET synchronous_commit = off")
    try:
        gate = opened(pg_database)
        with gate._db.reading() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        gate.close()
    finally:
        sql(pg_database, "ALTER ROLE CURRENT_USER RESET synchronous_commit")


# eight hosts at once ----------------------------------------------------------------------


def _host(url: str, number: int, rounds: int, out) -> None:
    """One host: grants its own subjects, decides for them and for shared ones, revokes some."""
    now = AT
    ledger = PostgresLedger(url, clock=lambda: now, busy_timeout=10.0)
    gate = Gate(from_repo(US), ledger)
    allowed, denied_ids = [], 0
    try:
        for i in range(rounds):
            own = f"+1415555{number:02d}{i % 10:02d}"
            shared = f"+14155559{i % 5:03d}"
            gate.ledger.grant(
                subject=own, channel="sms", scope="us-sms-offers", source="web", at=AT
            )
            if i % 7 == 3:
                gate.ledger.grant(
                    subject=shared, channel="sms", scope="us-sms-offers", source="web", at=AT
                )
            sends = [
                Send(to=own, template="10dlc-weekend-sale", at=AT),
                Send(to=shared, template="10dlc-weekend-sale", at=AT),
            ]
            decisions = gate.check_many(sends) if i % 2 else [gate.check(s) for s in sends]
            for d in decisions:
                assert d.codes != ["ledger.error"], d.reasons
                if d.allowed:
                    allowed.append(d.id)
                else:
                    denied_ids += 1
            if i % 5 == 4:
                gate.ledger.inbound(subject=own, text="STOP", channel="sms", at=AT)
    finally:
        gate.close()
    out.put((number, allowed, denied_ids))


def test_eight_hosts_at_once_lose_nothing_and_every_chain_verifies(pg_roles):
    # as a deployment runs them: logged in as the application role, on a ledger its owner
    # created and granted (`compliance ledger grants`), verified by the reader role
    pg_database = pg_roles.ledger()
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    hosts = [context.Process(target=_host, args=(pg_database, n, 25, out)) for n in range(8)]
    for host in hosts:
        host.start()
    results = [out.get(timeout=300) for _ in hosts]
    for host in hosts:
        host.join(timeout=60)
        assert host.exitcode == 0
    allowed = sorted(seq for _, ids, _ in results for seq in ids)
    assert len(allowed) == len(set(allowed)) > 0
    recorded = [
        r[0]
        for r in sql(pg_database, "SELECT seq FROM audit_log WHERE outcome = 'allow' ORDER BY seq")
    ]
    assert recorded == allowed  # every allow has its entry, and no entry an allow not given
    grants = sql(pg_database, "SELECT COUNT(*) FROM consent_events WHERE action = 'grant'")[0][0]
    assert grants >= 8 * 25 + 1
    reader = with_user(pg_database, pg_roles.reader)
    verdict = PostgresLedger(reader, readonly=True, clock=lambda: AT).verify()
    assert verdict.ok, verdict
    chains = sql(pg_database, "SELECT COUNT(DISTINCT chain) FROM audit_log")[0][0]
    assert chains > 8


@pytest.mark.parametrize("size", [1, 2])
def test_threads_sharing_one_ledger_take_turns(pg_database, size):
    gate = opened(pg_database, pool_size=size)
    answers = []

    def run():
        for _ in range(10):
            answers.append(gate.check(SALE))

    try:
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(d.allowed for d in answers) and len(answers) == 40
        assert gate._db.verify().ok
    finally:
        gate.close()


def test_a_host_whose_clock_runs_ahead_does_not_prune_what_other_hosts_caps_count(pg_database):
    # hosts share one ledger but not one clock: pruning goes by the earlier of the host's
    # clock and the server's, so a host ten days ahead keeps the sends of today
    # noon in Florida today (inside its sending window), near the server's own clock
    now = dt.datetime.now(dt.timezone.utc).replace(hour=17, minute=0, second=0, microsecond=0)
    ahead = opened(pg_database, clock=lambda: now + dt.timedelta(days=10))
    here = opened(pg_database, clock=lambda: now)
    try:
        here.ledger.grant(
            subject="+13055550123", channel="sms", scope="us-sms-offers", source="web", at=now
        )
        florida = Send(to="+13055550123", template="10dlc-weekend-sale", at=now)
        before = sql(pg_database, "SELECT COUNT(*) FROM recent_sends")[0][0]
        decided = [here.check(florida) for _ in range(4)]
        kept = sql(pg_database, "SELECT COUNT(*) FROM recent_sends")[0][0]
        ahead._db.prune()
        assert sql(pg_database, "SELECT COUNT(*) FROM recent_sends")[0][0] == kept
        assert kept - before == sum(d.allowed for d in decided) >= 1, decided
    finally:
        ahead.close()
        here.close()


def test_a_commit_whose_answer_is_lost_is_looked_up_not_denied(pg_database, monkeypatch):
    # the connection drops with the COMMIT on its way: the transaction may have committed. A
    # fresh connection looks for its entry; found, the decision given is the one recorded
    gate = opened(pg_database)
    try:
        real = PostgresLedger._flush

        def lost(self, raw):
            real(self, raw)  # committed...
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(PostgresLedger, "_flush", lost)
        decision = gate.check(SALE)
        assert decision.allowed and decision.id is not None
        recorded = sql(pg_database, "SELECT outcome FROM audit_log WHERE seq = ?", (decision.id,))
        assert recorded == [("allow",)]

        def dropped(self, raw):  # ...or not: then it is a fault, and the answer deny
            raw.rollback()
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(PostgresLedger, "_flush", dropped)
        assert gate.check(SALE).codes == ["ledger.error"]
        monkeypatch.setattr(PostgresLedger, "_flush", real)
        assert gate._db.verify().ok
    finally:
        gate.close()
