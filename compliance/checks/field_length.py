"""Limits a platform sets on a template's parts: characters per field, items per list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit, field_values

KIND = "field_length"
SCOPE = "document"


class Params(CheckParams):
    max_chars: dict[str, int] = Field(default_factory=dict, description="Field path -> limit.")
    max_items: dict[str, int] = Field(default_factory=dict, description="List path -> limit.")
    message: str = Field(description="{field}, {count}, {limit} and {unit} are filled in")


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    for pattern, limit in params.max_chars.items():
        for path, value in field_values(doc.data, pattern):
            if isinstance(value, str) and len(value) > limit:
                yield _hit(params, path, len(value), limit, "characters")
    for pattern, limit in params.max_items.items():
        for path, value in field_values(doc.data, pattern):
            if isinstance(value, (list, dict)) and len(value) > limit:
                yield _hit(params, path, len(value), limit, "items")


def _hit(params: Params, path: tuple[Any, ...], count: int, limit: int, unit: str) -> Hit:
    from compliance.validation import dotted

    field = dotted(path)
    return Hit(
        params.message.format(field=field, count=count, limit=limit, unit=unit),
        path=path,
        content=f"{field}:{limit}",
    )
