"""A sender's type must be one the market allows (from the market's `sender_types`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit

KIND = "sender_types"
SCOPE = "document"
DOCUMENTS = ("sender",)  # the documents it can read: a rule aimed at others skips them


class Params(CheckParams):
    message: str = Field(description="{type}, {market} and {allowed} are filled in")


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    if ctx.market is None or ctx.market.parameters.sender_types is None:
        return
    allowed = ctx.market.parameters.sender_types.allowed
    if doc.model.type not in allowed:
        yield Hit(
            params.message.format(
                type=doc.model.type, market=ctx.market.code, allowed=", ".join(allowed)
            ),
            path=("type",),
            content=f"{ctx.market.code}:{doc.model.type}",
        )
