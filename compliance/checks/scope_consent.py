"""The consent scope a template relies on must record a strong enough kind of consent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit

DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them

KIND = "scope_consent"
SCOPE = "document"


class Params(CheckParams):
    allowed: list[str] = Field(description="Consent levels that suffice")
    message: str = Field(description="{scope}, {consent} and {allowed} are filled in")


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    ident = doc.model.consent_scope
    scope = ctx.index.get("consent_scope", ident) if ident else None
    if scope is None or scope.model is None:
        return  # missing or invalid: other rules say so
    if scope.model.consent not in params.allowed:
        yield Hit(
            params.message.format(
                scope=scope.id, consent=scope.model.consent, allowed=" or ".join(params.allowed)
            ),
            path=("consent_scope",),
            content=f"{scope.id}:{scope.model.consent}",
        )
