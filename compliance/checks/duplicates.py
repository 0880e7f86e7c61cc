"""Ids are unique per kind across the whole repo: a second definition would shadow the first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.checks.base import CheckParams, Context, Hit

KIND = "duplicates"
SCOPE = "document"
NEEDS_VALID = False  # an id clash matters even while another field is still wrong


class Params(CheckParams):
    pass


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    if doc.id is None:
        return
    same = ctx.index.all(doc.kind, doc.id)
    if len(same) < 2:
        return
    others = [d for d in same if d is not doc]
    places = ", ".join(f"{d.path}:{d.span(('id',)).line}" for d in others)
    yield Hit(
        f"{doc.kind} id {doc.id!r} is defined more than once (also at {places}): "
        "give each its own id",
        path=("id",),
        content=doc.id,
    )
