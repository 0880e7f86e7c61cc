"""`compliance audit export` streams: its memory does not grow with the trail. The five-million
entry run is a soak (python bench/export_soak.py); here a trail ten times longer than another
must export in the same memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from compliance.gate import audit
from compliance.gate.ledger import Ledger

# the command's own peak RSS in KiB: VmHWM on Linux, since ru_maxrss carries the peak of
# the process that started this one over exec (a child of a large pytest worker would report
# the worker's memory, and the test would pass without measuring the export)
PEAK = """
import resource, sys
from compliance.cli import main
code = main(sys.argv[1:])
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak, code)
"""


def build_trail(path: Path, entries: int) -> None:
    """A ledger whose trail holds `entries` decisions, chained as the gate chains them."""
    ledger = Ledger(path, create=True)
    with ledger.write() as conn:
        tail = audit.tail_of(conn)  # after the ledger.init entry

        def rows():
            nonlocal tail
            for i in range(entries):
                at_us = 1_790_000_000_000_000 + i * 1_000_000
                row, tail = audit.entry(
                    tail,
                    at=f"2026-09-21T00:00:{i % 60:02d}+00:00",
                    at_us=at_us,
                    kind="decision",
                    subject=f"+1415555{i % 10_000:04d}",
                    data=None,
                    outcome="allow",
                    purpose="marketing",
                    text=audit.decision_text(
                        catalog="c" * 64,
                        channel="sms",
                        market="US",
                        not_before=None,
                        outcome="allow",
                        reasons=[],
                        requested=None,
                        scheduled="2026-09-21T00:00:00+00:00",
                        template="10dlc-weekend-sale",
                        to=f"+1415555{i % 10_000:04d}",
                        warnings=[],
                    ),
                )
                yield row

        conn.executemany(audit.INSERT, rows())
    ledger.close()


def export_peak_kib(tmp_path: Path, ledger: Path, fmt: str) -> tuple[int, Path]:
    script = tmp_path / "peak.py"
    script.write_text(PEAK)
    out = tmp_path / f"{ledger.stem}.{fmt}"
    run = subprocess.run(
        [
            sys.executable,
            str(script),
            "audit",
            "export",
            "--ledger",
            str(ledger),
            "--format",
            fmt,
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    peak, code = run.stdout.split()
    assert code == "0"
    return int(peak), out


def test_export_memory_does_not_grow_with_the_trail(tmp_path):
    small, large = tmp_path / "small.db", tmp_path / "large.db"
    build_trail(small, 20_000)
    build_trail(large, 200_000)
    for fmt in ("jsonl", "csv"):
        small_peak, _ = export_peak_kib(tmp_path, small, fmt)
        large_peak, out = export_peak_kib(tmp_path, large, fmt)
        # ten times the entries, the same memory (a few MiB of allocator noise)
        assert large_peak - small_peak < 8 * 1024, (fmt, small_peak, large_peak)
        with out.open(encoding="utf-8") as handle:
            lines = sum(1 for _ in handle)
        assert lines == 200_001 + (1 if fmt == "csv" else 0)
    with (tmp_path / "large.jsonl").open(encoding="utf-8") as handle:
        opening = json.loads(handle.readline())
        first = json.loads(handle.readline())
    assert opening["kind"] == "ledger.init"
    assert first["seq"] == 2 and first["data"]["outcome"] == "allow"
