"""A field a market or channel requires although the format leaves it optional (an RCS
template's SMS fallback, an email's subject)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.checks.base import CheckParams, Context, Hit, field_values

KIND = "required_field"
SCOPE = "document"


class Params(CheckParams):
    field: str
    message: str


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    values = [v for _, v in field_values(doc.data, params.field) if v not in (None, "", [], {})]
    if not values:
        yield Hit(params.message, content=f"missing:{params.field}")
