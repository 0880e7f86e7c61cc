"""Wrong types, unknown fields, missing fields: what the document model rejects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.checks.base import CheckParams, Context, Hit

KIND = "schema"
SCOPE = "document"
NEEDS_VALID = False  # it is what reports invalid documents


class Params(CheckParams):
    pass


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    for problem in doc.problems:
        yield Hit(problem.message, path=problem.path, key=problem.key, content=problem.message)
