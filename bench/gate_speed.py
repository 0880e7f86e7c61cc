"""Benchmark the pre-send gate on a large consent ledger and print the figures.

    python bench/gate_speed.py                                  # 1,000,000 events, 200,000 subjects
    python bench/gate_speed.py --events 100000 --subjects 20000 # a quick run
    python bench/gate_speed.py --out /tmp/ledger1m              # keep the ledger to profile it
    python bench/gate_speed.py --profile 2000                   # and cProfile 2,000 decisions

It builds a consent ledger of --events consent events over --subjects US mobile numbers (inserted
directly in one transaction, each with the audit entry grant() or revoke() would write) and an
audit trail that already holds
--history earlier decisions (a ledger in use, not a fresh one), opens
`Gate.open(repo="examples/us", ...)` on it and times, in this process:

* `gate.check(Send(...))` with the marketing template `10dlc-weekend-sale` on random subjects at
  2026-11-26T18:00:00Z, each call timed, with the ledger's default synchronous=NORMAL and again
  with `durable=True` (synchronous=FULL: an fsync per decision); the goal is 2,000 decisions/s
  with p99 <= 5 ms;
* `gate.check_many(...)` in batches of --batch sends, --rounds rounds of --many decisions, the
  best round being the figure (goal 20,000 decisions/s);
* `audit.verify` over the whole audit trail on a fresh connection (goal 200,000 entries/s);

then starts 4 processes (spawn) that run --writer-checks checks each on the same ledger file at
once, counts the decision entries in the audit trail and verifies the chain (goal: nothing lost,
chain intact). It prints the figures in a table with each goal and a description of the machine.
This is a script that prints figures, not a test: it asserts nothing and exits 0 unless the
ledger cannot be built.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import io
import json
import multiprocessing as mp
import os
import pstats
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _machine import machine_rows

ROOT = Path(__file__).resolve().parent.parent
REPO = ROOT / "examples" / "us"
MARKETING = "10dlc-weekend-sale"  # marketing, scope us-sms-offers, sender trailhead-10dlc
TRANSACTIONAL = "10dlc-order-shipped"
SCOPE = "us-sms-offers"
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)  # 10:00 in CA, 13:00 in FL

CHECK_GOAL_PER_S = 2_000
CHECK_GOAL_P99_MS = 5.0
MANY_GOAL_PER_S = 20_000
VERIFY_GOAL_PER_S = 200_000
WRITERS = 4

# Area codes whose numbers phonenumbers places in one US state with a single time zone, inside
# the marketing window at AT: California (08:00-21:00 local) and Florida (08:00-20:00, and the
# Florida cap of 3 marketing messages a day, so the frequency query runs for half the sends).
AREAS = ("213", "305", "415", "650", "786", "954")  # sorted: subjects come out in key order
GRANT_SOURCES = ("web-checkout", "keyword-join-48213")
REVOKE_SHARE = 0.10  # of all events

# --------------------------------------------------------------------------------------------
# Ledger
# --------------------------------------------------------------------------------------------


def subjects_for(count: int) -> list[str]:
    """`count` distinct E.164 numbers, +1 AAA 2XX XXXX, in sorted order."""
    per_area = -(-count // len(AREAS))
    if per_area > 100 * 10_000:
        raise SystemExit(f"--subjects {count:,} is more than this generator has numbers for")
    out: list[str] = []
    for area in AREAS:
        for k in range(min(per_area, count - len(out))):
            out.append(f"+1{area}{200 + k // 10_000}{k % 10_000:04d}")
    return out


def check_numbers(subjects: list[str], rng: random.Random, sample: int = 2_000) -> None:
    """Refuse to build unless a sample of the numbers is valid for phonenumbers, in the US, and
    already in the E.164 form the gate looks up (else every check would miss its consent)."""
    import phonenumbers

    from compliance.gate.recipient import parse

    picks = rng.sample(subjects, min(sample, len(subjects)))
    for number in picks:
        parsed = phonenumbers.parse(number, None)
        if not phonenumbers.is_valid_number(parsed):
            raise SystemExit(f"generated number {number} is not valid for phonenumbers")
        recipient = parse(number, "sms")
        if recipient.subject != number or recipient.market != "US":
            raise SystemExit(f"generated number {number} parses as {recipient}")
        if recipient.region not in ("US-CA", "US-FL"):
            raise SystemExit(f"generated number {number} is in {recipient.region}, not CA/FL")


QMARKS_11 = ", ".join("?" * 11)


def bench_clock() -> dt.datetime:
    """The gate's clock in this benchmark: the sends' own instant (a module function, so that
    the writer processes, started with spawn, can be handed it)."""
    return AT


def capture_digest() -> str:
    """What grant() stores for scope us-sms-offers: the sha256 of each capture text."""
    from compliance.gate.catalog import from_repo

    scope = from_repo(REPO).scopes[SCOPE]
    return ",".join(hashlib.sha256(c.text.encode("utf-8")).hexdigest() for c in scope.capture)


@dataclass
class Built:
    events: int
    subjects: int
    grants: int
    revokes: int
    latest_revoked: int  # subjects whose newest event is a revoke
    seconds: float
    size_bytes: int


def build_ledger(
    path: Path, n_events: int, n_subjects: int, seed: int, n_history: int = 0
) -> Built:
    """consent_events rows inserted with executemany in one write transaction, each with its
    own audit entry vouching for it, as grant() and revoke() write them. Per subject: the first
    event is a grant, later ones (in time) are revokes with a probability that makes ~10% of all
    events revokes; the rest are grants again (re-subscriptions). Then `n_history` earlier
    decisions (allowed marketing sends to random subjects over the 30 days before AT) are
    chained onto the audit trail, with the last days of them in recent_sends, so that the
    ledger has the size of one in use."""
    from compliance.gate import audit
    from compliance.gate.ledger import Ledger
    from compliance.gate.verify import DAY_US, RECENT_DAYS

    rng = random.Random(seed)
    subjects = subjects_for(n_subjects)
    check_numbers(subjects, rng)
    digest = capture_digest()
    extra = n_events - n_subjects  # events after each subject's first
    p_revoke = min(1.0, REVOKE_SHARE * n_events / extra) if extra > 0 else 0.0
    base, rest = divmod(n_events, n_subjects)
    end_us = int(AT.timestamp() * 1_000_000) - 3_600_000_000  # up to an hour before AT
    span_us = 365 * 86_400_000_000
    counts = Counter[str]()
    latest_revoked = 0
    utc = dt.timezone.utc
    ledger = Ledger(path, create=True, clock=bench_clock)
    # as the ledger stores a subject: itself, or a keyed hash with COMPLIANCE_SUBJECT_KEY set
    sid = ledger.sid
    hashed = ledger.subject_key is not None

    def rows() -> Any:
        nonlocal latest_revoked
        for i, raw in enumerate(subjects):
            subject = sid(raw)
            n = base + (1 if i < rest else 0)
            times = sorted(end_us - rng.randrange(span_us) for _ in range(n))
            action = "grant"
            for j, at_us in enumerate(times):
                action = "revoke" if j and rng.random() < p_revoke else "grant"
                counts[action] += 1
                at = dt.datetime.fromtimestamp(at_us / 1_000_000, utc).isoformat()
                if action == "grant":
                    yield (
                        subject,
                        "sms",
                        SCOPE,
                        "grant",
                        GRANT_SOURCES[j % 2],
                        at,
                        at_us,
                        digest,
                        f'{{"ip": "198.51.100.{rng.randrange(1, 255)}"}}',
                    )
                else:
                    yield (subject, "sms", SCOPE, "revoke", "support-call", at, at_us, None, "{}")
            latest_revoked += action == "revoke"

    t0 = time.perf_counter()
    try:
        ledger.conn.execute("PRAGMA cache_size=-262144")  # 256 MiB for the bulk insert
        with ledger.write() as conn:
            # one audit entry per consent event, vouching for its row (every column, typed),
            # as grant(), revoke() and `compliance consent import` write them; each recorded
            # when it happened
            tail = audit.tail_of(conn)
            entries: list[tuple[Any, ...]] = []
            events: list[tuple[Any, ...]] = []
            for number, row in enumerate(rows(), 1):
                subject, channel, scope, action, source, at, at_us, captured, evidence = row
                whole = (number, *row, tail[0] + 1)
                entry, tail = audit.entry(
                    tail,
                    at=at,
                    at_us=at_us,
                    kind=f"consent.{action}",
                    subject=subject,
                    channel=channel,
                    data={
                        "channel": channel,
                        "scope": scope,
                        "source": source,
                        "at": at,
                        "capture_digest": captured,
                        "evidence": json.loads(evidence),
                        "rows": {"consent_events": audit.rows_digest([whole])},
                    },
                    key=ledger.key,
                )
                entries.append(entry)
                events.append(whole)
                if len(entries) >= 50_000:
                    conn.executemany(audit.INSERT, entries)
                    conn.executemany(f"INSERT INTO consent_events VALUES ({QMARKS_11})", events)
                    entries, events = [], []
            conn.executemany(audit.INSERT, entries)
            conn.executemany(f"INSERT INTO consent_events VALUES ({QMARKS_11})", events)
            if hashed:  # the raw numbers live only in the erasable `subjects` table
                conn.executemany(
                    "INSERT OR IGNORE INTO subjects VALUES (?, ?)", ((sid(r), r) for r in subjects)
                )

            def history() -> Any:
                nonlocal tail
                month_us = 30 * 86_400_000_000
                at_end = int(AT.timestamp() * 1_000_000)
                for _ in range(n_history):
                    to = sid(rng.choice(subjects))
                    at_us = at_end - rng.randrange(month_us)
                    at = dt.datetime.fromtimestamp(at_us / 1_000_000, utc).isoformat()
                    row, tail = audit.entry(
                        tail,
                        at=at,
                        at_us=at_us,
                        kind="decision",
                        subject=to,
                        data=None,
                        outcome="allow",
                        purpose="marketing",
                        channel="sms",
                        send_us=at_us,
                        key=ledger.key,
                        text=audit.decision_text(
                            catalog="bench-history",
                            channel="sms",
                            market="US",
                            not_before=None,
                            outcome="allow",
                            reasons=[],
                            requested=None,
                            scheduled=at,
                            template=MARKETING,
                            to=to,
                            warnings=[],
                        ),
                    )
                    yield row

            conn.executemany(audit.INSERT, history())
            ledger._tail = tail
            # what the gate keeps of them for frequency caps: the last days' allowed sends
            conn.execute(
                "INSERT INTO recent_sends SELECT send_us / ?, subject, send_us, purpose, channel, "
                "seq FROM audit_log WHERE kind = 'decision' AND outcome = 'allow' AND "
                "send_us / ? >= ?",
                (DAY_US, DAY_US, int(AT.timestamp() * 1_000_000) // DAY_US - RECENT_DAYS),
            )
        # no ANALYZE: the gate never runs it, and statistics taken while audit_log holds one
        # entry make SQLite scan audit_log for the frequency-cap count
        ledger.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        ledger.close()
    seconds = time.perf_counter() - t0
    return Built(
        n_events,
        n_subjects,
        counts["grant"],
        counts["revoke"],
        latest_revoked,
        seconds,
        path.stat().st_size,
    )


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


@dataclass
class Timed:
    decisions: int
    seconds: float
    latencies_ns: list[int] = field(default_factory=list)  # per call
    outcomes: Counter[str] = field(default_factory=Counter)
    ledger_errors: int = 0

    @property
    def rate(self) -> float:
        return self.decisions / self.seconds

    def pct_ms(self, p: float) -> float:
        ordered = sorted(self.latencies_ns)
        index = min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))
        return ordered[index] / 1e6


def tally(decisions: list[Any], into: Timed) -> None:
    for d in decisions:
        key = d.outcome if not d.reasons else f"{d.outcome}:{d.reasons[0].code}"
        into.outcomes[key] += 1
        if d.id is None:
            into.ledger_errors += 1


def sends_for(subjects: list[str], template: str = MARKETING) -> list[Any]:
    from compliance import Send

    return [Send(to=s, template=template, at=AT) for s in subjects]


def time_check(gate: Any, sends: list[Any]) -> Timed:
    """Each gate.check() timed on its own; throughput is over the whole loop."""
    latencies = []
    decisions = []
    clock = time.perf_counter_ns
    start = clock()
    for send in sends:
        t = clock()
        decisions.append(gate.check(send))
        latencies.append(clock() - t)
    result = Timed(len(sends), (clock() - start) / 1e9, latencies)
    tally(decisions, result)
    return result


def time_check_many(gate: Any, sends: list[Any], batch: int) -> Timed:
    """gate.check_many() on consecutive batches; the time is the sum of the calls."""
    result = Timed(len(sends), 0.0)
    for i in range(0, len(sends), batch):
        chunk = sends[i : i + batch]
        t = time.perf_counter_ns()
        decisions = gate.check_many(chunk)
        took = time.perf_counter_ns() - t
        result.latencies_ns.append(took)
        result.seconds += took / 1e9
        tally(decisions, result)
    return result


def time_verify(path: Path, repeat: int = 3) -> tuple[float, Any]:
    """Best of `repeat` verifications on a fresh read-only connection."""
    from compliance.gate import audit
    from compliance.gate.verify import verify

    best, verdict = float("inf"), None
    now_us = int(AT.timestamp() * 1_000_000)
    for _ in range(repeat):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            t = time.perf_counter()
            verdict = verify(
                conn,
                audit.audit_key(),
                now_us=now_us,
                uri=f"file:{path}?mode=ro",
            )
            best = min(best, time.perf_counter() - t)
        finally:
            conn.close()
    return best, verdict


def profile_checks(path: Path, subjects: list[str], n: int, batch: int, top: int) -> str:
    """cProfile of n check() calls, then of n decisions through check_many(), with the
    synchronous=NORMAL ledger; the top entries by own time and by cumulative time."""
    from compliance import Gate

    gate = Gate.open(repo=REPO, ledger=path, clock=bench_clock)
    out = io.StringIO()
    try:
        time_check(gate, sends_for(subjects[:50]))  # warm up outside the profile
        singles = sends_for(subjects[50 : 50 + n])
        batched = sends_for(subjects[50 + n : 50 + 2 * n])
        runs = (
            (f"{n:,} check() calls", lambda: time_check(gate, singles)),
            (
                f"{n:,} decisions via check_many() in batches of {batch:,}",
                lambda: time_check_many(gate, batched, batch),
            ),
        )
        for title, run in runs:
            profiler = cProfile.Profile()
            profiler.enable()
            run()
            profiler.disable()
            print(f"cProfile of {title} (synchronous=NORMAL):", file=out)
            stats = pstats.Stats(profiler, stream=out).strip_dirs()
            stats.sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats(top)
    finally:
        gate.close()
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Concurrent writers
# --------------------------------------------------------------------------------------------


def writer(path: str, subjects: list[str], barrier: Any, queue: Any) -> None:
    """One process: open the gate, wait for the others, then check each subject."""
    from compliance import Gate, Send

    gate = Gate.open(repo=REPO, ledger=path, clock=bench_clock)
    sends = [Send(to=s, template=MARKETING, at=AT) for s in subjects]
    gate.check(Send(to=subjects[0], template=TRANSACTIONAL, at=AT))  # warm (its id is counted)
    barrier.wait()
    clock = time.perf_counter_ns  # CLOCK_MONOTONIC on Linux: comparable across processes
    ids, latencies, outcomes, errors = [], [], Counter[str](), 0
    start = clock()
    for send in sends:
        t = clock()
        d = gate.check(send)
        latencies.append(clock() - t)
        outcomes[d.outcome] += 1
        if d.id is None:
            errors += 1
        else:
            ids.append(d.id)
    end = clock()
    gate.close()
    queue.put(
        {
            "pid": os.getpid(),
            "start": start,
            "end": end,
            "ids": ids,
            "latencies": latencies,
            "outcomes": dict(outcomes),
            "errors": errors,
        }
    )


@dataclass
class Concurrent:
    writers: int
    per_writer: int
    seconds: float
    latencies_ns: list[int]
    expected: int
    found: int
    missing_ids: int
    duplicate_ids: int
    ledger_errors: int
    verify_seconds: float
    verdict: Any

    @property
    def lost(self) -> int:
        return self.expected - self.found + self.missing_ids + self.duplicate_ids

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.ledger_errors == 0
            and self.found == self.expected
            and self.verdict.ok
        )


def decision_count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM audit_log WHERE kind = 'decision'").fetchone()[0]
    finally:
        conn.close()


def run_writers(path: Path, subjects: list[str], n: int, per_writer: int) -> Concurrent:
    before = decision_count(path)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n)
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=writer,
            args=(str(path), subjects[i * per_writer : (i + 1) * per_writer], barrier, queue),
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"writer process {p.pid} exited {p.exitcode}")
    ids = [i for r in results for i in r["ids"]]
    errors = sum(r["errors"] for r in results)
    # every writer's warm-up check is one more decision in the trail
    expected = before + n * per_writer + n
    found = decision_count(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("CREATE TEMP TABLE ids (seq INTEGER)")
        conn.executemany("INSERT INTO ids VALUES (?)", [(i,) for i in ids])
        present = conn.execute(
            "SELECT COUNT(DISTINCT a.seq) FROM audit_log a JOIN ids USING (seq) "
            "WHERE a.kind = 'decision'"
        ).fetchone()[0]
    finally:
        conn.close()
    verify_seconds, verdict = time_verify(path, repeat=1)
    return Concurrent(
        n,
        per_writer,
        (max(r["end"] for r in results) - min(r["start"] for r in results)) / 1e9,
        [x for r in results for x in r["latencies"]],
        expected,
        found,
        len(set(ids)) - present,
        len(ids) - len(set(ids)),
        errors,
        verify_seconds,
        verdict,
    )


# --------------------------------------------------------------------------------------------
# Machine
# --------------------------------------------------------------------------------------------


def filesystem(path: Path) -> str:
    """The mount holding `path`, from /proc/mounts: fsync cost depends on it."""
    best = ("", "unknown", "")
    try:
        target = str(path.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best[0]):
                best = (mount, fstype, device)
    except OSError:
        pass
    return f"{best[1]} on {best[2]} mounted at {best[0]}" if best[0] else "unknown"


def machine(ledger_dir: Path) -> list[tuple[str, ...]]:
    from importlib.metadata import version

    return [
        *machine_rows(),
        ("sqlite", f"SQLite {sqlite3.sqlite_version}", f"phonenumbers {version('phonenumbers')}"),
        ("ledger fs", filesystem(ledger_dir), ""),
    ]


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def table(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns; the last column runs on, and a row with fewer cells lets its
    last cell run on."""
    width = max(len(r) for r in rows)
    widths = [
        max((len(r[i]) for r in rows if len(r) == width), default=0) for i in range(width - 1)
    ]
    lines = []
    for r in rows:
        cells = [f"{c:<{widths[i]}}" if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def mix(outcomes: Counter[str]) -> str:
    total = sum(outcomes.values()) or 1
    return ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in outcomes.most_common(3))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--events", type=int, default=1_000_000, metavar="N", help="consent events (1000000)"
    )
    p.add_argument(
        "--subjects", type=int, default=200_000, metavar="N", help="distinct numbers (200000)"
    )
    p.add_argument(
        "--checks", type=int, default=5_000, metavar="N", help="timed check() calls per run (5000)"
    )
    p.add_argument(
        "--history",
        type=int,
        default=1_000_000,
        metavar="N",
        help="earlier decisions already in the audit trail (1000000)",
    )
    p.add_argument(
        "--many",
        type=int,
        default=20_000,
        metavar="N",
        help="decisions via check_many per round (20000)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        metavar="N",
        help="check_many rounds; the best is the figure, as timeit does on a noisy machine (3)",
    )
    p.add_argument("--batch", type=int, default=1_000, metavar="N", help="check_many batch (1000)")
    p.add_argument(
        "--writer-checks",
        type=int,
        default=2_000,
        metavar="K",
        help=f"checks per process in the {WRITERS}-writer run (2000)",
    )
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile N check() calls and N check_many() decisions with cProfile and "
        "print the top entries (default: off)",
    )
    p.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="build the ledger in DIR/ledger.db and keep it (default: a temp folder)",
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write the figures to FILE as JSON (rows and machine), for bench/run.py",
    )
    args = p.parse_args(argv)
    if min(args.subjects, args.checks, args.many, args.batch, args.writer_checks, args.rounds) < 1:
        p.error(
            "--subjects, --checks, --many, --rounds, --batch and --writer-checks must be at least 1"
        )
    if args.history < 0:
        p.error("--history must be 0 or more")
    if args.events < args.subjects:
        p.error("--events must be at least --subjects (every subject has a grant)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from compliance import Gate

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="gate-speed-") as tmp:
        folder = args.out.resolve() if args.out else Path(tmp)
        if args.out and folder.exists() and any(folder.iterdir()):
            sys.exit(f"{folder} is not empty; give an empty or new folder to --out")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "ledger.db"

        say(
            f"building {args.events:,} consent events over {args.subjects:,} subjects and "
            f"{args.history:,} earlier decisions ..."
        )
        built = build_ledger(path, args.events, args.subjects, args.seed, args.history)
        say(f"built {path} in {built.seconds:.1f} s ({built.size_bytes / 2**20:.0f} MiB)")

        rng = random.Random(args.seed + 1)
        subjects = subjects_for(args.subjects)

        def draw(n: int) -> list[str]:
            return [rng.choice(subjects) for _ in range(n)]

        say("timing check() ...")
        gate = Gate.open(repo=REPO, ledger=path, clock=bench_clock)
        time_check(gate, sends_for(draw(100)))  # warm-up: imports, phonenumbers metadata
        normal = time_check(gate, sends_for(draw(args.checks)))
        transactional = time_check(gate, sends_for(draw(args.checks), TRANSACTIONAL))
        say("timing check_many() ...")
        rounds = [
            time_check_many(gate, sends_for(draw(args.many)), args.batch)
            for _ in range(args.rounds)
        ]
        many = max(rounds, key=lambda r: r.rate)
        gate.close()

        say("timing check(), durable=True ...")
        gate = Gate.open(repo=REPO, ledger=path, durable=True, clock=bench_clock)
        time_check(gate, sends_for(draw(100)))
        durable = time_check(gate, sends_for(draw(args.checks)))
        gate.close()

        say("timing audit verify ...")
        verify_seconds, verify_verdict = time_verify(path)

        say(f"{WRITERS} writer processes x {args.writer_checks:,} checks ...")
        conc = run_writers(path, draw(WRITERS * args.writer_checks), WRITERS, args.writer_checks)

        profile = None
        if args.profile:
            say(f"profiling {args.profile:,} check() and check_many() decisions ...")
            profile = profile_checks(
                path, draw(2 * args.profile + 50), args.profile, args.batch, 25
            )

        machine_rows = machine(folder)

    rows: list[tuple[str, ...]] = [("figure", "value", "goal", "detail")]
    rows.append(
        (
            "ledger",
            f"{built.events:,} events",
            "",
            f"{built.subjects:,} subjects; {built.grants:,} grants, {built.revokes:,} revokes "
            f"and {args.history:,} earlier decisions in the trail "
            f"({100 * built.latest_revoked / built.subjects:.0f}% of subjects end revoked); "
            f"built in {built.seconds:.1f} s, {built.size_bytes / 2**20:,.0f} MiB",
        )
    )
    for label, run in (("synchronous=NORMAL", normal), ("durable=True (FULL)", durable)):
        rows.append(
            (
                f"check(), {label}",
                f"{run.rate:,.0f}/s",
                f">= {CHECK_GOAL_PER_S:,}/s: {verdict(run.rate >= CHECK_GOAL_PER_S)}",
                f"{run.decisions:,} calls in {run.seconds:.2f} s; {mix(run.outcomes)}",
            )
        )
        p99 = run.pct_ms(99)
        rows.append(
            (
                f"check() p99, {label}",
                f"{p99:.2f} ms",
                f"<= {CHECK_GOAL_P99_MS:g} ms: {verdict(p99 <= CHECK_GOAL_P99_MS)}",
                f"p50 {run.pct_ms(50):.2f} ms, p90 {run.pct_ms(90):.2f} ms, "
                f"max {max(run.latencies_ns) / 1e6:.1f} ms",
            )
        )
    rows.append(
        (
            "check(), transactional",
            f"{transactional.rate:,.0f}/s",
            "(no goal)",
            f"{TRANSACTIONAL}: p50 {transactional.pct_ms(50):.2f} ms, "
            f"p99 {transactional.pct_ms(99):.2f} ms; {mix(transactional.outcomes)}",
        )
    )
    rows.append(
        (
            f"check_many(), batches of {args.batch:,}",
            f"{many.rate:,.0f}/s",
            f">= {MANY_GOAL_PER_S:,}/s: {verdict(many.rate >= MANY_GOAL_PER_S)}",
            f"best of {len(rounds)} rounds ("
            + ", ".join(f"{r.rate:,.0f}/s" for r in rounds)
            + f"): {many.decisions:,} decisions in {many.seconds:.2f} s; "
            f"p50 batch {many.pct_ms(50):.0f} ms; {mix(many.outcomes)}",
        )
    )
    verify_rate = verify_verdict.entries / verify_seconds
    rows.append(
        (
            "audit verify",
            f"{verify_rate:,.0f}/s",
            f">= {VERIFY_GOAL_PER_S:,}/s: {verdict(verify_rate >= VERIFY_GOAL_PER_S)}",
            f"{verify_verdict.entries:,} entries in {verify_seconds * 1000:.0f} ms (best of 3); "
            f"{'intact' if verify_verdict.ok else 'BROKEN at ' + str(verify_verdict.first_bad)}",
        )
    )
    conc_p99 = Timed(0, 1, conc.latencies_ns).pct_ms(99)
    rows.append(
        (
            f"{conc.writers} writers x {conc.per_writer:,} checks",
            f"{conc.writers * conc.per_writer / conc.seconds:,.0f}/s",
            "(no goal)",
            f"all processes together, {conc.seconds:.2f} s from first start to last end; "
            f"p50 {Timed(0, 1, conc.latencies_ns).pct_ms(50):.2f} ms, p99 {conc_p99:.2f} ms",
        )
    )
    rows.append(
        (
            f"{conc.writers} writers: lost",
            f"{conc.lost:,}",
            f"0 lost, chain verifies: {verdict(conc.ok)}",
            f"decision entries {conc.found:,} of {conc.expected:,} expected; "
            f"ledger.error {conc.ledger_errors}; ids missing {conc.missing_ids}, "
            f"duplicated {conc.duplicate_ids}; verify: {str(conc.verdict).splitlines()[0]} "
            f"({conc.verdict.entries / conc.verify_seconds:,.0f}/s)",
        )
    )
    print(table(rows))
    print()
    print(table([("machine", "", ""), *machine_rows]))
    if profile:
        print()
        print(profile)
    if args.json:  # the same rows, the goal cell split into goal and met (null: no goal)
        import json

        out = []
        for figure, value, goal, detail in rows[1:]:
            goal_text, _, said = goal.rpartition(": ")
            met = {"met": True, "NOT met": False}.get(said)
            if met is None:
                goal_text = "" if goal in ("", "(no goal)") else goal
            out.append(
                {"figure": figure, "value": value, "goal": goal_text, "met": met, "detail": detail}
            )
        data = {"script": "gate_speed", "rows": out, "machine": [list(m) for m in machine_rows]}
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
