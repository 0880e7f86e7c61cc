"""Implied and soft opt-in consent rest on a basis and last only as long as the market allows
for it (CASL: 2 years after a purchase, 6 months after an inquiry): a consent scope must say
which basis it relies on and expire no later than that. Where the basis must be a sale or the
negotiations for one (PECR's soft opt-in), a rule can list what a collection that is neither
reads like (`not_a_sale`: a prize draw entry, a competition): a scope whose capture wording or
source reads so does not rest on the basis it names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pydantic import Field, field_validator

from compliance.checks.base import CheckParams, Context, Hit
from compliance.documents import parse_duration

KIND = "consent_terms"
SCOPE = "document"
BASED = ("implied", "soft_opt_in")


class NotASale(CheckParams):
    """A way of collecting details that is not a sale: `{name, pattern}`."""

    name: str = Field(description="What the collection is, shown in the finding.")
    pattern: str = Field(description="Matched case-insensitively in capture texts and sources.")


class Params(CheckParams):
    not_a_sale: list[NotASale] = Field(
        default_factory=list,
        description="Collections that are not a sale or negotiations for one (a prize draw "
        "entry): a scope whose capture reads so does not rest on a sale basis.",
    )
    sale_bases: list[str] = Field(
        default_factory=lambda: ["purchase", "inquiry", "existing_customer"],
        description="The bases that claim a sale or negotiations for one.",
    )
    unless: list[str] = Field(
        default_factory=list,
        description="Wording of a sale in the same capture (an order, a quote): it is one.",
    )
    message: str = Field(
        default="basis {basis!r} claims a sale or negotiations for a sale, but the details "
        "were collected through {name} ({source}), which is neither",
        description="The finding for not_a_sale; {basis}, {name}, {source}.",
    )

    @field_validator("unless")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _regex(pattern)
        return patterns

    @field_validator("not_a_sale")
    @classmethod
    def _kinds_compile(cls, kinds: list[NotASale]) -> list[NotASale]:
        for kind in kinds:
            _regex(kind.pattern)
        return kinds


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    rules = ctx.market.parameters.consent if ctx.market is not None else None
    scope = doc.model
    if rules is None or scope.consent not in BASED:
        return
    code = ctx.market.code  # type: ignore[union-attr]
    grounds = ", ".join(rules.implied_max) or "none"
    if scope.basis is None:
        yield Hit(
            f"{scope.consent} consent needs a `basis` in {code} (one of: {grounds})",
            path=("consent",),
            content="basis:missing",
        )
        return
    if scope.basis not in rules.implied_max:
        yield Hit(
            f"basis {scope.basis!r} does not ground {scope.consent} consent in {code} "
            f"(grounds: {grounds})",
            path=("basis",),
            content=f"basis:{scope.basis}",
        )
        return
    if params.not_a_sale and scope.basis in params.sale_bases:
        found = _not_a_sale(scope, params)
        if found is not None:
            i, name = found
            source = scope.capture[i].source
            yield Hit(
                params.message.format(basis=scope.basis, name=name, source=f"capture {source!r}"),
                path=("capture", i, "text"),
                content=f"not-a-sale:{name}",
            )
            return
    limit = rules.implied_max[scope.basis]
    if limit is None:
        return  # no fixed term for this basis
    if scope.expires_after is None:
        yield Hit(
            f"{scope.consent} consent on basis {scope.basis!r} lapses after {limit} in "
            f"{code}: set `expires_after` to {limit} or less",
            path=("basis",),
            content=f"expiry:missing:{limit}",
        )
    elif _days(scope.expires_after) > _days(limit):
        yield Hit(
            f"expires_after {scope.expires_after} is longer than {code} allows for "
            f"{scope.consent} consent on basis {scope.basis!r} ({limit})",
            path=("expires_after",),
            content=f"expiry:{scope.expires_after}:{limit}",
        )


def _not_a_sale(scope: Any, params: Params) -> tuple[int, str] | None:
    """The first capture that reads as a collection that is not a sale, with what it is; a
    capture that also speaks of a sale (an order, a quote) is one."""
    for i, capture in enumerate(scope.capture):
        text = f"{capture.source}\n{capture.text}".replace("-", " ").replace("_", " ")
        if any(_regex(p).search(text) for p in params.unless):
            continue
        for kind in params.not_a_sale:
            if _regex(kind.pattern).search(text):
                return i, kind.name
    return None


def _days(duration: str) -> float:
    parts = parse_duration(duration)
    return parts["years"] * 365.25 + parts["months"] * 30.44 + parts["weeks"] * 7 + parts["days"]
