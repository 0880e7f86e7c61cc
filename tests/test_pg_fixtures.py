"""The PostgreSQL fixtures of tests/pg.py work: the shared server, fresh databases, a private
cluster that restarts, and connections that fail when their server side goes away."""

from __future__ import annotations

import psycopg
import pytest

from tests.pg import (
    DB_PREFIX,
    PgCluster,
    create_database,
    drop_database,
    find_server,
    free_port,
    wait_until,
    worker_id,
)


def dbname(url: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(url)["dbname"]


def test_the_shared_server_answers(pg_server: str) -> None:
    with psycopg.connect(pg_server) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.server_version >= 130000  # DROP DATABASE ... WITH (FORCE)


def test_an_unreachable_server_is_reported_with_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    monkeypatch.setenv("COMPLIANCE_TEST_PG", url)
    found, errors = find_server()
    assert found is None
    assert len(errors) == 1 and errors[0].startswith(url + ": ")


def test_a_fresh_database_is_empty_and_usable(pg_database: str) -> None:
    name = dbname(pg_database)
    assert name.startswith(f"{DB_PREFIX}{worker_id()}_")
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (name,)
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE consent_events (id bigserial PRIMARY KEY, subject text)")
        conn.execute("INSERT INTO consent_events (subject) VALUES ('+14155550123')")
        conn.commit()
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT subject FROM consent_events").fetchall() == [("+14155550123",)]


def test_two_databases_are_distinct(pg_database_factory) -> None:
    first, second = pg_database_factory(), pg_database_factory()
    assert dbname(first) != dbname(second)
    with psycopg.connect(first) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
        conn.commit()
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)


def test_a_dropped_database_ends_its_connections(pg_server: str) -> None:
    url = create_database(pg_server)
    try:
        held = psycopg.connect(url, autocommit=True)
        held.execute("SELECT 1")
    finally:
        drop_database(pg_server, url)  # terminates `held` first
    with pytest.raises(psycopg.OperationalError):
        held.execute("SELECT 1")
    held.close()
    with psycopg.connect(pg_server) as conn:
        gone = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (dbname(url),))
        assert gone.fetchone() == (0,)


def test_pg_terminate_backend_breaks_that_connection_only(pg_database: str) -> None:
    victim = psycopg.connect(pg_database, autocommit=True)
    other = psycopg.connect(pg_database, autocommit=True)
    try:
        pid = victim.info.backend_pid
        assert other.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        assert wait_until(
            lambda: (
                other.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
                == (0,)
            )
        )
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        assert victim.closed
        assert other.execute("SELECT 1").fetchone() == (1,)
    finally:
        victim.close()
        other.close()


def test_the_private_cluster_is_private_and_durable_by_default(pg_cluster: PgCluster) -> None:
    assert pg_cluster.port != 5432
    assert pg_cluster.url == f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/postgres"
    with pg_cluster.connect() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings"
                " WHERE name IN ('fsync', 'synchronous_commit', 'data_directory', 'port')"
            ).fetchall()
        )
    assert settings["fsync"] == "on" and settings["synchronous_commit"] == "on"
    assert settings["data_directory"] == str(pg_cluster.datadir)
    assert settings["port"] == str(pg_cluster.port)


def test_a_connection_from_before_a_restart_fails_and_a_new_one_works(
    pg_cluster: PgCluster,
) -> None:
    before = pg_cluster.connect(autocommit=True)
    before.execute("CREATE TABLE kept (x int)")
    before.execute("INSERT INTO kept VALUES (1)")
    port = pg_cluster.port
    pg_cluster.restart()
    assert pg_cluster.port == port
    with pytest.raises(psycopg.OperationalError):
        before.execute("SELECT 1")
    before.close()
    with pg_cluster.connect() as after:
        assert after.execute("SELECT x FROM kept").fetchall() == [(1,)]


def test_the_private_cluster_stops_starts_and_recovers_from_a_crash(
    pg_cluster: PgCluster,
) -> None:
    with pg_cluster.connect() as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (1)")
        conn.commit()  # synchronous_commit=on: durable once this returns
    pg_cluster.stop("immediate")  # as a crash: no shutdown checkpoint
    assert not pg_cluster.running()
    with pytest.raises(psycopg.OperationalError):
        pg_cluster.connect()
    pg_cluster.start()
    with pg_cluster.connect() as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(1,)]
