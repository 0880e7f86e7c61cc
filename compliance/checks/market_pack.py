"""Say so when a template targets a market that has no rule pack: only generic rules ran."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.checks.base import CheckParams, Context, Hit

KIND = "market_pack"
SCOPE = "document"


class Params(CheckParams):
    pass


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    for i, market in enumerate(doc.model.markets):
        if market in ctx.known_markets:
            continue
        if ctx.enforced is not None and market not in ctx.enforced:
            continue
        yield Hit(
            f"no rule pack for market {market}: only the generic rules check this template there",
            path=("markets", i),
            content=market,
        )
