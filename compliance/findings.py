"""Findings, their places and severities: what every report renders."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

SEVERITIES = ("error", "warning", "info")
# rank for --fail-on and sorting: lower is worse
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
FAIL_LEVELS = ("error", "warning", "info", "never")


@dataclass(frozen=True, slots=True)
class Span:
    """A 1-based region of a file; end is inclusive of the last character's column + 1."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class Citation:
    source: str
    clause: str | None = None
    url: str | None = None

    def __str__(self) -> str:
        text = self.source + (f", {self.clause}" if self.clause else "")
        return f"{text} <{self.url}>" if self.url else text

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "clause": self.clause, "url": self.url}


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: str
    message: str
    path: str
    span: Span
    market: str | None = None
    document: str | None = None
    field: str | None = None
    citation: Citation | None = None
    # what the finding is about (the offending text or value), for line-independent keys
    content: str = ""
    suppressed: bool = False
    suppression_reason: str | None = None
    baselined: bool = False  # held by the baseline: reported only on request, never fails
    kind: str | None = None  # the document's kind (template, sender, consent_scope)
    occurrence: int = 1  # the n-th identical finding in the same document
    # the path relative to the repo root, whatever folder the run started in: what keys use
    repo_path: str = ""
    cause: str | None = None  # what the check says the finding is about (not reported)

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def column(self) -> int:
        return self.span.column

    @property
    def fingerprint(self) -> str:
        """Stable across moved lines: rule, path, document, field and the offending content."""
        content_hash = hashlib.sha256(self.content.encode("utf-8", "surrogatepass")).hexdigest()
        key = "\x1f".join(
            (
                self.rule,
                self.repo_path or self.path,
                self.document or "",
                self.field or "",
                self.market or "",
                content_hash,
                *([str(self.occurrence)] if self.occurrence > 1 else []),
            )
        )
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.path,
            self.span.line,
            self.span.column,
            SEVERITY_RANK[self.severity],
            self.rule,
            self.market or "",
            self.message,
        )

    def with_(self, **changes: Any) -> Finding:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "path": self.path,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "market": self.market,
            "document": self.document,
            "field": self.field,
            "citation": self.citation.to_dict() if self.citation else None,
            "fingerprint": self.fingerprint,
            "suppressed": self.suppressed,
            **({"suppression_reason": self.suppression_reason} if self.suppressed else {}),
            "baselined": self.baselined,
        }


def at_or_above(severity: str, level: str) -> bool:
    """True when `severity` is as bad as `level` or worse (`never` matches nothing)."""
    if level == "never":
        return False
    return SEVERITY_RANK[severity] <= SEVERITY_RANK[level]
