"""Benchmark the gate on its two ledger backends, side by side: SQLite and PostgreSQL.

    python bench/ledger_backends.py                          # 1,000,000 events, 200,000 subjects
    python bench/ledger_backends.py --events 100000 --subjects 20000 --seconds 3   # quick
    python bench/ledger_backends.py --server postgresql://postgres@127.0.0.1:5432/postgres

It builds the SQLite ledger gate_speed.py builds (--events consent events over --subjects US
numbers, each with its audit entry, and --history earlier decisions), then copies it into a fresh
PostgreSQL database on the server with `compliance ledger migrate` (timed: the copy, with both
verifications), so both backends hold the same records. On each backend, in turn:

* `gate.check()` from 1, 2, 4 and 8 processes (spawn; each its own Gate, as separate hosts
  would have), every process deciding marketing sends to random subjects for --seconds after
  a common start: decisions/s of all processes together, and the p99 of one call;
* `gate.check_many()` in batches of --batch from 1 and 4 processes, for --seconds;
* `audit verify` over the whole ledger (entries/s).

Goals (issue 12): check() on PostgreSQL from 4 processes at least 1.5 times its one-process rate,
with p99 at most 20 ms; check_many on PostgreSQL at least 70% of SQLite's. The database is dropped
at the end. A script that prints figures, not a test: it asserts nothing, and exits 0 unless a
ledger cannot be built or the server cannot be reached.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _machine import machine_rows
from gate_speed import AT, MARKETING, REPO, bench_clock, build_ledger, subjects_for, table
from pg_chains import find_server, with_dbname

PROCESSES = (1, 2, 4, 8)
MANY_PROCESSES = (1, 4)
SCALE_GOAL = 1.5  # PostgreSQL check(): 4 processes against 1
P99_GOAL_MS = 20.0
MANY_SHARE_GOAL = 0.70  # PostgreSQL check_many() against SQLite's


def log(message: str) -> None:
    print(f"ledger_backends: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def create_database(server: str) -> str:
    import psycopg

    name = f"compliance_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return with_dbname(server, name)


def drop_database(server: str, url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def server_rows(url: str) -> list[tuple[str, str, str]]:
    import psycopg

    names = ("fsync", "synchronous_commit", "shared_buffers", "max_connections")
    with psycopg.connect(url) as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        found = conn.execute(
            "SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name = ANY(%s) "
            "ORDER BY name",
            (list(names),),
        ).fetchall()
    text = ", ".join(
        f"{n}={int(s) * 8 // 1024}MB" if u == "8kB" else f"{n}={s}{u}" for n, s, u in found
    )
    return [("postgresql", version.split(" on ")[0], text)]


# --------------------------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------------------------


def worker(
    where: str, subjects: list[str], seconds: float, batch: int, seed: int, barrier: Any, out: Any
) -> None:
    """One host: its own Gate on the ledger; decides until the deadline after the common
    start. batch 0: one check() per call; else check_many() of `batch` sends."""
    from compliance import Gate, Send

    gate = Gate.open(repo=REPO, ledger=where, clock=bench_clock)
    rng = random.Random(seed)
    gate.check(Send(to=rng.choice(subjects), template=MARKETING, at=AT))  # warm
    barrier.wait()
    clock = time.perf_counter_ns
    latencies, decisions, errors = [], 0, 0
    start = clock()
    deadline = start + int(seconds * 1e9)
    while clock() < deadline:
        sends = [
            Send(to=rng.choice(subjects), template=MARKETING, at=AT) for _ in range(batch or 1)
        ]
        t = clock()
        found = gate.check_many(sends) if batch else [gate.check(sends[0])]
        latencies.append(clock() - t)
        decisions += len(found)
        errors += sum(d.id is None for d in found)
    end = clock()
    gate.close()
    out.put({"start": start, "end": end, "latencies": latencies, "n": decisions, "errors": errors})


def run(where: str, subjects: list[str], processes: int, seconds: float, batch: int) -> dict:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=worker,
            args=(where, subjects, seconds, batch, 1000 * processes + i, barrier, out),
        )
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r["latencies"])
    span = (max(r["end"] for r in results) - min(r["start"] for r in results)) / 1e9
    n = sum(r["n"] for r in results)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1e6
    return {"rate": n / span, "p99_ms": p99, "n": n, "errors": sum(r["errors"] for r in results)}


def time_verify(where: str) -> tuple[float, Any]:
    from compliance.gate.ledger import open_ledger

    db = open_ledger(where, readonly=True, clock=bench_clock)
    try:
        t = time.perf_counter()
        verdict = db.verify()
        return time.perf_counter() - t, verdict
    finally:
        db.close()


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=1_000_000, help="consent events (1,000,000)")
    p.add_argument("--subjects", type=int, default=200_000, help="subjects (200,000)")
    p.add_argument("--history", type=int, default=100_000, help="earlier decisions (100,000)")
    p.add_argument("--seconds", type=float, default=8.0, help="length of each timed run (8)")
    p.add_argument("--batch", type=int, default=1_000, help="check_many batch (1,000)")
    p.add_argument("--server", help="PostgreSQL server URL (default: COMPLIANCE_TEST_PG, local)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from compliance.gate.ledger.transfer import migrate

    server = find_server(args.server)
    subjects = subjects_for(args.subjects)
    rows: list[dict[str, Any]] = []

    def row(figure: str, value: str, goal: str = "", met: bool | None = None, detail: str = ""):
        rows.append({"figure": figure, "value": value, "goal": goal, "met": met, "detail": detail})

    with tempfile.TemporaryDirectory(prefix="ledger-backends-") as tmp:
        path = Path(tmp) / "ledger.db"
        log(f"building the SQLite ledger: {args.events:,} events, {args.subjects:,} subjects")
        built = build_ledger(path, args.events, args.subjects, args.seed, args.history)
        url = create_database(server)
        try:
            log("copying it to PostgreSQL (compliance ledger migrate)")
            t = time.perf_counter()
            copied = migrate(path, url)
            took = time.perf_counter() - t
            entries = copied.entries
            row(
                "ledger migrate SQLite -> PostgreSQL",
                f"{took:.1f} s",
                detail=f"{entries:,} entries and {sum(copied.rows.values()):,} records, both "
                f"sides verified ({entries / took:,.0f} entries/s overall)",
            )
            backends = (("SQLite", str(path)), ("PostgreSQL", url))
            found: dict[tuple[str, str, int], dict] = {}
            for processes in PROCESSES:
                for name, where in backends:
                    log(f"check(), {name}, {processes} process(es), {args.seconds:g} s")
                    found[(name, "check", processes)] = run(
                        where, subjects, processes, args.seconds, 0
                    )
            for processes in MANY_PROCESSES:
                for name, where in backends:
                    log(f"check_many(), {name}, {processes} process(es)")
                    found[(name, "many", processes)] = run(
                        where, subjects, processes, args.seconds, args.batch
                    )
            for processes in PROCESSES:
                for name, _ in backends:
                    r = found[(name, "check", processes)]
                    goal, met = "", None
                    if name == "PostgreSQL":
                        goal, met = f"p99 <= {P99_GOAL_MS:g} ms", r["p99_ms"] <= P99_GOAL_MS
                        if processes != 4:
                            goal, met = "", None
                    row(
                        f"check() {name}, {processes} proc",
                        f"{r['rate']:,.0f}/s",
                        goal,
                        met,
                        f"p99 {r['p99_ms']:.1f} ms, {r['n']:,} decisions, "
                        f"{r['errors']} ledger errors",
                    )
            pg1 = found[("PostgreSQL", "check", 1)]["rate"]
            pg4 = found[("PostgreSQL", "check", 4)]["rate"]
            row(
                "check() PostgreSQL, 4 proc / 1 proc",
                f"{pg4 / pg1:.2f}x",
                f">= {SCALE_GOAL:g}x",
                pg4 / pg1 >= SCALE_GOAL,
                "aggregate decisions/s grows with writers (16 chains)",
            )
            for processes in MANY_PROCESSES:
                lite = found[("SQLite", "many", processes)]
                pg = found[("PostgreSQL", "many", processes)]
                for name, r in (("SQLite", lite), ("PostgreSQL", pg)):
                    row(
                        f"check_many() {name}, {processes} proc",
                        f"{r['rate']:,.0f}/s",
                        detail=f"batches of {args.batch:,}, p99 of a batch {r['p99_ms']:.0f} ms, "
                        f"{r['errors']} ledger errors",
                    )
                share = pg["rate"] / lite["rate"]
                row(
                    f"check_many() PostgreSQL / SQLite, {processes} proc",
                    f"{share:.0%}",
                    f">= {MANY_SHARE_GOAL:.0%}",
                    share >= MANY_SHARE_GOAL,
                )
            for name, where in backends:
                log(f"audit verify, {name}")
                seconds, verdict = time_verify(where)
                row(
                    f"audit verify {name}",
                    f"{verdict.entries / seconds:,.0f} entries/s",
                    detail=f"{verdict.entries:,} entries in {seconds:.1f} s, "
                    f"{'intact' if verdict.ok else 'BROKEN: ' + str(verdict)}",
                )
            machine = [
                *machine_rows(),
                *server_rows(url),
                ("ledger", f"{built.events:,} events, {built.subjects:,} subjects", ""),
            ]
        finally:
            drop_database(server, url)
    shown = [("figure", "value", "goal", "detail")]
    for r in rows:
        said = "" if r["met"] is None else ": met" if r["met"] else ": NOT met"
        shown.append((r["figure"], r["value"], r["goal"] + said, r["detail"]))
    print(table(shown))
    print()
    print(table([("machine", "", ""), *machine]))
    if args.json:
        import json

        data = {"script": "ledger_backends", "rows": rows, "machine": [list(m) for m in machine]}
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
