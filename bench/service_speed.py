"""Benchmark the gate over HTTP (`compliance serve`) against the same gate called in-process.

    python bench/service_speed.py                       # 200,000 events, 50,000 subjects
    python bench/service_speed.py --events 20000 --subjects 5000 --seconds 1   # quick

It builds the SQLite ledger gate_speed.py builds, then runs the service (the app
`compliance serve` runs, under uvicorn, with the benchmark's clock) in a process of its own and
times, for --seconds each:

* `Gate.check()` called in-process (the peer: what the service adds is measured against it);
* `POST /v1/check` through `compliance.client` from 1 and 4 client processes (keep-alive
  connections, one per process): requests/s of all clients together and the p99 of one call;
* `POST /v1/check-many` with batches of --batch sends from one client.

A script that prints figures, not a test: it asserts nothing, and exits 0 unless the ledger
cannot be built or the service does not start.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import machine_rows
from gate_speed import AT, MARKETING, REPO, bench_clock, build_ledger, subjects_for, table

CLIENTS = (1, 4)


def log(message: str) -> None:
    print(f"service_speed: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(path: str, port: int) -> None:
    """The service's process: the app `compliance serve` runs, on the benchmark's clock."""
    import uvicorn

    from compliance import Gate
    from compliance.service.app import Settings, create_app

    gate = Gate.open(repo=REPO, ledger=path, clock=bench_clock)
    uvicorn.run(create_app(gate, Settings()), host="127.0.0.1", port=port, log_level="warning")


def wait_for(port: int, seconds: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the service did not start") from None
            time.sleep(0.1)


def client_run(
    port: int, token: str, subjects: list[str], seconds: float, batch: int, start: float,
    seed: int, out: Any,
) -> None:  # fmt: skip
    """One client process: calls for `seconds` from `start`; puts (calls, sends, latencies)."""
    from compliance import Send
    from compliance.client import Client

    rng = random.Random(seed)
    client = Client(f"http://127.0.0.1:{port}", token=token, timeout=30)
    client.health()  # the connection made before the clock starts
    while time.time() < start:
        time.sleep(0.001)
    latencies, sends = [], 0
    until = start + seconds
    while time.time() < until:
        t = time.perf_counter()
        if batch:
            client.check_many(
                [Send(to=rng.choice(subjects), template=MARKETING, at=AT) for _ in range(batch)]
            )
            sends += batch
        else:
            client.check(Send(to=rng.choice(subjects), template=MARKETING, at=AT))
            sends += 1
        latencies.append(time.perf_counter() - t)
    client.close()
    out.put((len(latencies), sends, latencies))


def over_http(
    port: int, token: str, subjects: list[str], clients: int, seconds: float, batch: int
) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = time.time() + 3.0
    procs = [
        ctx.Process(
            target=client_run, args=(port, token, subjects, seconds, batch, start, n, out)
        )
        for n in range(clients)
    ]
    for p in procs:
        p.start()
    found = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for _, _, lat in found for x in lat)
    return {
        "rate": sum(s for _, s, _ in found) / seconds,
        "calls": sum(c for c, _, _ in found),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0,
    }


def in_process(path: Path, subjects: list[str], seconds: float) -> dict[str, float]:
    from compliance import Gate, Send

    rng = random.Random(7)
    gate = Gate.open(repo=REPO, ledger=path, clock=bench_clock)
    latencies = []
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        t = time.perf_counter()
        gate.check(Send(to=rng.choice(subjects), template=MARKETING, at=AT))
        latencies.append(time.perf_counter() - t)
    gate.close()
    latencies.sort()
    return {
        "rate": len(latencies) / seconds,
        "calls": len(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=200_000, help="consent events (200,000)")
    p.add_argument("--subjects", type=int, default=50_000, help="subjects (50,000)")
    p.add_argument("--history", type=int, default=50_000, help="earlier decisions (50,000)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each timed run (5)")
    p.add_argument("--batch", type=int, default=1_000, help="check-many batch (1,000)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    subjects = subjects_for(args.subjects)
    rows: list[dict[str, Any]] = []

    def row(figure: str, value: str, detail: str = "") -> None:
        rows.append({"figure": figure, "value": value, "goal": "", "met": None, "detail": detail})

    with tempfile.TemporaryDirectory(prefix="service-speed-") as tmp:
        path = Path(tmp) / "ledger.db"
        log(f"building the ledger: {args.events:,} events, {args.subjects:,} subjects")
        build_ledger(path, args.events, args.subjects, args.seed, args.history)
        from compliance.gate.ledger import open_ledger

        db = open_ledger(path)
        _, token = db.create_key(name="bench", scopes=["decide"], by="bench")
        db.close()
        log(f"Gate.check() in-process, {args.seconds:g} s")
        local = in_process(path, subjects, args.seconds)
        row(
            "Gate.check() in-process (the peer)",
            f"{local['rate']:,.0f}/s",
            f"p99 {local['p99_ms']:.1f} ms, {local['calls']:,} decisions",
        )
        port = free_port()
        server = mp.get_context("spawn").Process(target=serve, args=(str(path), port))
        server.start()
        try:
            wait_for(port)
            http: dict[int, dict[str, float]] = {}
            for clients in CLIENTS:
                log(f"POST /v1/check, {clients} client process(es), {args.seconds:g} s")
                http[clients] = over_http(port, token, subjects, clients, args.seconds, 0)
                r = http[clients]
                row(
                    f"POST /v1/check, {clients} client(s)",
                    f"{r['rate']:,.0f}/s",
                    f"p99 {r['p99_ms']:.1f} ms, {r['calls']:,} requests, keep-alive",
                )
            row(
                "POST /v1/check, 1 client / Gate.check() in-process",
                f"{http[1]['rate'] / local['rate']:.2f}x",
                "what HTTP, JSON, the key lookup and the server cost per decision",
            )
            log(f"POST /v1/check-many, batches of {args.batch:,}, {args.seconds:g} s")
            many = over_http(port, token, subjects, 1, args.seconds, args.batch)
            row(
                f"POST /v1/check-many, batches of {args.batch:,}",
                f"{many['rate']:,.0f} sends/s",
                f"p99 of a batch {many['p99_ms']:.0f} ms, {many['calls']:,} requests",
            )
        finally:
            server.terminate()
            server.join(10)
    machine = [*machine_rows(), ("ledger", f"{args.events:,} events, SQLite", "")]
    shown = [("figure", "value", "detail")]
    shown += [(r["figure"], r["value"], r["detail"]) for r in rows]
    print(table(shown))
    print()
    print(table([("machine", "", ""), *machine]))
    if args.json:
        import json

        data = {"script": "service_speed", "rows": rows, "machine": [list(m) for m in machine]}
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
