"""Baselines: adopt the linter in a repo with existing findings, fail only on new ones.

An entry is a finding's fingerprint: rule, repo-relative path, document id, field, market and a
hash of the offending content, never the line. Moving a document never brings a baselined
finding back, and a new finding in another document never matches an old entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compliance.errors import UsageError
from compliance.findings import Finding

VERSION = 1


@dataclass
class Baseline:
    path: Path
    entries: dict[str, dict[str, Any]]  # fingerprint -> what a person reads

    def apply(self, findings: list[Finding], linted: set[str]) -> tuple[list[Finding], list[dict]]:
        """Mark the findings the baseline holds; also return its entries that matched nothing
        among the files linted (entries for files not linted this run are not stale)."""
        matched: set[str] = set()
        marked = []
        for finding in findings:
            key = finding.fingerprint
            if key in self.entries and not finding.suppressed:
                matched.add(key)
                finding = finding.with_(baselined=True)
            marked.append(finding)
        stale = [
            {"fingerprint": key, **entry}
            for key, entry in self.entries.items()
            if key not in matched and entry.get("path") in linted
        ]
        return marked, stale

    def without(self, stale: list[dict]) -> Baseline:
        gone = {entry["fingerprint"] for entry in stale}
        kept = {k: v for k, v in self.entries.items() if k not in gone}
        return Baseline(self.path, kept)


def from_findings(path: Path, findings: list[Finding]) -> Baseline:
    entries = {
        f.fingerprint: {
            "rule": f.rule,
            "path": f.repo_path or f.path,
            "document": f.document,
            "field": f.field,
            "message": f.message,
        }
        for f in findings
        if not f.suppressed
    }
    return Baseline(path, entries)


def load(path: Path) -> Baseline:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"baseline {path} does not exist: create it with --write-baseline"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"baseline {path} cannot be read: {exc}") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if data.get("version") != VERSION or not isinstance(entries, dict):
        raise UsageError(
            f"baseline {path} is not a version {VERSION} compliance baseline: write it again "
            "with --write-baseline"
        )
    return Baseline(path, entries)


def save(baseline: Baseline) -> None:
    data = {
        "version": VERSION,
        "tool": "compliance",
        "comment": "Findings accepted when the linter was adopted; see README, Baselines.",
        "entries": dict(sorted(baseline.entries.items(), key=lambda kv: (kv[1]["path"], kv[0]))),
    }
    try:
        baseline.path.parent.mkdir(parents=True, exist_ok=True)
        baseline.path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write baseline {baseline.path}: {exc.strerror or exc}") from None
