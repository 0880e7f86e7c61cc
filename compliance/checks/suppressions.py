"""Suppressions: `suppress: [{rule, reason, expires}]` on a document.

Runs after every other check of a document: it marks the findings it suppresses, and reports
suppressions that have expired (they stop suppressing) or that match nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from compliance.checks.base import CheckParams, Hit

KIND = "suppressions"
SCOPE = "post"


class Params(CheckParams):
    report: Literal["expired", "unused"]


def apply(doc: Any, findings: list[Any], today: dt.date) -> tuple[list[Any], list[Hit], list[Hit]]:
    """(findings with suppressed ones marked, expired hits, unused hits)."""
    entries = doc.model.suppress if doc.model is not None else []
    if not entries:
        return findings, [], []
    used = [False] * len(entries)
    expired: list[Hit] = []
    out = []
    for finding in findings:
        for i, entry in enumerate(entries):
            if entry.rule != finding.rule:
                continue
            used[i] = True
            if entry.expires is None or entry.expires >= today:
                finding = finding.with_(suppressed=True, suppression_reason=entry.reason)
                break
        out.append(finding)
    unused: list[Hit] = []
    for i, entry in enumerate(entries):
        path = ("suppress", i)
        if entry.expires is not None and entry.expires < today:
            if used[i]:
                expired.append(
                    Hit(
                        f"suppression of {entry.rule!r} expired on {entry.expires.isoformat()} "
                        "and no "
                        "longer suppresses: fix the finding or renew the suppression with a reason",
                        path=path,
                        content=f"{entry.rule}:{entry.expires}",
                    )
                )
            else:
                unused.append(
                    Hit(
                        f"suppression of {entry.rule!r} expired on "
                        f"{entry.expires.isoformat()} and matches nothing: remove it",
                        path=path,
                        content=entry.rule,
                    )
                )
        elif not used[i]:
            unused.append(
                Hit(
                    f"suppression of {entry.rule!r} matches no finding in this document: remove it",
                    path=path,
                    content=entry.rule,
                )
            )
    return out, expired, unused
