"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Conventions (see the reference notes on SARIF): only the rules that fired go in
`tool.driver.rules`, URIs are relative to `%SRCROOT%` with forward slashes, and every result
carries a line-independent `partialFingerprints` entry so moving a template down a file does
not close one alert and open another.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from compliance import __version__
from compliance.findings import Citation, Finding
from compliance.links import HOME, rule_url

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "compliance/v1"
# SARIF has no "info": `note` is its lowest level that still shows up in viewers
LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def render(result: Any, *, include_suppressed: bool = False, color: bool = False) -> str:
    # color is ignored: SARIF is for machines
    return (
        json.dumps(
            build(result, include_suppressed=include_suppressed), indent=2, ensure_ascii=False
        )
        + "\n"
    )


def build(result: Any, *, include_suppressed: bool = False) -> dict[str, Any]:
    # suppressed findings stay out by default: GitHub does not reliably honour `suppressions`,
    # so including them would raise alerts the author already justified
    findings: list[Finding] = result.reported(include_suppressed)
    # sorted ids keep rules[] (and so every ruleIndex) stable between runs on the same files
    fired = sorted({f.rule for f in findings})
    index = {rule_id: i for i, rule_id in enumerate(fired)}
    rules = [_rule(rule_id, result.packs.rules.get(rule_id), findings) for rule_id in fired]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "compliance",
                "version": __version__,
                "informationUri": HOME,
                "rules": rules,
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": _srcroot(result)}},
        # columns are Python string indices, i.e. code points, not UTF-16 units; saying so
        # keeps emoji-heavy templates from being highlighted one character off
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index[f.rule]) for f in findings],
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _srcroot(result: Any) -> str:
    # finding paths are relative to the directory lint() ran from
    root = Path(result.cwd)
    return root.resolve().as_uri().rstrip("/") + "/"


def _rule(rule_id: str, rule: Any, findings: list[Finding]) -> dict[str, Any]:
    if rule is None:
        # a finding from a rule the packs do not know (should not happen): still give viewers
        # an entry, with what the finding itself tells us
        severity = next(f.severity for f in findings if f.rule == rule_id)
        return {
            "id": rule_id,
            "name": rule_id,
            "shortDescription": {"text": rule_id},
            "helpUri": rule_url(rule_id),
            "defaultConfiguration": {"level": LEVELS[severity]},
            "properties": {"tags": ["compliance"]},
        }
    model = rule.model
    citations = [c.to_citation() for c in model.citations]
    description = model.description.strip()
    tags = list(dict.fromkeys([*model.tags, "compliance"]))
    return {
        "id": rule_id,
        "name": rule_id,
        "shortDescription": {"text": model.summary},
        "fullDescription": {"text": description},
        "help": {
            "text": _help_text(description, citations),
            "markdown": _help_markdown(rule_id, description, citations),
        },
        "helpUri": rule_url(rule_id),
        "defaultConfiguration": {"level": LEVELS[model.severity]},
        "properties": {"tags": tags},
    }


def _help_text(description: str, citations: list[Citation]) -> str:
    lines = [description, "", "Sources:"]
    lines += [f"- {c}" for c in citations]  # Citation.__str__ appends <url> when there is one
    return "\n".join(lines)


def _help_markdown(rule_id: str, description: str, citations: list[Citation]) -> str:
    lines = [description, "", "**Sources**", ""]
    for c in citations:
        label = c.source + (f", {c.clause}" if c.clause else "")
        lines.append(f"- [{label}]({c.url})" if c.url else f"- {label}")
    lines += ["", f"[Rule reference]({rule_url(rule_id)})"]
    return "\n".join(lines)


def _uri(path: str) -> tuple[str, str | None]:
    """(uri, uriBaseId): repo-relative paths hang off %SRCROOT%; absolute ones (files outside
    the working directory) become file:// URIs of their own."""
    posix = path.replace("\\", "/")
    if Path(path).is_absolute():
        return Path(path).as_uri(), None
    # a URI reference must not hold spaces, '#' or '%' raw; '/' stays the separator
    return quote(posix, safe="/"), SRCROOT


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    text = f.message + (f" [market {f.market}]" if f.market else "")
    uri, base = _uri(f.path)
    artifact: dict[str, Any] = {"uri": uri}
    if base is not None:
        artifact["uriBaseId"] = base
    out: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[f.severity],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact,
                    "region": {
                        "startLine": f.span.line,
                        "startColumn": f.span.column,
                        "endLine": f.span.end_line,
                        "endColumn": f.span.end_column,
                    },
                }
            }
        ],
        # the fingerprint hashes content, not the line: alerts survive edits above them
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
    }
    properties = {
        "market": f.market,
        "document": f.document,
        "field": f.field,
        "citation": f.citation.to_dict() if f.citation else None,
    }
    # absent rather than null: viewers show property bags as-is, and nulls are noise there
    out["properties"] = {k: v for k, v in properties.items() if v is not None}
    if f.suppressed:
        suppression: dict[str, Any] = {"kind": "inSource"}
        if f.suppression_reason:
            suppression["justification"] = f.suppression_reason
        out["suppressions"] = [suppression]
    elif f.baselined:
        out["baselineState"] = "unchanged"
    return out
