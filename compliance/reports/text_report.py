"""Human output: findings grouped by file, `path:line:col: severity rule message`, with the
citation under each, and a summary line."""

from __future__ import annotations

from itertools import groupby
from typing import Any

_COLORS = {"error": "31", "warning": "33", "info": "36", "dim": "2", "bold": "1"}


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_COLORS[style]}m{text}\x1b[0m" if color else text


def render(result: Any, *, include_suppressed: bool = False, color: bool = False) -> str:
    lines: list[str] = []
    findings = result.reported(include_suppressed)
    for path, group in groupby(findings, key=lambda f: f.path):
        lines.append(_paint(path, "bold", color))
        for f in group:
            where = f"{f.path}:{f.line}:{f.column}:"
            severity = _paint(f.severity, f.severity, color)
            market = f" [{f.market}]" if f.market else ""
            suppressed = (
                f" (suppressed: {f.suppression_reason or ''})"
                if f.suppressed
                else " (in the baseline)"
                if f.baselined
                else ""
            )
            lines.append(f"  {where} {severity} {f.rule}{market} {f.message}{suppressed}")
            if f.citation is not None:
                lines.append("    " + _paint(f"source: {f.citation}", "dim", color))
        lines.append("")
    lines.append(summary_line(result))
    return "\n".join(lines) + "\n"


def summary_line(result: Any) -> str:
    s = result.summary()
    parts = [
        _count(s["errors"], "error"),
        _count(s["warnings"], "warning"),
        _count(s["infos"], "info"),
    ]
    text = ", ".join(parts)
    quiet = [f"{s['suppressed']} suppressed"] if s["suppressed"] else []
    quiet += [f"{s['baselined']} in the baseline"] if s["baselined"] else []
    if quiet:
        text += f" ({', '.join(quiet)})"
    files = _count(s["files"], "file")
    docs = _count(s["documents"], "document")
    base = getattr(result, "diff_base", None)
    if not s["files"] and base:
        return f"nothing to lint: no document changed since {base}"
    if not s["files"]:
        return "nothing to lint: no YAML files found"
    if not s["documents"]:
        return (
            f"{files} read, but none holds a document (a YAML mapping with kind: template, "
            "sender or consent_scope)"
        )
    return f"{text} in {docs} ({files})"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
