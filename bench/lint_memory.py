"""Print the peak memory of `compliance lint` on generated template repos of growing size.

    python bench/lint_memory.py                          # 10,000, 50,000 and 100,000 templates
    python bench/lint_memory.py --sizes 2000,20000       # other sizes
    python bench/lint_memory.py --whole                  # also with every document kept whole

For each size it generates a repo with bench/lint_speed.py's generator (the templates, 50 senders
and 20 consent scopes), runs `python -m compliance lint <repo> --format json -o <file>` once as a
subprocess, and prints that process's peak RSS (getrusage), its wall time, and what each document
adds to the peak of a 10-template repo (the interpreter, the rule packs).

Above engine.RELEASE_ABOVE_FILES files the linter releases each document once it is indexed, so
memory grows by a compact record per document. `--whole` also lints each repo with that limit
raised above the repo's size, every document kept whole with its node tree and model, for
comparison (this takes ~3 GiB at 100,000 templates).

This is a script that prints figures, not a test: tests/test_scale.py asserts a bound at 100,000
templates. The repos go to a temp folder and are deleted after each size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import machine_rows
from lint_speed import generate_repo, table

# the compliance of this checkout, here and in the lint runs, whatever the environment installed
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from compliance.engine import RELEASE_ABOVE_FILES  # noqa: E402

# `python -m compliance` with every document kept whole, whatever the repo's size
WHOLE = (
    "import sys, compliance.engine as engine; engine.RELEASE_ABOVE_FILES = 1 << 62; "
    "from compliance.cli import main; sys.argv[0] = 'compliance'; raise SystemExit(main())"
)


# Runs its arguments as a command and prints that child's wall time and peak RSS (getrusage:
# KiB on Linux, bytes on macOS). A small process of its own, because on Linux a child's
# ru_maxrss also counts the memory of the process it was forked from: this script's, which
# grows with the repos it generates.
PEAK_OF_CHILD = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "run = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "seconds = time.perf_counter() - start\n"
    "sys.stderr.write(run.stderr.decode('utf-8', 'replace')[-2000:])\n"
    "print(seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(run.returncode)\n"
)


def measure(root: Path, report: Path, whole: bool) -> tuple[float, float, dict]:
    """(seconds, peak RSS in MiB, the report's summary and finding count)."""
    head = [sys.executable, "-c", WHOLE] if whole else [sys.executable, "-m", "compliance"]
    cmd = [*head, "lint", str(root), "--format", "json", "-o", str(report)]
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    run = subprocess.run(
        [sys.executable, "-c", PEAK_OF_CHILD, *cmd],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {run.returncode}:\n{run.stderr}")
    seconds, maxrss = run.stdout.split()
    kib = int(maxrss) / 1024 if sys.platform == "darwin" else int(maxrss)  # bytes there
    data = json.loads(report.read_text(encoding="utf-8"))
    summary = dict(data["summary"], findings=len(data["findings"]))
    return float(seconds), kib / 1024, summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--sizes",
        default="10000,50000,100000",
        metavar="N,N,...",
        help="templates per repo, comma-separated (default: 10000,50000,100000)",
    )
    p.add_argument("--senders", type=int, default=50, metavar="N", help="senders (default: 50)")
    p.add_argument("--scopes", type=int, default=20, metavar="N", help="scopes (default: 20)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    p.add_argument("--whole", action="store_true", help="also lint with every document kept whole")
    args = p.parse_args(argv)
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        p.error("--sizes takes whole numbers separated by commas, e.g. 10000,50000")
    if not args.sizes or min(args.sizes) < 1:
        p.error("--sizes must name at least one size, each at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    modes = [False, True] if args.whole else [False]
    rows: list[tuple[str, str, str]] = [("repo", "peak RSS", "detail")]
    with tempfile.TemporaryDirectory(prefix="lint-memory-") as tmp:
        report = Path(tmp) / "report.json"
        base = Path(tmp) / "base"
        generate_repo(base, 10, 9, 2, args.seed)
        _, base_mib, _ = measure(base, report, whole=False)
        shutil.rmtree(base)
        rows.append(("10 templates", f"{base_mib:,.0f} MiB", "the fixed part: interpreter, packs"))
        for size in args.sizes:
            root = Path(tmp) / f"repo{size}"
            print(f"{size:,} templates ...", file=sys.stderr)
            generate_repo(root, size, args.senders, args.scopes, args.seed)
            for whole in modes:
                seconds, mib, summary = measure(root, report, whole)
                docs = summary["documents"]
                released = not whole and summary["files"] > RELEASE_ABOVE_FILES
                per_doc = (mib - base_mib) * 1024 * 1024 / docs
                rows.append(
                    (
                        f"{size:,} templates" + (" (whole)" if whole else ""),
                        f"{mib:,.0f} MiB",
                        f"{docs:,} documents, {summary['findings']:,} findings, "
                        f"{'released' if released else 'kept whole'}; "
                        f"{per_doc / 1024:.1f} KiB per document more than 10 templates take; "
                        f"{seconds:.1f} s, {docs / seconds:,.0f} docs/s",
                    )
                )
            shutil.rmtree(root)
    print(table(rows))
    print()
    print(table([("machine", "", ""), *machine_rows()]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # a lint run failed: say which, with its stderr
        sys.exit(f"lint_memory: {exc}")
