"""Links in sent text: forbidden domains (public URL shorteners) and, where a market keeps a
whitelist, domains that are not on it. Links count with or without a scheme."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit, texts_at
from compliance.links_in_text import host_matches, links
from compliance.placeholders import TEXT_FIELDS, render

KIND = "links"
SCOPE = "document"


class Params(CheckParams):
    fields: list[str] = Field(default_factory=lambda: list(TEXT_FIELDS))
    forbid_domains: list[str] = Field(default_factory=list)
    whitelist: bool = Field(
        default=False,
        description="Links must be on the market's allowed_link_domains (market parameter).",
    )
    message: str = Field(description="The finding's message; {link} and {host} are filled in.")


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    allowed = None
    if params.whitelist and ctx.market is not None:
        allowed = ctx.market.parameters.allowed_link_domains
    variables = getattr(doc.model, "variables", None) or {}
    for path, text in texts_at(doc.data, params.fields):
        raw = list(links(text))
        # a placeholder filled with a link counts too: check the text with its examples
        rendered = render(text, variables, longest=False)
        extra = (
            []
            if rendered == text
            else [link for link in links(rendered) if link.host not in {r.host for r in raw}]
        )
        for link in [*raw, *extra]:
            place = (link.start, link.end) if link in raw else None
            bad = host_matches(link.host, params.forbid_domains) or (
                allowed is not None and not host_matches(link.host, allowed)
            )
            if bad:
                yield Hit(
                    params.message.format(link=link.text, host=link.host),
                    path=path,
                    text=place,
                    content=f"link:{link.host}",
                )
