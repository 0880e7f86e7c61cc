"""Where the project lives: one place for every URL the tool prints."""

from __future__ import annotations

HOME = "https://github.com/compliance-toolchain/compliance"
ISSUES = f"{HOME}/issues"
RULES_DOC = f"{HOME}/blob/main/docs/rules.md"


def rule_url(rule_id: str) -> str:
    """The rule's section in the generated rules reference (GitHub heading anchors)."""
    return f"{RULES_DOC}#{rule_id}"
