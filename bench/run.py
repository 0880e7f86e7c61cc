"""Run every benchmark and print one table of figures, goals and verdicts.

    python bench/run.py                 # the full benchmarks (a few minutes)
    python bench/run.py --quick         # small sizes: a smoke run, figures not comparable
    python bench/run.py --record        # and add (or update) today's section in bench/RESULTS.md

Each benchmark script (lint_speed.py, gate_speed.py, ledger_backends.py: SQLite and
PostgreSQL side by side, on the server at COMPLIANCE_TEST_PG or 127.0.0.1:5432, then
service_speed.py: the gate over HTTP against the gate in-process, and report_speed.py:
`compliance report` on a ledger of 2,000,000 entries) runs in a
process of its own, one after the other, with --json FILE; their progress goes to standard
error as it happens, their own tables are not shown. The figures are then printed as one table
(figure, value, goal, met, detail) followed by the machine description, once. The exit status
is 1 when a benchmark failed
to run, 0 otherwise: a goal that is not met is a figure, not a failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
RESULTS_INTRO = """# Benchmark results

Figures from `python bench/run.py --record`, one section per day and command, oldest first.
Compare runs made on the same machine only; `--quick` runs are smoke runs at small sizes and are
not comparable with full runs. What each figure means: bench/README.md.
"""
HEADER = ("figure", "value", "goal", "met", "detail")


class Bench(NamedTuple):
    script: str
    quick: tuple[str, ...]  # options for --quick: small sizes


BENCHES = (
    Bench("lint_speed.py", ("--templates", "1000", "--repeat", "1", "--startup-runs", "3")),
    Bench(
        "gate_speed.py",
        (
            *("--events", "100000", "--subjects", "20000", "--history", "100000"),
            *("--checks", "1000", "--many", "5000", "--rounds", "2", "--writer-checks", "200"),
        ),
    ),
    Bench(
        "ledger_backends.py",
        ("--events", "20000", "--subjects", "5000", "--history", "5000", "--seconds", "1"),
    ),
    Bench(
        "service_speed.py",
        ("--events", "20000", "--subjects", "5000", "--history", "5000", "--seconds", "1"),
    ),
    Bench("report_speed.py", ("--entries", "20000", "--timeout", "120")),
)

# --------------------------------------------------------------------------------------------
# Merging and formatting (no benchmark runs here; tests/test_bench_run.py imports these)
# --------------------------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    return "" if met is None else "met" if met else "NOT met"


def merge(results: list[dict[str, Any]]) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """The rows of every result, in order, as (figure, value, goal, met, detail) strings; and one
    machine description: each line once, a line that differs between scripts (the same label
    with another value) kept with the script's name."""
    rows = [
        (r["figure"], r["value"], r["goal"], verdict(r["met"]), r["detail"])
        for result in results
        for r in result["rows"]
    ]
    machine: list[tuple[str, ...]] = []
    first: dict[str, tuple[str, ...]] = {}
    for result in results:
        for line in result["machine"]:
            line = tuple(line)
            label = line[0]
            if label not in first:
                first[label] = line
                machine.append(line)
            elif first[label] != line:
                machine.append((f"{label} ({result.get('script', '?')})", *line[1:]))
    return rows, machine


def text_table(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns, the last one running on; short rows are padded."""
    n = max(len(r) for r in rows)
    rows = [(*r, *("",) * (n - len(r))) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(n - 1)]
    return "\n".join(
        "  ".join([*(f"{c:<{w}}" for c, w in zip(r[:-1], widths, strict=True)), r[-1]]).rstrip()
        for r in rows
    )


def render_text(rows: list[tuple[str, ...]], machine: list[tuple[str, ...]]) -> str:
    return text_table([HEADER, *rows]) + "\n\n" + text_table([("machine", "", ""), *machine])


def md_table(header: tuple[str, ...], rows: list[tuple[str, ...]], align: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in header) + " |"]
    lines.append("| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |")
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(rows: list[tuple[str, ...]], machine: list[tuple[str, ...]]) -> str:
    return (
        md_table(HEADER, rows, "lrlll")
        + "\n\n"
        + md_table(("machine", "", ""), [(*m, *("",) * (3 - len(m))) for m in machine], "lll")
    )


def record(path: Path, heading: str, body: str) -> None:
    """Add the section `## heading` with `body` at the end of `path` (created with an intro if
    missing), or replace the section of that heading if there is one already."""
    text = path.read_text("utf-8") if path.exists() else RESULTS_INTRO
    section = f"## {heading}\n\n{body.strip()}\n"
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == f"## {heading}"]
    if starts:
        start = starts[0]
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, "utf-8")


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def run_bench(bench: Bench, quick: bool, folder: Path) -> dict[str, Any] | str:
    """Run one script in its own process; its JSON result, or why it failed."""
    out = folder / (Path(bench.script).stem + ".json")
    cmd = [sys.executable, str(BENCH / bench.script), *(bench.quick if quick else ()), "--json"]
    cmd.append(str(out))
    print(f"run.py: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = proc.stdout.decode("utf-8", "replace")[-2000:]
        if tail:
            print(tail, file=sys.stderr)
        return f"exited {proc.returncode} after {seconds:.0f} s (its stderr is above)"
    try:
        result = json.loads(out.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        return f"exited 0 but its JSON could not be read: {exc}"
    if not (isinstance(result, dict) and {"rows", "machine"} <= result.keys()):
        return "exited 0 but its JSON has no rows or machine"
    print(f"run.py: {bench.script} done in {seconds:.0f} s", file=sys.stderr, flush=True)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, a smoke run: "
        + "; ".join(f"{b.script} {' '.join(b.quick)}" for b in BENCHES),
    )
    p.add_argument(
        "--record",
        action="store_true",
        help="also write the table to bench/RESULTS.md, in a section headed by the "
        "UTC date and the command (replaced if that section exists)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[dict[str, Any]] = []
    failed: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        for bench in BENCHES:
            result = run_bench(bench, args.quick, Path(tmp))
            if isinstance(result, str):
                failed.append((bench.script, "FAILED", "", "", result))
            else:
                results.append(result)
    rows, machine = merge(results)
    rows += failed
    print(render_text(rows, machine))
    if failed:
        names = ", ".join(f[0] for f in failed)
        print(f"\nrun.py: {names} failed to run", file=sys.stderr)
    if args.record:
        if failed:
            print(f"run.py: not recorded in {RESULTS} (a benchmark failed)", file=sys.stderr)
        else:
            command = shlex.join(["python", "bench/run.py", *(["--quick"] if args.quick else [])])
            day = dt.datetime.now(dt.timezone.utc).date().isoformat()
            record(RESULTS, f"{day}, `{command}`", render_markdown(rows, machine))
            print(f"run.py: recorded in {RESULTS}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
