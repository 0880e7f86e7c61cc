"""A rich template's SMS fallback must pass the SMS rules of every market the rich template is
sent to: when RCS or WhatsApp cannot deliver, the fallback is the message people receive."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.checks.base import CheckParams, Context, Hit

KIND = "fallback_clean"
SCOPE = "document"


class Params(CheckParams):
    pass


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    ident = doc.model.fallback
    fallback = ctx.index.get("template", ident) if ident else None
    if fallback is None or fallback.model is None or ctx.market_findings is None:
        return
    for code in doc.model.markets:
        if code not in ctx.known_markets or (ctx.enforced is not None and code not in ctx.enforced):
            continue
        for finding in ctx.market_findings(fallback, code):
            if finding.severity == "error":
                yield Hit(
                    f"fallback {fallback.id!r} fails {finding.rule} in {code}: {finding.message} "
                    f"({finding.path}:{finding.line})",
                    path=("fallback",),
                    content=f"{code}:{finding.rule}:{finding.content}",
                )
