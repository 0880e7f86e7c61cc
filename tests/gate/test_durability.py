"""Several processes on one ledger, and processes killed mid-write: nothing is lost, the
ledger opens and the audit trail verifies."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from compliance.gate.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
US = ROOT / "examples" / "us"
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)


def _worker(ledger: str, worker: int, count: int) -> None:
    from compliance import Gate, Send

    gate = Gate.open(repo=US, ledger=ledger)
    for i in range(count):
        to = f"+1415555{worker:01d}{i % 1000:03d}"
        gate.check(Send(to=to, template="10dlc-order-shipped", at=AT + dt.timedelta(seconds=i)))
    gate.close()


def _granter(ledger: str, count: int) -> None:
    from compliance import Gate

    gate = Gate.open(repo=US, ledger=ledger)
    for i in range(count):
        gate.ledger.grant(
            subject=f"+1415555{9}{i % 1000:03d}",
            channel="sms",
            scope="us-sms-offers",
            source="bench",
            at=AT,
        )
    gate.close()


def test_four_writers_and_a_consent_writer_lose_nothing(tmp_path):
    ledger = str(tmp_path / "shared.db")
    Ledger(ledger).close()  # create the schema once, as a deployment would
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(ledger, w, 150)) for w in range(4)]
    procs.append(ctx.Process(target=_granter, args=(ledger, 100)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    db = Ledger(ledger)
    kinds = dict(db.conn.execute("SELECT kind, COUNT(*) FROM audit_log GROUP BY kind"))
    assert kinds == {"decision": 600, "consent.grant": 100}
    events = db.conn.execute("SELECT COUNT(*) FROM consent_events").fetchone()[0]
    assert events == 100
    assert db.verify().ok


BURST = """
import datetime as dt, sys
from compliance import Gate, Send
gate = Gate.open(repo=sys.argv[1], ledger=sys.argv[2])
at = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)
print("ready", flush=True)
i = 0
while True:
    gate.ledger.grant(subject="+14155550%03d" % (i % 1000), channel="sms",
                      scope="us-sms-offers", source="burst", at=at)
    gate.check_many([Send(to="+14155550%03d" % (i % 1000), template="10dlc-weekend-sale",
                          at=at) for _ in range(5)])
    i += 1
"""


def test_sigkill_during_bursts_leaves_a_ledger_that_opens_and_verifies(tmp_path):
    ledger = str(tmp_path / "killed.db")
    script = tmp_path / "burst.py"
    script.write_text(BURST)
    for round_ in range(5):
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), str(US), ledger], stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        time.sleep(0.3 + 0.1 * round_)
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        db = Ledger(ledger)  # opens after every kill
        verdict = db.verify()
        assert verdict.ok, verdict
        # every consent event has the audit entry written in its transaction
        orphans = db.conn.execute(
            "SELECT COUNT(*) FROM consent_events c LEFT JOIN audit_log a ON a.seq = c.audit_seq "
            "WHERE a.seq IS NULL"
        ).fetchone()[0]
        assert orphans == 0
        db.close()
    assert verdict.entries > 0
