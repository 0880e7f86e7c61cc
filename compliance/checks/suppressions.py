"""Suppressions: `suppress: [{rule, reason, expires}]` on a document.

Runs after every other check of a document: it marks the findings it suppresses, and reports
suppressions that have expired (they stop suppressing) or that match nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container
from typing import Any, Literal

from compliance.checks.base import CheckParams, Hit

KIND = "suppressions"
SCOPE = "post"


class Params(CheckParams):
    report: Literal["expired", "unused"]


def entries_of(doc: Any) -> list[tuple[int, Any]]:
    """(index, Suppression) of each well-formed entry. An invalid document keeps its valid
    suppressions: a schema error elsewhere must not switch every suppression off."""
    from pydantic import ValidationError

    from compliance.documents import Suppression

    if doc.model is not None:
        return list(enumerate(getattr(doc.model, "suppress", [])))
    raw = doc.data.get("suppress")
    found: list[tuple[int, Any]] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            found.append((i, Suppression.model_validate(item)))
        except ValidationError:
            continue  # the schema rule reports it
    return found


def apply(
    doc: Any, findings: list[Any], today: dt.date, known_rules: Container[str] = ()
) -> tuple[list[Any], list[Hit], list[Hit]]:
    """(findings with suppressed ones marked, expired hits, unused hits)."""
    entries = entries_of(doc)
    if not entries:
        return findings, [], []
    used: set[int] = set()
    out = []
    for finding in findings:
        for i, entry in entries:
            if entry.rule != finding.rule:
                continue
            used.add(i)
            if entry.expires is None or entry.expires >= today:
                finding = finding.with_(suppressed=True, suppression_reason=entry.reason)
                break
        out.append(finding)
    expired: list[Hit] = []
    unused: list[Hit] = []
    for i, entry in entries:
        path = ("suppress", i)
        lapsed = entry.expires is not None and entry.expires < today
        if lapsed and i in used:
            expired.append(
                Hit(
                    f"suppression of {entry.rule!r} expired on {entry.expires.isoformat()} and no "
                    "longer suppresses: fix the finding or renew the suppression with a reason",
                    path=path,
                    content=f"{entry.rule}:{entry.expires}",
                )
            )
        elif i not in used:
            unused.append(
                Hit(_unused_message(entry, lapsed, known_rules), path=path, content=entry.rule)
            )
    return out, expired, unused


def _unused_message(entry: Any, lapsed: bool, known_rules: Container[str]) -> str:
    if known_rules and entry.rule not in known_rules:
        import difflib

        near = difflib.get_close_matches(entry.rule, list(known_rules), n=1)  # type: ignore[arg-type]
        hint = f"; did you mean {near[0]!r}?" if near else "; see `compliance rules list`"
        return f"suppression names rule {entry.rule!r}, which does not exist{hint}"
    if lapsed:
        return (
            f"suppression of {entry.rule!r} expired on {entry.expires.isoformat()} and "
            "matches nothing: remove it"
        )
    return f"suppression of {entry.rule!r} matches no finding in this document: remove it"
