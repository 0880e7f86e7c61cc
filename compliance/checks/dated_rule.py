"""A market's dated rule, in force on the day of the lint: a platform's pause, a regulation that
starts on a given date. The dates live in the market file (`dated_rules`), so that the linter and
the gate agree on them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit

DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them

KIND = "dated_rule"
SCOPE = "document"


class Params(CheckParams):
    rule: str = Field(description="The dated rule's id in the market's parameters")
    message: str = Field(description="{summary}, {market}, {since} and {until} are filled in")


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    if ctx.market is None or doc.model is None:
        return
    channel = getattr(doc.model, "channel", None)
    purpose = getattr(doc.model, "purpose", None)
    dated = next((d for d in ctx.market.parameters.dated_rules if d.id == params.rule), None)
    if dated is None or not dated.in_force(ctx.today):
        return
    if dated.channels is not None and channel not in dated.channels:
        return
    if dated.purposes is not None and purpose not in dated.purposes:
        return
    yield Hit(
        params.message.format(
            summary=dated.summary,
            market=ctx.market.code,
            since=dated.effective_from or "",
            until=dated.until or "further notice",
        ),
        # a fallback is judged in the markets of the template that falls back to it, which
        # its own list may not name: then the finding is on the list
        path=(
            ("markets", doc.model.markets.index(ctx.market.code))
            if ctx.market.code in doc.model.markets
            else ("markets",)
        ),
        content=f"{dated.id}:{ctx.market.code}",
    )
