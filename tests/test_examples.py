"""Whole-repo golden output for every bundled example repo (UPDATE_GOLDEN=1 rewrites them),
and the promises the examples make: clean halves clean, each broken file failing with the
rules its header comment names."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from compliance.engine import lint
from compliance.reports import get

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir())
RULE_ID = re.compile(r"\b[a-z0-9]+(?:-[a-z0-9]+)*\b")


@pytest.fixture(scope="module")
def results():
    return {name: lint([f"examples/{name}"], cwd=ROOT) for name in EXAMPLES}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_output_matches_its_golden_file(results, name):
    text = get("text").render(results[name], include_suppressed=False, color=False)
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, "utf-8")
    assert text == golden.read_text("utf-8")


@pytest.mark.parametrize("name", EXAMPLES)
def test_clean_documents_have_no_errors_or_warnings_and_each_broken_file_fails(results, name):
    bad = [f for f in results[name].findings if f.severity in ("error", "warning")]
    assert not [f for f in bad if "/broken/" not in f.path], [f.path for f in bad]
    broken = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "examples" / name / "templates" / "broken").glob("*.yaml")
    )
    assert broken, f"examples/{name} has no broken templates"
    assert sorted({f.path for f in bad}) == broken


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_broken_file_gets_the_rules_its_comment_promises(results, name):
    result = results[name]
    for path in sorted((ROOT / "examples" / name / "templates" / "broken").glob("*.yaml")):
        header = "".join(
            line for line in path.read_text().splitlines(keepends=True) if line.startswith("#")
        )
        expected = {word for word in RULE_ID.findall(header) if word in result.packs.rules}
        rel = path.relative_to(ROOT).as_posix()
        fired = {f.rule for f in result.findings if f.path == rel}
        assert expected and expected <= fired, (rel, expected, fired)


def test_every_market_and_channel_has_an_example():
    covered = set()
    for name in EXAMPLES:
        for path in (ROOT / "examples" / name).rglob("*.yaml"):
            covered.update(re.findall(r"markets: \[([A-Z, ]+)\]", path.read_text()))
    codes = {c.strip() for group in covered for c in group.split(",")}
    assert {"US", "CA", "GB", "DE", "FR", "IN", "SG", "AU", "BR"} <= codes
