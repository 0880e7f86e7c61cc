"""A template's sender, consent_scope and fallback must name documents that exist."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any, Literal

from compliance.checks.base import CheckParams, Context, Hit

KIND = "references"
SCOPE = "document"

# field of a template -> kind of document it names
TARGETS = {"sender": "sender", "consent_scope": "consent_scope", "fallback": "template"}


class Params(CheckParams):
    fields: list[Literal["sender", "consent_scope", "fallback"]] = list(TARGETS)


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    for name in params.fields:
        ident = doc.data.get(name)
        if not isinstance(ident, str):
            continue
        kind = TARGETS[name]
        if ctx.index.get(kind, ident) is not None:
            continue
        known = ctx.index.ids(kind)
        near = difflib.get_close_matches(ident, known, n=1, cutoff=0.6)
        hint = (
            f"; did you mean {near[0]!r}?"
            if near
            else (
                f"; define a {kind} with this id"
                if not known
                else f"; known {kind} ids: {', '.join(sorted(known)[:5])}"
                + ("..." if len(known) > 5 else "")
            )
        )
        yield Hit(
            f"{name} {ident!r} is not defined in this repo{hint}", path=(name,), content=ident
        )
