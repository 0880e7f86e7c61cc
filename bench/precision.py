"""Precision of the rule packs on the labelled corpus (tests/corpus/): false and missed findings.

    python bench/precision.py            # the table by market group and by rule
    python bench/precision.py --list     # and every document where linter and label differ

Each corpus file carries a label written before any lint run (tests/corpus/README.md): the
error rules a compliance lawyer or carrier reviewer would raise on it (`corpus-expect`) and the
warnings expected (`corpus-warn`). This script lints each corpus repo and counts, per document:

* a false error: an error-severity finding whose rule the label does not expect;
* a missed violation: an expected error rule with no error finding, or an expected warning rule
  with no finding at all (a rule that reports it as an error counts too);
* an unmapped violation: one the label describes with no rule to name it (`unmapped: ...`),
  counted apart, since no linter can report what it has no rule for.

tests/test_corpus.py fails on any false error or missed violation. This prints; it asserts
nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
_RULE = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")


@dataclass
class Label:
    path: str  # relative to the repo root
    expect: set[str] = field(default_factory=set)
    warn: set[str] = field(default_factory=set)
    unmapped: list[str] = field(default_factory=list)
    why: str = ""


@dataclass
class Outcome:
    label: Label
    errors: set[str]  # rules with an error finding on the document
    reported: set[str]  # rules with any finding on it

    @property
    def false_errors(self) -> set[str]:
        return self.errors - self.label.expect

    @property
    def missed(self) -> set[str]:
        return (self.label.expect - self.errors) | (self.label.warn - self.reported)

    @property
    def group(self) -> str:
        return Path(self.label.path).relative_to("tests/corpus").parts[0]


def _rules(text: str) -> tuple[set[str], list[str]]:
    """Rule ids and unmapped descriptions from a label line (an unmapped description may hold
    commas: what follows it that is not a rule id is part of it)."""
    rules: set[str] = set()
    unmapped: list[str] = []
    if text.strip() in ("", "none"):
        return rules, unmapped
    for piece in (p.strip() for p in text.split(",")):
        if piece.startswith("unmapped:"):
            unmapped.append(piece.removeprefix("unmapped:").strip())
        elif _RULE.match(piece):
            rules.add(piece)
        elif unmapped:
            unmapped[-1] += ", " + piece
        elif piece:
            raise ValueError(f"{piece!r} is neither a rule id nor part of an unmapped label")
    return rules, unmapped


def read_label(path: Path) -> Label:
    label = Label(path.relative_to(ROOT).as_posix())
    seen = set()
    for line in path.read_text("utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = re.match(r"#\s*corpus-(source|expect|warn|why):\s*(.*)", line)
        if not match:
            continue
        key, value = match.groups()
        seen.add(key)
        if key == "expect":
            label.expect, label.unmapped = _rules(value)
        elif key == "warn":
            label.warn, _ = _rules(value)
        elif key == "why":  # a relabel adds a line: "relabelled: <reason>"
            label.why = f"{label.why}\n{value}" if label.why else value
    if "expect" not in seen:
        raise ValueError(f"{label.path}: no `# corpus-expect:` line in its header")
    return label


def repos() -> list[Path]:
    return sorted(p.parent for p in CORPUS.glob("*/compliance.yaml"))


def evaluate_repo(repo: Path) -> list[Outcome]:
    """Lint one corpus repo and compare each of its documents with its label."""
    from compliance.engine import lint

    result = lint([repo.relative_to(ROOT).as_posix()], cwd=ROOT)
    errors: dict[str, set[str]] = {}
    reported: dict[str, set[str]] = {}
    for finding in result.findings:
        if finding.suppressed:
            continue
        reported.setdefault(finding.path, set()).add(finding.rule)
        if finding.severity == "error":
            errors.setdefault(finding.path, set()).add(finding.rule)
    outcomes = []
    for path in sorted(repo.rglob("*.yaml")):
        if path.name == "compliance.yaml" or "pack" in path.relative_to(repo).parts:
            continue
        label = read_label(path)
        outcomes.append(
            Outcome(label, errors.get(label.path, set()), reported.get(label.path, set()))
        )
    return outcomes


def evaluate() -> list[Outcome]:
    return [o for repo in repos() for o in evaluate_repo(repo)]


def differences(outcomes: list[Outcome]) -> list[str]:
    """One line per document where linter and label differ: its false errors and misses."""
    lines = []
    for o in outcomes:
        if o.false_errors:
            lines.append(f"{o.label.path}: false errors: {', '.join(sorted(o.false_errors))}")
        if o.missed:
            lines.append(f"{o.label.path}: missed: {', '.join(sorted(o.missed))}")
    return lines


def _table(title: str, rows: list[list[str]], head: list[str]) -> None:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print(title)
    for row in [head, *rows]:
        print(
            "  "
            + "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list every document that differs")
    args = parser.parse_args(argv)
    outcomes = evaluate()
    by_group: dict[str, Counter[str]] = {}
    by_rule: dict[str, Counter[str]] = {}
    for o in outcomes:
        g = by_group.setdefault(o.group, Counter())
        g["documents"] += 1
        g["labelled"] += bool(o.label.expect or o.label.warn or o.label.unmapped)
        g["false errors"] += len(o.false_errors)
        g["missed"] += len(o.missed)
        g["unmapped"] += len(o.label.unmapped)
        for rule in o.label.expect | o.label.warn | o.errors:
            r = by_rule.setdefault(rule, Counter())
            r["expected"] += rule in (o.label.expect | o.label.warn)
            r["found"] += rule in (o.label.expect | o.label.warn) and rule not in o.missed
            r["false errors"] += rule in o.false_errors
            r["missed"] += rule in o.missed
    total = Counter()
    for counts in by_group.values():
        total.update(counts)
    cols = ["documents", "labelled", "false errors", "missed", "unmapped"]
    rows = [[g, *(str(c[k]) for k in cols)] for g, c in sorted(by_group.items())]
    rows.append(["all", *(str(total[k]) for k in cols)])
    _table("by market group (tests/corpus/<group>)", rows, ["group", *cols])
    cols = ["expected", "found", "false errors", "missed"]
    rows = [
        [rule, *(str(c[k]) for k in cols)]
        for rule, c in sorted(by_rule.items())
        if c["false errors"] or c["missed"] or c["expected"]
    ]
    _table("by rule", rows, ["rule", *cols])
    if args.list:
        for o in outcomes:
            if o.false_errors or o.missed:
                print(o.label.path)
                if o.false_errors:
                    print("  false errors:", ", ".join(sorted(o.false_errors)))
                if o.missed:
                    print("  missed:      ", ", ".join(sorted(o.missed)))
    unmapped = [(o.label.path, u) for o in outcomes for u in o.label.unmapped]
    if unmapped:
        print(f"unmapped violations ({len(unmapped)}): no rule names them")
        for path, text in unmapped:
            print(f"  {path}: {text}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
