"""Problems with a file as YAML: syntax, encoding, size, alias bombs, duplicate keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.checks.base import CheckParams, Context, Hit

KIND = "syntax"
SCOPE = "file"


class Params(CheckParams):
    pass


def check(source: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    for problem in source.problems:
        yield Hit(
            problem.message,
            span=problem.span,
            content=f"{problem.code}:{problem.message}",
            cause=problem.code,
        )
