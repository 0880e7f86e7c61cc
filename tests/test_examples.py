"""Whole-repo golden output for the bundled example (set UPDATE_GOLDEN=1 to rewrite it)."""

from __future__ import annotations

import os
from pathlib import Path

from compliance.engine import lint
from compliance.reports import get

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "acme.txt"


def test_example_repo_output_matches_the_golden_file():
    result = lint(["examples/acme"], cwd=ROOT)
    text = get("text").render(result, include_suppressed=False, color=False)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text, "utf-8")
    assert text == GOLDEN.read_text("utf-8")


def test_clean_documents_have_no_errors_or_warnings_and_each_broken_one_fails():
    result = lint(["examples/acme"], cwd=ROOT)
    bad = [f for f in result.findings if f.severity in ("error", "warning")]
    assert not [f for f in bad if "/clean/" in f.path]
    broken = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "examples/acme/templates/broken").glob("*.yaml")
    )
    assert sorted({f.path for f in bad if "/broken/" in f.path}) == broken


def test_each_broken_file_gets_the_rules_its_comment_promises():
    result = lint(["examples/acme"], cwd=ROOT)
    for path in (ROOT / "examples/acme/templates/broken").glob("*.yaml"):
        header = "".join(
            line for line in path.read_text().splitlines(keepends=True) if line.startswith("#")
        )
        expected = {
            word.strip(".,():")
            for word in header.split()
            if word.strip(".,():") in result.packs.rules
        }
        rel = path.relative_to(ROOT).as_posix()
        fired = {f.rule for f in result.findings if f.path == rel}
        assert expected and expected <= fired, (rel, expected, fired)
