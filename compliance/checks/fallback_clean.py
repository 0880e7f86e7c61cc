"""A rich template's SMS fallback must pass the SMS rules of every market the rich template is
sent to, and the generic rules that hold in every market (an opt-out the sender cannot take):
when RCS or WhatsApp cannot deliver, the fallback is the message people receive."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.checks.base import CheckParams, Context, Hit

DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them

KIND = "fallback_clean"
SCOPE = "document"


class Params(CheckParams):
    pass


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    ident = doc.model.fallback
    fallback = ctx.index.get("template", ident) if ident else None
    if fallback is None or fallback.model is None or ctx.market_findings is None:
        return
    codes: list[str | None] = [
        code
        for code in doc.model.markets
        if code in ctx.known_markets and (ctx.enforced is None or code in ctx.enforced)
    ]
    seen: set[str] = set()
    for code in codes or [None]:
        for finding in ctx.market_findings(fallback, code):
            if finding.severity != "error":
                continue
            # a generic rule's finding holds in every market: reported once
            where = f" in {code}" if finding.market is not None else ""
            content = f"{finding.market or ''}:{finding.rule}:{finding.content}"
            if content in seen:
                continue
            seen.add(content)
            yield Hit(
                f"fallback {fallback.id!r} fails {finding.rule}{where}: {finding.message} "
                f"({finding.path}:{finding.line})",
                path=("fallback",),
                content=content,
                citation=finding.citation,  # the source of the rule the fallback breaks
            )
