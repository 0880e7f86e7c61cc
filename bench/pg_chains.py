"""Design benchmark: the audit hash chain on PostgreSQL, one chain against N chains.

    python bench/pg_chains.py                  # 10 s a run, 16 chains, 100,000 consent events
    python bench/pg_chains.py --seconds 3      # a quick run
    python bench/pg_chains.py --chains 64 --processes 1 8
    python bench/pg_chains.py --server postgresql://postgres@127.0.0.1:5432/postgres

It creates a fresh database on the server (--server, else COMPLIANCE_TEST_PG, else
postgresql://postgres@127.0.0.1:5432/postgres, then the root role), fills a consent_events
table with --events grants and revocations over --subjects numbers (indexed by subject, scope
and time), and drops the database at the end. A decision is, in one transaction with
synchronous_commit on (the commit waits for the WAL flush):

* one indexed read: the subject's latest consent event for the scope;
* one chain append: read the chain's head with SELECT ... FOR UPDATE, compute
  sha256(head hash + payload), INSERT the audit entry (chain, seq, prev, hash, payload) and
  UPDATE the head; then COMMIT.

Two designs of the chain:

* `one chain`: every decision appends to the same head row, so the head's row lock is held from
  the SELECT FOR UPDATE to the end of the COMMIT (WAL flush included) and appends are serial;
* `N chains`: chain = crc32(subject) % N (a stable hash, not Python's per-process hash()), each
  chain with its own head row, so decisions on different chains commit side by side.

For each design it runs 1, 2, 4 and 8 worker processes (--processes; multiprocessing, spawn,
one connection each) for --seconds, and then --batch decisions per transaction (the reads
pipelined with executemany, the heads a batch touches locked in chain order in one SELECT FOR
UPDATE, the entries inserted with executemany, each touched head updated once) from 1 and 4
processes (--batch-processes). The designs take turns at each size, after a 2 s warm-up run
that is not shown. Before each run the audit trail is emptied, the heads reset and
a CHECKPOINT taken. It prints one table: design, processes, decisions per transaction,
decisions/s (all processes together), p50 and p99 of a transaction's latency in ms (BEGIN to
COMMIT returned: one decision, or a whole batch), and the check after the run (audit entries
equal to the decisions counted, every chain re-hashed and linked to its head). Then the
server's settings that bear on commits, what one 8 kB write + fdatasync costs in the temporary
folder (the price of a WAL flush when the server is on this machine's disk), and the machine.
A script that prints figures, not a test: it asserts nothing and exits 0 unless the server
cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
import random
import secrets
import sys
import tempfile
import time
import zlib
from urllib.parse import urlsplit, urlunsplit

try:
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover
    sys.exit("bench/pg_chains.py needs psycopg: python -m pip install -e '.[postgres]'")

from _machine import machine_rows

DEFAULT_URLS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)
SCOPE = "us-sms-offers"
TEMPLATE = "10dlc-weekend-sale"
GENESIS = bytes(32)

SCHEMA = """
CREATE TABLE consent_events (
    id bigserial PRIMARY KEY,
    subject text NOT NULL,
    scope text NOT NULL,
    kind text NOT NULL,          -- grant | revoke
    at timestamptz NOT NULL,
    source text NOT NULL
);
CREATE TABLE chain_heads (
    chain integer PRIMARY KEY,
    seq bigint NOT NULL,
    hash bytea NOT NULL
);
CREATE TABLE audit (
    chain integer NOT NULL,
    seq bigint NOT NULL,
    prev bytea NOT NULL,
    hash bytea NOT NULL,
    payload text NOT NULL,
    PRIMARY KEY (chain, seq)
);
"""
INDEX = "CREATE INDEX consent_events_subject ON consent_events (subject, scope, at DESC)"

READ = (
    "SELECT kind, at FROM consent_events WHERE subject = %s AND scope = %s ORDER BY at DESC LIMIT 1"
)
LOCK_ONE = "SELECT seq, hash FROM chain_heads WHERE chain = %s FOR UPDATE"
LOCK_MANY = (
    "SELECT chain, seq, hash FROM chain_heads WHERE chain = ANY(%s) ORDER BY chain FOR UPDATE"
)
APPEND = "INSERT INTO audit (chain, seq, prev, hash, payload) VALUES (%s, %s, %s, %s, %s)"
ADVANCE = "UPDATE chain_heads SET seq = %s, hash = %s WHERE chain = %s"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def subject_of(i: int) -> str:
    return f"+1415{5500000 + i:07d}"


def chain_of(subject: str, chains: int) -> int:
    return zlib.crc32(subject.encode()) % chains


def payload_of(subject: str, row: tuple | None, worker: int) -> bytes:
    outcome = "allow" if row and row[0] == "grant" else "deny"
    decision = {
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
        "subject": subject,
        "scope": SCOPE,
        "template": TEMPLATE,
        "outcome": outcome,
        "consent_at": row[1].isoformat() if row else None,
        "worker": worker,
    }
    return json.dumps(decision, sort_keys=True, separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------------------------


def with_dbname(url: str, dbname: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return urlunsplit(urlsplit(url)._replace(path="/" + dbname))
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


def find_server(explicit: str | None) -> str:
    candidates = [explicit] if explicit else []
    if not candidates and os.environ.get("COMPLIANCE_TEST_PG"):
        candidates = [os.environ["COMPLIANCE_TEST_PG"]]
    candidates = candidates or list(DEFAULT_URLS)
    errors = []
    for url in candidates:
        try:
            with psycopg.connect(url, connect_timeout=5):
                return url
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip()}")
    sys.exit("PostgreSQL is not reachable:\n" + "\n".join(errors))


def build(url: str, events: int, subjects: int, seed: int) -> float:
    """Fill consent_events; return seconds taken."""
    started = time.perf_counter()
    rng = random.Random(seed)
    base = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    with psycopg.connect(url) as conn:
        conn.execute(SCHEMA)
        with (
            conn.cursor() as cur,
            cur.copy("COPY consent_events (subject, scope, kind, at, source) FROM STDIN") as copy,
        ):
            for i in range(events):
                subject = subject_of(i % subjects)  # every subject has events
                kind = "grant" if rng.random() < 0.8 else "revoke"
                at = base + dt.timedelta(seconds=rng.randrange(60 * 86400 * 365))
                copy.write_row((subject, SCOPE, kind, at, "web-form"))
        conn.execute(INDEX)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE consent_events")
    return time.perf_counter() - started


def reset(url: str, chains: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE audit")
        conn.execute("DELETE FROM chain_heads")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO chain_heads (chain, seq, hash) VALUES (%s, 0, %s)",
                [(c, GENESIS) for c in range(chains)],
            )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE chain_heads")
        # not a superuser: the run starts wherever the checkpointer is
        with contextlib.suppress(psycopg.Error):
            conn.execute("CHECKPOINT")


def verify(url: str, chains: int) -> tuple[int, str]:
    """(audit entries, verdict): every chain re-hashed from genesis and linked to its head."""
    heads = {}
    entries = 0
    with psycopg.connect(url) as conn:
        for chain, seq, digest in conn.execute("SELECT chain, seq, hash FROM chain_heads"):
            heads[chain] = (seq, bytes(digest))
        with conn.cursor(name="walk") as cur:
            cur.itersize = 10_000
            cur.execute("SELECT chain, seq, prev, hash, payload FROM audit ORDER BY chain, seq")
            state: dict[int, tuple[int, bytes]] = {c: (0, GENESIS) for c in range(chains)}
            for chain, seq, prev, digest, payload in cur:
                entries += 1
                last_seq, last_hash = state[chain]
                if seq != last_seq + 1 or bytes(prev) != last_hash:
                    return entries, f"BROKEN at chain {chain} seq {seq}"
                if hashlib.sha256(last_hash + payload.encode()).digest() != bytes(digest):
                    return entries, f"BAD HASH at chain {chain} seq {seq}"
                state[chain] = (seq, bytes(digest))
    for chain, (seq, digest) in state.items():
        if heads.get(chain) != (seq, digest):
            return entries, f"HEAD MISMATCH on chain {chain}"
    return entries, "ok"


# --------------------------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------------------------


def decide_one(conn: psycopg.Connection, subject: str, chains: int, worker: int) -> None:
    with conn.cursor() as cur:
        row = cur.execute(READ, (subject, SCOPE)).fetchone()
        chain = chain_of(subject, chains)
        seq, prev = cur.execute(LOCK_ONE, (chain,)).fetchone()
        payload = payload_of(subject, row, worker)
        digest = hashlib.sha256(bytes(prev) + payload).digest()
        cur.execute(APPEND, (chain, seq + 1, prev, digest, payload.decode()))
        cur.execute(ADVANCE, (seq + 1, digest, chain))
    conn.commit()


def decide_batch(conn: psycopg.Connection, batch: list[str], chains: int, worker: int) -> None:
    with conn.cursor() as cur:
        cur.executemany(READ, [(s, SCOPE) for s in batch], returning=True)
        rows = []
        while True:
            rows.append(cur.fetchone())
            if not cur.nextset():
                break
        wanted = sorted({chain_of(s, chains) for s in batch})
        heads = {c: (seq, bytes(h)) for c, seq, h in cur.execute(LOCK_MANY, (wanted,))}
        entries = []
        for subject, row in zip(batch, rows, strict=True):
            chain = chain_of(subject, chains)
            seq, prev = heads[chain]
            payload = payload_of(subject, row, worker)
            digest = hashlib.sha256(prev + payload).digest()
            entries.append((chain, seq + 1, prev, digest, payload.decode()))
            heads[chain] = (seq + 1, digest)
        cur.executemany(APPEND, entries)
        cur.executemany(ADVANCE, [(seq, h, c) for c, (seq, h) in heads.items()])
    conn.commit()


def worker(
    index: int,
    url: str,
    chains: int,
    batch: int,
    seconds: float,
    subjects: int,
    barrier,
    results,
) -> None:
    rng = random.Random(1000 + index)
    decisions = transactions = errors = 0
    latencies: list[float] = []
    try:
        conn = psycopg.connect(url)
        conn.execute("SET synchronous_commit = on")
        conn.commit()
        barrier.wait()
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            picks = [subject_of(rng.randrange(subjects)) for _ in range(batch)]
            t0 = time.perf_counter()
            try:
                if batch == 1:
                    decide_one(conn, picks[0], chains, index)
                else:
                    decide_batch(conn, picks, chains, index)
            except psycopg.errors.DeadlockDetected:
                conn.rollback()
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)
            decisions += batch
            transactions += 1
        elapsed = time.perf_counter() - started
        conn.close()
        results.put((index, decisions, transactions, errors, elapsed, latencies, None))
    except Exception as exc:  # report, so that the parent does not wait forever
        results.put((index, 0, 0, 0, 0.0, [], f"{type(exc).__name__}: {exc}"))
        barrier.abort()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def run(url: str, chains: int, processes: int, batch: int, seconds: float, subjects: int) -> dict:
    reset(url, chains)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=worker, args=(i, url, chains, batch, seconds, subjects, barrier, results)
        )
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    got = [results.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    failures = [g[6] for g in got if g[6]]
    decisions = sum(g[1] for g in got)
    elapsed = max(g[4] for g in got) or float("nan")
    latencies = sorted(x for g in got for x in g[5])
    entries, verdict = verify(url, chains)
    if entries != decisions:
        verdict = f"{verdict}; {entries} entries for {decisions} decisions"
    deadlocks = sum(g[3] for g in got)
    if deadlocks:
        verdict += f"; {deadlocks} deadlocks retried"
    if failures:
        verdict = "FAILED: " + failures[0]
    return {
        "decisions": decisions,
        "rate": decisions / elapsed,
        "p50": 1000 * percentile(latencies, 0.50),
        "p99": 1000 * percentile(latencies, 0.99),
        "check": f"{verdict} ({entries:,} entries)",
    }


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def table(rows: list[tuple[str, ...]], right: set[int] = frozenset()) -> str:
    """Columns (those in `right` right-aligned); the last column runs on, and a row with fewer
    cells lets its last cell run on."""
    width = max(len(r) for r in rows)
    widths = [
        max((len(r[i]) for r in rows if len(r) == width), default=0) for i in range(width - 1)
    ]
    lines = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            if i == len(r) - 1 and (i == width - 1 or i not in right):
                cells.append(c)
            else:
                cells.append(f"{c:>{widths[i]}}" if i in right else f"{c:<{widths[i]}}")
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def fdatasync_ms(count: int = 200) -> float:
    """Median time of an 8 kB write + fdatasync in the system's temporary folder: what a WAL
    flush costs on this machine's disk when the server is local."""
    times = []
    with tempfile.NamedTemporaryFile() as f:
        block = os.urandom(8192)
        for _ in range(count):
            t0 = time.perf_counter()
            os.pwrite(f.fileno(), block, 0)
            os.fdatasync(f.fileno())
            times.append(time.perf_counter() - t0)
    return 1000 * sorted(times)[count // 2]


def server_rows(url: str) -> list[tuple[str, str, str]]:
    names = (
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "commit_delay",
        "shared_buffers",
        "max_connections",
    )
    with psycopg.connect(url) as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        settings = conn.execute(
            "SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name = ANY(%s)"
            " ORDER BY name",
            (list(names),),
        ).fetchall()
    text = ", ".join(f"{n}={s}{'' if u in ('', '8kB') else u}" for n, s, u in settings)
    for n, s, u in settings:
        if n == "shared_buffers" and u == "8kB":
            text = text.replace(f"shared_buffers={s}", f"shared_buffers={int(s) * 8 // 1024}MB")
    host = urlsplit(url).hostname if "://" in url else url
    return [("server", version.split(" on ")[0], f"at {host}"), ("settings", text)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=10.0, help="length of each run (10)")
    p.add_argument("--chains", type=int, default=16, metavar="N", help="chains of design b (16)")
    p.add_argument("--events", type=int, default=100_000, metavar="N", help="consent events")
    p.add_argument("--subjects", type=int, default=20_000, metavar="N", help="distinct numbers")
    p.add_argument(
        "--processes", type=int, nargs="+", default=[1, 2, 4, 8], metavar="P", help="(1 2 4 8)"
    )
    p.add_argument("--batch", type=int, default=1000, help="decisions per batched txn (1000)")
    p.add_argument(
        "--batch-processes", type=int, nargs="+", default=[1, 4], metavar="P", help="(1 4)"
    )
    p.add_argument("--server", help="server URL (its database is only used to create ours)")
    p.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = find_server(args.server)
    name = f"compliance_bench_chains_{os.getpid()}_{secrets.token_hex(3)}"
    url = with_dbname(server, name)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        log(f"database {name}: {args.events:,} consent events over {args.subjects:,} subjects")
        built = build(url, args.events, args.subjects, seed=7)
        log(f"built in {built:.1f} s")
        designs = [("one chain", 1), (f"{args.chains} chains", args.chains)]
        # the designs take turns at each size, so that a drift of the machine (other load, the
        # disk's mood) falls on both alike
        plan = [(d, c, p, 1) for p in args.processes for d, c in designs]
        plan += [(d, c, p, args.batch) for p in args.batch_processes for d, c in designs]
        log("warm-up: 1 process, 2 s (not shown)")
        run(url, args.chains, 1, 1, 2.0, args.subjects)
        rows = [
            ("design", "processes", "per txn", "decisions/s", "p50 ms", "p99 ms", "check"),
        ]
        for design, chains, processes, batch in plan:
            log(f"{design}, {processes} processes, {batch} per transaction, {args.seconds:g} s")
            r = run(url, chains, processes, batch, args.seconds, args.subjects)
            rows.append(
                (
                    design,
                    str(processes),
                    f"{batch:,}",
                    f"{r['rate']:,.0f}",
                    f"{r['p50']:.2f}",
                    f"{r['p99']:.2f}",
                    r["check"],
                )
            )
        print(
            f"Audit chain on PostgreSQL: {args.events:,} consent events, {args.seconds:g} s a run,"
            " synchronous_commit=on; latency is per transaction (a batch's is the whole batch)"
        )
        print()
        print(table(rows, right={1, 2, 3, 4, 5}))
        print()
        disk = ("disk", f"{fdatasync_ms():.2f} ms", "8 kB write + fdatasync, median, temp folder")
        print(table([*server_rows(server), disk, *machine_rows()]))
    finally:
        if args.keep:
            log(f"kept database {name}: {url}")
        else:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
