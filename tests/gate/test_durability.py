"""Several processes on one ledger, and processes killed mid-write.

Concurrency: four processes check marketing sends while a fifth grants and revokes consent for
the same people. Every decision is in the audit trail exactly once, the chain verifies, and a
replay of the trail in `seq` order shows each decision saw exactly the consent committed before
it: an allow only under a grant in force, a consent.revoked / consent.missing deny only without
one.

SIGKILL: processes writing in bursts are killed at random moments, round after round. The
ledger opens and verifies each time, no consent event lacks its audit entry, and every allow or
consent change a process announced (after the call returned) is in the trail: nothing returned
is lost.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import queue
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from compliance.gate.ledger import open_ledger
from tests.backends import sql

ROOT = Path(__file__).resolve().parents[2]
US = ROOT / "examples" / "us"
TEMPLATE = "10dlc-weekend-sale"  # marketing, sms, consent scope us-sms-offers
SCOPE = "us-sms-offers"
# Thanksgiving 2026, 10:00 in California: inside every sending window. California numbers:
# no state frequency cap (Florida, Oklahoma and Maryland have one) to mix into the answers
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)
# consent changes are dated before every send (the gate reads events with at <= the send), in
# the order they are committed: what a decision sees is what was committed before it
CONSENT_FROM = AT - dt.timedelta(hours=1)
POOL = [f"+1{area}555{n:04d}" for area in ("415", "650", "213") for n in range(100, 116)]
WORKERS = 4
CHECKS = 5000
# A sender does other work between checks. Without a breather now and then the four checkers
# hold the write lock nearly all the time, and the consent writer, polling with SQLite's busy
# backoff (up to 100 ms between tries), gets in about ten times a second: too few changes
# among the decisions to test much. The consent writer, too, leaves the lock between changes.
PAUSE_EVERY, PAUSE_S = 25, 0.003
CONSENT_PAUSE_S = 0.001


@pytest.fixture(autouse=True)
def _plain_ledger(monkeypatch):
    """Raw subjects and no audit key, whatever the environment (the processes inherit it)."""
    monkeypatch.delenv("COMPLIANCE_SUBJECT_KEY", raising=False)
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY", raising=False)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> str:
    """examples/us linted once, as CI hands it to production: each process opens it quickly."""
    from compliance.gate.catalog import from_repo, write_bundle

    path = tmp_path_factory.mktemp("bundle") / "bundle.json"
    write_bundle(from_repo(US), path)
    return str(path)


def _warm() -> None:
    """Load the number metadata (half a second, on the first number parsed) before the start."""
    from compliance.gate.recipient import parse

    parse(POOL[0], "sms")


# concurrency -----------------------------------------------------------------------------------


def _checker(bundle: str, ledger: str, worker: int, go, results) -> None:
    """CHECKS marketing sends to the pool; reports (id, outcome, subject, reasons) of each."""
    from compliance import Gate, Send

    gate = Gate.open(bundle=bundle, ledger=ledger, clock=lambda: AT)
    _warm()
    rng = random.Random(1000 + worker)
    go.wait(60)
    answers = []
    for i in range(CHECKS):
        if i % PAUSE_EVERY == PAUSE_EVERY - 1:
            time.sleep(PAUSE_S)
        to = rng.choice(POOL)
        decision = gate.check(Send(to=to, template=TEMPLATE, at=AT))
        answers.append((decision.id, decision.outcome, to, [r.code for r in decision.reasons]))
    gate.close()
    results.put(("checker", worker, answers))


def _consenter(bundle: str, ledger: str, go, stop, results) -> None:
    """Grants and revokes us-sms-offers for the pool until told to stop; reports (seq, action,
    subject) of each change."""
    from compliance import Gate

    gate = Gate.open(bundle=bundle, ledger=ledger, clock=lambda: AT)
    _warm()
    rng = random.Random(7)
    go.wait(60)
    changes = []
    k = 0
    while not stop.is_set() or len(changes) < 50:
        subject = rng.choice(POOL)
        action = rng.choice(("grant", "revoke"))
        k += 1
        at = CONSENT_FROM + dt.timedelta(microseconds=k)
        record = gate.ledger.grant if action == "grant" else gate.ledger.revoke
        seq = record(subject=subject, channel="sms", scope=SCOPE, source="test", at=at)
        changes.append((seq, action, subject))
        time.sleep(CONSENT_PAUSE_S)
    gate.close()
    results.put(("consenter", 0, changes))


def test_four_checkers_and_a_consent_writer_see_committed_consent(ledger_at, bundle):
    ledger = str(ledger_at)
    open_ledger(ledger, create=True).close()  # create the ledger once, as a deployment would
    ctx = multiprocessing.get_context("spawn")
    go, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    checkers = [
        ctx.Process(target=_checker, args=(bundle, ledger, w, go, results)) for w in range(WORKERS)
    ]
    consenter = ctx.Process(target=_consenter, args=(bundle, ledger, go, stop, results))
    procs = [*checkers, consenter]
    try:
        for p in procs:
            p.start()
        go.set()
        reported: dict[str, list] = {}
        answers = []
        deadline = time.monotonic() + 150
        while len(reported) < WORKERS:
            assert all(p.exitcode in (None, 0) for p in procs), [p.exitcode for p in procs]
            try:
                role, worker, got = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"checkers did not finish: {len(reported)} of {WORKERS} reported")
            assert role == "checker"
            reported[f"{role}{worker}"] = got
            answers += got
        stop.set()
        role, _, changes = results.get(timeout=60)
        assert role == "consenter"
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()

    db = open_ledger(ledger)
    try:
        verdict = db.verify()
        assert verdict.ok, verdict
    finally:
        db.close()
    rows = sql(ledger, "SELECT seq, kind, subject, outcome, data FROM audit_log ORDER BY seq")
    events = sql(ledger, "SELECT audit_seq, action, subject, channel, scope FROM consent_events")
    trail = {
        seq: (kind, subject, outcome, json.loads(data))
        for seq, kind, subject, outcome, data in rows
    }

    # every decision is in the trail, once, as the worker got it
    ids = [a[0] for a in answers]
    assert len(answers) == WORKERS * CHECKS
    unaudited = [a for a in answers if a[0] is None]
    assert not unaudited, f"{len(unaudited)} answers without an audit entry: {unaudited[:3]}"
    assert len(set(ids)) == len(ids), "two decisions got the same audit entry"
    for seq, outcome, to, reasons in answers:
        kind, subject, logged, data = trail[seq]
        assert (kind, subject, logged) == ("decision", to, outcome), seq
        assert data["reasons"] == reasons and data["template"] == TEMPLATE, seq
    decisions = [seq for seq, (kind, *_) in trail.items() if kind == "decision"]
    assert sorted(decisions) == sorted(ids)

    # every consent change is in the trail with its event, and nothing else was written
    assert len({c[0] for c in changes}) == len(changes)
    for seq, action, subject in changes:
        kind, logged, _, data = trail[seq]
        assert (kind, logged, data["channel"], data["scope"]) == (
            f"consent.{action}",
            subject,
            "sms",
            SCOPE,
        ), seq
    assert sorted(events) == sorted((s, a, subj, "sms", SCOPE) for s, a, subj in changes)
    assert len(trail) == len(ids) + len(changes) + 1  # and the ledger.init entry

    # replay in seq order: each decision answers the consent committed before it
    state: dict[str, str] = {}  # subject -> latest consent action for the scope on sms
    seen = {"allow": 0, "consent.revoked": 0, "consent.missing": 0}
    for seq in sorted(trail):
        kind, subject, outcome, data = trail[seq]
        if kind == "ledger.init":
            continue
        if kind in ("consent.grant", "consent.revoke"):
            if data["channel"] == "sms" and data["scope"] in (SCOPE, None):
                state[subject] = kind.split(".")[1]
            continue
        assert kind == "decision", (seq, kind)
        in_force = state.get(subject)
        if outcome == "allow":
            assert in_force == "grant", f"entry {seq}: allowed {subject} with consent {in_force}"
            seen["allow"] += 1
        else:
            assert outcome == "deny", (seq, outcome, data)
            assert in_force != "grant", f"entry {seq}: denied {subject} under a grant: {data}"
            expected = "consent.revoked" if in_force == "revoke" else "consent.missing"
            assert data["reasons"] == [expected], (seq, in_force, data)
            seen[expected] += 1

    # the processes really ran together: consent changed many times among the decisions
    first, last = min(ids), max(ids)
    assert sum(first < c[0] < last for c in changes) >= 50, (len(changes), first, last)
    assert seen["allow"] > 200 and seen["consent.revoked"] > 200, seen


# SIGKILL ---------------------------------------------------------------------------------------

ROUNDS = 20
KILLED = 3


def _burst(bundle: str, ledger: str, seed: int, out: str, go) -> None:
    """Writes in bursts until killed, announcing on stdout, flushed, what each call returned
    once it returned: "g SEQ" and "r SEQ" for consent changes, "a ID" for allowed decisions. A
    process killed before announcing leaves no claim; one killed after must find its claim in
    the trail. Forked from a parent that loaded everything already: it starts at once."""
    from compliance import Gate, Send

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)  # stdout, at the descriptor: what a killed process wrote is in the file
    os.close(fd)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (the process never exits)
    # its own connection, opened after the fork
    gate = Gate.open(bundle=bundle, ledger=ledger, clock=lambda: AT)
    step = iter(range(seed * 10**6, (seed + 1) * 10**6))  # each event at its own instant
    rng = random.Random(seed)
    pool = [f"+1{area}555{n:04d}" for area in ("415", "650", "213") for n in range(200, 240)]

    def allowed(decisions) -> None:
        for decision in decisions:
            if decision.outcome == "allow":
                print("a", decision.id, flush=True)

    print("ready", flush=True)
    go.wait(60)  # the siblings start together, once every one has opened the ledger
    while True:
        who = rng.choice(pool)
        seq = gate.ledger.grant(
            subject=who,
            channel="sms",
            scope=SCOPE,
            source="burst",
            at=CONSENT_FROM + dt.timedelta(microseconds=next(step)),
        )
        print("g", seq, flush=True)
        allowed([gate.check(Send(to=who, template=TEMPLATE, at=AT))])
        allowed(
            gate.check_many(Send(to=rng.choice(pool), template=TEMPLATE, at=AT) for _ in range(4))
        )
        if rng.random() < 0.3:
            seq = gate.ledger.revoke(
                subject=rng.choice(pool),
                channel="sms",
                scope=SCOPE,
                source="burst",
                at=CONSENT_FROM + dt.timedelta(microseconds=next(step)),
            )
            print("r", seq, flush=True)


CLAIMED = {"a": ("decision", "allow"), "g": ("consent.grant", None), "r": ("consent.revoke", None)}


def _claims(out: Path) -> list[tuple[str, int]]:
    """What a killed process announced: whole lines only (the last may be cut)."""
    text = out.read_text()
    lines = text.split("\n")[:-1]  # after the last newline: nothing, or a cut line
    assert lines and lines[0] == "ready", text[:200]
    claims = []
    for line in lines[1:]:
        tag, value = line.split()
        claims.append((tag, int(value)))
    return claims


def _wait_ready(outs: list[Path], procs: list, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not all(out.exists() and out.read_text().startswith("ready\n") for out in outs):
        assert all(p.exitcode is None for p in procs), [p.exitcode for p in procs]
        assert time.monotonic() < deadline, "the burst processes did not start"
        time.sleep(0.01)


def _count(ledger: str, statement: str) -> int:
    return sql(ledger, statement)[0][0]  # type: ignore[no-any-return]


def test_sigkill_during_bursts_loses_nothing_that_was_returned(tmp_path, ledger_at, bundle):
    from compliance.gate.recipient import parse

    ledger = str(ledger_at)
    open_ledger(ledger, create=True).close()
    parse(POOL[0], "sms")  # the children inherit the loaded modules and number metadata
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(20261126)
    announced = {"a": 0, "g": 0, "r": 0}
    for round_ in range(ROUNDS):
        outs = [tmp_path / f"round{round_}-{n}.out" for n in range(KILLED)]
        go = ctx.Event()
        procs = [
            ctx.Process(target=_burst, args=(bundle, ledger, round_ * KILLED + n, str(out), go))
            for n, out in enumerate(outs)
        ]
        try:
            for p in procs:
                p.start()
            _wait_ready(outs, procs)
            go.set()
            start = time.monotonic()
            for when, p in sorted(((rng.uniform(0.1, 0.5), p) for p in procs), key=lambda x: x[0]):
                time.sleep(max(0.0, start + when - time.monotonic()))
                assert p.exitcode is None, f"round {round_}: a burst process died by itself"
                os.kill(p.pid, signal.SIGKILL)
        finally:
            for p in procs:
                if p.pid is not None:  # started
                    if p.exitcode is None:
                        p.kill()
                    p.join()
        assert all(p.exitcode == -signal.SIGKILL for p in procs)

        db = open_ledger(ledger)  # opens after every kill
        try:
            verdict = db.verify()
            assert verdict.ok, f"round {round_}: {verdict}"
            # a consent event and its audit entry are written in one transaction: both or none
            orphans = _count(
                ledger,
                "SELECT COUNT(*) FROM consent_events c WHERE NOT EXISTS (SELECT 1 FROM audit_log a"
                " WHERE a.seq = c.audit_seq AND a.kind = 'consent.' || c.action)",
            )
            assert orphans == 0, f"round {round_}: {orphans} consent events lack their entry"
            unrecorded = _count(
                ledger,
                "SELECT COUNT(*) FROM audit_log WHERE kind IN ('consent.grant', 'consent.revoke')"
                " AND seq NOT IN (SELECT audit_seq FROM consent_events)",
            )
            assert unrecorded == 0, f"round {round_}: {unrecorded} consent entries lack an event"
            # and an allow counts toward frequency caps from the transaction that wrote it
            uncounted = _count(
                ledger,
                "SELECT COUNT(*) FROM audit_log WHERE kind = 'decision' AND outcome = 'allow'"
                " AND seq NOT IN (SELECT seq FROM recent_sends)",
            )
            assert uncounted == 0, f"round {round_}: {uncounted} allows missing from recent_sends"
            # whatever a process was given back before it died is in the trail, as given
            for out in outs:
                for tag, seq in _claims(out):
                    found = sql(ledger, "SELECT kind, outcome FROM audit_log WHERE seq = ?", (seq,))
                    row = found[0] if found else None
                    assert row == CLAIMED[tag], f"round {round_}: {out.name}: {tag} {seq} is {row}"
                    announced[tag] += 1
        finally:
            db.close()
    # the kills landed mid-stream, with decisions and consent changes returned before them
    assert min(announced.values()) > 0, announced
