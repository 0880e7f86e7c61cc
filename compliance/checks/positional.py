"""WhatsApp-style positional parameters: {{1}}, {{2}}... in order without gaps, none at the
very start or end of the body, no two side by side, at most one in the header and none in the
footer. Meta rejects templates that break these."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit
from compliance.placeholders import scan

DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them

KIND = "positional"
SCOPE = "document"


class Params(CheckParams):
    header_max: int = Field(default=1, ge=0)
    footer_max: int = Field(default=0, ge=0)
    named: Literal["forbid", "allow"] = Field(
        default="forbid",
        description="allow: all parameters may be named ({{first_name}}), but not a mix of "
        "named and numbered ones.",
    )


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    body = doc.model.body
    tokens, _ = scan(body)
    named = [t for t in tokens if not t.name.isdigit()]
    mixed = named and len(named) < len(tokens)
    if params.named == "forbid" or mixed:
        why = "mixes named and numbered parameters" if mixed else "numbers its parameters"
        for token in named:
            yield Hit(
                f"parameter {{{{{token.name}}}}} is named; this template {why}: use "
                "{{1}}, {{2}}... throughout" + (" or names throughout" if mixed else ""),
                path=("body",),
                text=(token.start, token.end),
                content=f"named:{token.name}",
            )
    if named and not mixed and params.named == "allow":
        yield from _placement(body, tokens)
        yield from _limit(doc, "header", params.header_max)
        yield from _limit(doc, "footer", params.footer_max)
        return
    numbers = [int(t.name) for t in tokens if t.name.isdigit()]
    expected = list(range(1, len(set(numbers)) + 1))
    if sorted(set(numbers)) != expected:
        yield Hit(
            f"parameters must run {{{{1}}}} to {{{{{len(set(numbers))}}}}} without gaps; "
            f"found {', '.join(f'{{{{{n}}}}}' for n in sorted(set(numbers)))}",
            path=("body",),
            content="sequence",
        )
    yield from _placement(body, tokens)
    yield from _limit(doc, "header", params.header_max)
    yield from _limit(doc, "footer", params.footer_max)


def _placement(body: str, tokens: tuple[Any, ...]) -> Iterator[Hit]:
    """None at the very start or end of the body, no two side by side."""
    if tokens:
        stripped = body.strip()
        lead = len(body) - len(body.lstrip())
        if tokens[0].start == lead:
            yield Hit(
                "the body must not start with a parameter",
                path=("body",),
                text=(tokens[0].start, tokens[0].end),
                content="start",
            )
        if tokens[-1].end == lead + len(stripped):
            yield Hit(
                "the body must not end with a parameter",
                path=("body",),
                text=(tokens[-1].start, tokens[-1].end),
                content="end",
            )
    for before, after in itertools.pairwise(tokens):
        if not body[before.end : after.start].strip():
            yield Hit(
                "two parameters side by side: put words between them",
                path=("body",),
                text=(before.start, after.end),
                content=f"adjacent:{before.name}",
            )


def _limit(doc: Any, field: str, limit: int) -> Iterator[Hit]:
    value = doc.data.get(field)
    text = value.get("text") if isinstance(value, dict) else value
    if not isinstance(text, str):
        return
    tokens, _ = scan(text)
    if len(tokens) > limit:
        path = (field, "text") if isinstance(value, dict) else (field,)
        allowed = "no parameter" if limit == 0 else f"at most {limit} parameter(s)"
        yield Hit(
            f"the {field} holds {len(tokens)} parameter(s); {allowed} allowed",
            path=path,
            content=f"{field}:{len(tokens)}",
        )
