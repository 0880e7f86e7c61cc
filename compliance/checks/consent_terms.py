"""Implied and soft opt-in consent rest on a basis and last only as long as the market allows
for it (CASL: 2 years after a purchase, 6 months after an inquiry): a consent scope must say
which basis it relies on and expire no later than that."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.checks.base import CheckParams, Context, Hit
from compliance.documents import parse_duration

KIND = "consent_terms"
SCOPE = "document"
BASED = ("implied", "soft_opt_in")


class Params(CheckParams):
    pass


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


def _days(duration: str) -> float:
    parts = parse_duration(duration)
    return parts["years"] * 365.25 + parts["months"] * 30.44 + parts["weeks"] * 7 + parts["days"]
