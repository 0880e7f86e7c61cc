"""Soak: export audit trails of growing length and print the exporter's peak memory, which
must stay flat (the export streams), and its rate.

    python bench/export_soak.py                      # 500,000 and 5,000,000 entries
    python bench/export_soak.py --entries 100000 1000000

Each trail is built directly (chained as the gate chains decisions) in a temporary folder,
then `compliance audit export --format jsonl -o FILE` runs in a fresh process that reports
its own peak RSS. Needs about 500 bytes of disk per entry for the ledger and as much again
for the export. A script that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gate.test_export_scale import PEAK, build_trail  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[500_000, 5_000_000], metavar="N")
    args = parser.parse_args(argv)
    print(f"{'entries':>12}  {'build s':>8}  {'export s':>8}  {'entries/s':>10}  {'peak RSS':>9}")
    with tempfile.TemporaryDirectory(prefix="export-soak-") as tmp:
        folder = Path(tmp)
        script = folder / "peak.py"
        script.write_text(PEAK)
        for n in args.entries:
            ledger = folder / f"trail-{n}.db"
            started = time.perf_counter()
            build_trail(ledger, n)
            built = time.perf_counter() - started
            out = folder / f"trail-{n}.jsonl"
            started = time.perf_counter()
            run = subprocess.run(
                [
                    sys.executable,
                    str(script),
                    "audit",
                    "export",
                    "--ledger",
                    str(ledger),
                    "--format",
                    "jsonl",
                    "-o",
                    str(out),
                ],
                capture_output=True,
                text=True,
            )
            took = time.perf_counter() - started
            if run.returncode != 0:
                print(run.stderr, file=sys.stderr)
                return 1
            peak_kib = int(run.stdout.split()[0])
            print(
                f"{n:>12,}  {built:>8.1f}  {took:>8.1f}  {n / took:>10,.0f}  "
                f"{peak_kib / 1024:>7.0f} MiB"
            )
            ledger.unlink()
            out.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
