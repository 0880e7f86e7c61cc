"""The GitHub Action's lint step: lint once, then write SARIF, print annotations within GitHub's
limits, write the job summary and the step outputs, and fail last, after every report is out.

Run as `python -m compliance.action` with the inputs in INPUT_* variables (action.yml sets them).
GitHub shows at most 10 error and 10 warning annotations per step and refuses summaries over
1 MiB (shared/reference/linters.md, section 6), so the worst findings are annotated, the rest
are counted in a notice, and everything is in the SARIF file.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ANNOTATIONS_PER_LEVEL = 10
TOP_FINDINGS = 50


def main(env: Mapping[str, str] = os.environ) -> int:
    from compliance import baseline as baselines
    from compliance.engine import lint
    from compliance.errors import ComplianceError
    from compliance.reports import get

    inputs = {k[6:].lower().replace("_", "-"): v for k, v in env.items() if k.startswith("INPUT_")}
    sarif = Path(inputs.get("sarif-file") or "compliance.sarif")
    fail_on = inputs.get("fail-on") or ""
    try:
        held = baselines.load(Path(inputs["baseline"])) if inputs.get("baseline") else None
        result = lint(
            _words(inputs.get("paths", "")) or ["."],
            config_path=Path(inputs["config"]) if inputs.get("config") else None,
            markets=[m.upper() for m in _words(inputs.get("markets", ""))] or None,
            diff_base=inputs.get("diff-base") or None,
            baseline=held,
        )
    except ComplianceError as exc:
        print(f"::error title=compliance configuration::{_escape(str(exc))}")
        _outputs(env, {"failed": "true", "sarif-file": ""})
        return 2
    except Exception as exc:  # a bug: say so in one line, as the CLI does
        print(f"::error title=compliance internal error::{_escape(f'{type(exc).__name__}: {exc}')}")
        _outputs(env, {"failed": "true", "sarif-file": ""})
        return 3
    level = fail_on or result.config.model.fail_on
    sarif.parent.mkdir(parents=True, exist_ok=True)
    sarif.write_text(get("sarif").render(result), "utf-8")
    print(annotations(result, sarif))
    _append(env.get("GITHUB_STEP_SUMMARY"), summary(result, level))
    counts = result.summary()
    failed = result.failed(level)
    _outputs(
        env,
        {
            "errors": str(counts["errors"]),
            "warnings": str(counts["warnings"]),
            "infos": str(counts["infos"]),
            "findings": str(counts["errors"] + counts["warnings"] + counts["infos"]),
            "suppressed": str(counts["suppressed"]),
            "baselined": str(counts["baselined"]),
            "sarif-file": str(sarif),
            "failed": "true" if failed else "false",
        },
    )
    for missing in result.missing:
        print(f"::error title=compliance::{_escape(missing)}: no such file or folder (input paths)")
    if result.missing:
        return 2
    if failed:
        print(f"compliance: findings at or above '{level}': failing the step", file=sys.stderr)
    return 1 if failed else 0


def annotations(result: Any, sarif: Path) -> str:
    """Workflow commands for the worst findings, at most 10 per level, then a count of the rest."""
    from compliance.findings import SEVERITY_RANK
    from compliance.reports.github_report import command

    ordered = sorted(result.reported(), key=lambda f: SEVERITY_RANK[f.severity])
    shown: Counter[str] = Counter()
    lines: list[str] = []
    left = 0
    for finding in ordered:
        if shown[finding.severity] < ANNOTATIONS_PER_LEVEL:
            shown[finding.severity] += 1
            lines.append(command(finding))
        else:
            left += 1
    if left:
        lines.append(
            f"::notice title=compliance::{left} more finding(s) are not annotated "
            f"(GitHub shows {ANNOTATIONS_PER_LEVEL} per level): see {sarif} or the "
            "code scanning alerts"
        )
    return "\n".join(lines)


def summary(result: Any, level: str) -> str:
    """The job summary in GitHub Markdown: totals, by market, by rule, the top findings."""
    from compliance.links import rule_url

    counts = result.summary()
    findings = result.reported()
    title = (
        f"## compliance: {counts['errors']} error(s), {counts['warnings']} warning(s), "
        f"{counts['infos']} info"
    )
    out = [
        title,
        "",
        f"{counts['documents']} document(s) in {counts['files']} file(s); fails on `{level}`."
        + (f" {counts['suppressed']} suppressed." if counts["suppressed"] else "")
        + (f" {counts['baselined']} in the baseline." if counts["baselined"] else ""),
        "",
    ]
    if not findings:
        return "\n".join([*out, "No findings."]) + "\n"
    by_market: dict[str, Counter[str]] = {}
    for f in findings:
        by_market.setdefault(f.market or "all markets", Counter())[f.severity] += 1
    out += ["### By market", "", "| Market | Errors | Warnings | Infos |", "|---|---:|---:|---:|"]
    for market, c in sorted(by_market.items()):
        out.append(f"| {market} | {c['error']} | {c['warning']} | {c['info']} |")
    by_rule = Counter((f.rule, f.severity) for f in findings)
    out += ["", "### By rule", "", "| Rule | Severity | Findings |", "|---|---|---:|"]
    for (rule, severity), n in sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"| [{rule}]({rule_url(rule)}) | {severity} | {n} |")
    out += [
        "",
        f"### Top findings ({min(len(findings), TOP_FINDINGS)} of {len(findings)})",
        "",
        "| Severity | Where | Rule | Message |",
        "|---|---|---|---|",
    ]
    # bounded by construction, far below GitHub's 1 MiB: at most TOP_FINDINGS rows of at most
    # 300 characters of message, and one row per rule and per market
    for f in findings[:TOP_FINDINGS]:
        out.append(
            f"| {f.severity} | `{f.path}:{f.line}` | [{f.rule}]({rule_url(f.rule)}) | "
            f"{_cell(f.message)} |"
        )
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", text.strip()) if w]


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def _outputs(env: Mapping[str, str], values: dict[str, str]) -> None:
    _append(env.get("GITHUB_OUTPUT"), "".join(f"{k}={v}\n" for k, v in values.items()))


if __name__ == "__main__":
    raise SystemExit(main())
