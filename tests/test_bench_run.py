"""bench/run.py: merging the benchmarks' JSON into one table (always), and a smoke run of every
benchmark at small sizes (only with COMPLIANCE_BENCH_SMOKE=1: CI does not run benchmarks)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


LINT = {
    "script": "lint_speed",
    "rows": [
        {"figure": "documents", "value": "1,070", "goal": "", "met": None, "detail": "1,071 files"},
        {
            "figure": "lint, taskset -c 0 (best of 1)",
            "value": "2,400 docs/s",
            "goal": ">= 2,000 docs/s on one core",
            "met": True,
            "detail": "0.45 s for 1,070 documents; 1.20x of the goal",
        },
    ],
    "machine": [
        ["platform", "Linux-x", ""],
        ["cpu", "AMD EPYC", "2 logical cores, 2 usable"],
        ["yaml", "ruamel.yaml 0.19.1, C parser in use", ""],
    ],
}
GATE = {
    "script": "gate_speed",
    "rows": [
        {
            "figure": "check_many(), batches of 1,000",
            "value": "6,715/s",
            "goal": ">= 20,000/s",
            "met": False,
            "detail": "a | b",
        },
        {
            "figure": "4 writers x 200 checks",
            "value": "2,098/s",
            "goal": "",
            "met": None,
            "detail": "x",
        },
    ],
    "machine": [
        ["platform", "Linux-x", ""],
        ["cpu", "AMD EPYC", "2 logical cores, 1 usable"],
        ["ledger fs", "ext4 on /dev/vda mounted at /", ""],
    ],
}


def test_merge_makes_one_table_with_one_machine_description():
    run = load_run()
    rows, machine = run.merge([LINT, GATE])
    assert [r[0] for r in rows] == [
        "documents",
        "lint, taskset -c 0 (best of 1)",
        "check_many(), batches of 1,000",
        "4 writers x 200 checks",
    ]
    assert [r[3] for r in rows] == ["", "met", "NOT met", ""]
    assert rows[1] == (
        "lint, taskset -c 0 (best of 1)",
        "2,400 docs/s",
        ">= 2,000 docs/s on one core",
        "met",
        "0.45 s for 1,070 documents; 1.20x of the goal",
    )
    # identical lines once; a line that differs is kept with the script's name
    assert [m[0] for m in machine] == ["platform", "cpu", "yaml", "cpu (gate_speed)", "ledger fs"]

    text = run.render_text(rows, machine)
    lines = text.splitlines()
    assert lines[0].split() == ["figure", "value", "goal", "met", "detail"]
    assert sum(line.startswith("figure") for line in lines) == 1
    assert sum(line.startswith("machine") for line in lines) == 1
    assert lines[3].startswith("check_many(), batches of 1,000  6,715/s")
    assert "NOT met" in lines[3]

    md = run.render_markdown(rows, machine)
    assert md.splitlines()[:2] == [
        "| figure | value | goal | met | detail |",
        "| --- | ---: | --- | --- | --- |",
    ]
    assert "| a \\| b |" in md  # pipes in a cell are escaped


def test_record_appends_a_section_and_replaces_it_on_the_same_day(tmp_path):
    run = load_run()
    results = tmp_path / "RESULTS.md"
    run.record(results, "2026-11-26, `python bench/run.py`", "first body")
    run.record(results, "2026-11-27, `python bench/run.py --quick`", "quick")
    run.record(results, "2026-11-26, `python bench/run.py`", "second body")
    text = results.read_text("utf-8")
    assert text.startswith("# Benchmark results")
    assert "first body" not in text
    assert text.index("## 2026-11-26") < text.index("second body") < text.index("## 2026-11-27")
    assert text.count("## ") == 2 and text.endswith("quick\n")


@pytest.mark.skipif(
    os.environ.get("COMPLIANCE_BENCH_SMOKE") != "1",
    reason="runs every benchmark at small sizes (about 30 s); set COMPLIANCE_BENCH_SMOKE=1",
)
def test_quick_run_of_every_benchmark():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["figure", "value", "goal", "met", "detail"]
    figures = [line.split("  ")[0] for line in lines]
    assert "documents" in figures and "audit verify" in figures
    assert sum(line.startswith("machine") for line in lines) == 1
