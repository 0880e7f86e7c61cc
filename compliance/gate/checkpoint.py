"""Housekeeping in a thread of the ledger's own: WAL checkpoints and pruning of old sends.

The WAL is copied back into the database once it passes CHECKPOINT_PAGES, so that the copy
(and its fsync) does not run inside a decision's commit; SQLite's own checkpoint, in the
commit, is the backstop should the thread fall behind. Allowed sends older than what frequency
caps can reach are pruned by the clock, never by a send's own time (a send scheduled far ahead
must not make the pruning delete what caps count today).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from compliance.gate.verify import DAY_US, RECENT_DAYS

PRUNE_EVERY_S = 3600.0


class Checkpointer:
    """A daemon thread with its own connection: a PASSIVE checkpoint (it never waits for, nor
    blocks, readers and writers) when the WAL is large, and an hourly prune. SQLite runs the
    checkpoint outside the GIL, so on a machine with two cores it overlaps the next decisions
    instead of stalling a commit."""

    CHECKPOINT_PAGES = 1000
    BACKSTOP_PAGES = 20000
    BUSY_TIMEOUT_S = 5.0

    def __init__(self, path: Path, durable: bool, clock: Callable[[], dt.datetime]) -> None:
        self.path = path
        self.wal = Path(f"{path}-wal")
        self.durable = durable
        self.clock = clock
        self.threshold = self.CHECKPOINT_PAGES * 4096
        self._wake = threading.Event()
        self._since = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="compliance-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self, entries: int) -> None:
        """A commit appended `entries` audit entries: wake the thread once every few hundred
        (waking it on every commit costs a single check() a fifth of its time)."""
        self._since += entries
        if self._since >= 256:
            self._since = 0
            self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        conn = None
        try:
            # mode=rw: a ledger file that has gone away is never created again from here
            conn = sqlite3.connect(
                f"{self.path.absolute().as_uri()}?mode=rw",
                uri=True,
                timeout=self.BUSY_TIMEOUT_S,
                isolation_level=None,
            )
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            pruned = 0.0
            while not self._stopping:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                if self._wal_bytes() > self.threshold:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                if time.monotonic() - pruned > PRUNE_EVERY_S:
                    pruned = time.monotonic()
                    with suppress(Exception):  # a clock that fails is the gate's to report
                        prune(conn, self.clock())
        except sqlite3.Error:
            return  # SQLite's own checkpoint in the commit (BACKSTOP_PAGES) takes over
        finally:
            if conn is not None:
                conn.close()

    def _wal_bytes(self) -> int:
        try:
            return self.wal.stat().st_size
        except OSError:
            return 0


def prune(conn: sqlite3.Connection, now: dt.datetime) -> None:
    """Drop allowed sends scheduled more than RECENT_DAYS and a day before `now` (the day of
    margin covers clocks of several hosts that disagree; verify expects every send of the last
    RECENT_DAYS). Skipped when another process holds the write lock."""
    today = int(now.timestamp() * 1_000_000) // DAY_US
    conn.execute("PRAGMA busy_timeout=100")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return
    try:
        conn.execute("DELETE FROM recent_sends WHERE day < ?", (today - RECENT_DAYS - 1,))
        conn.execute("COMMIT")
    except sqlite3.Error:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
