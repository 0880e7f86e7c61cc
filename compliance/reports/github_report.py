"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding, so
findings show as annotations on the pull request's changed files.

No cap here: GitHub keeps only 10 annotations of each level per step, and the Action decides
how to cap and say so. This module orders worst first so a cap keeps the errors.
"""

from __future__ import annotations

from typing import Any

from compliance.findings import SEVERITY_RANK, Finding
from compliance.reports.text_report import summary_line

COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message, as @actions/core's escapeData does."""
    # % first, or the escapes added below would be escaped again
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (file=, title=...): ':' and ',' would end it early."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(f: Finding) -> str:
    title = f.rule + (f" [{f.market}]" if f.market else "")
    props = {
        # GitHub matches annotations to files by repo-relative path with forward slashes
        "file": f.path.replace("\\", "/"),
        "line": str(f.span.line),
        "endLine": str(f.span.end_line),
        "col": str(f.span.column),
        "endColumn": str(f.span.end_column),
        "title": title,
    }
    message = f.message
    if f.suppressed:
        message += f" (suppressed: {f.suppression_reason or ''})"
    if f.citation is not None:
        message += f"\n\nSource: {f.citation}"
    fields = ",".join(f"{k}={escape_property(v)}" for k, v in props.items())
    # a suppressed finding does not fail the run: never show it as an error or a warning
    level = "notice" if f.suppressed or f.baselined else COMMANDS[f.severity]
    return f"::{level} {fields}::{escape_data(message)}"


def render(result: Any, *, include_suppressed: bool = False, color: bool = False) -> str:
    # color is ignored: GitHub parses these lines, escape codes would break the `::` prefix
    findings = result.reported(include_suppressed)
    # sorted() is stable, so within a severity the engine's file order is kept
    ordered = sorted(findings, key=lambda f: SEVERITY_RANK[f.severity])
    lines = [command(f) for f in ordered]
    lines.append(summary_line(result))
    return "\n".join(lines) + "\n"
