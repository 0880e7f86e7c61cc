"""Placeholders used but not declared, declared but unused, and malformed braces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from compliance.checks.base import CheckParams, Context, Hit
from compliance.placeholders import scan, template_texts

DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them

KIND = "placeholders"
SCOPE = "document"


class Params(CheckParams):
    mode: Literal["undeclared", "unused", "malformed"]


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    declared = {str(k) for k in doc.model.variables}
    used: set[str] = set()
    for path, text in template_texts(doc.data):
        tokens, malformed = scan(text)
        for token in tokens:
            used.add(token.name)
            if params.mode == "undeclared" and token.name not in declared:
                yield Hit(
                    f"placeholder {{{{{token.name}}}}} is not declared under variables: "
                    f"add variables.{token.name} (with an example and max_length)",
                    path=path,
                    text=(token.start, token.end),
                    content=token.name,
                )
        if params.mode == "malformed":
            for bad in malformed:
                yield Hit(
                    f"malformed placeholder {bad.text!r}: write placeholders as "
                    "{{name}} with exactly two braces on each side",
                    path=path,
                    text=(bad.start, bad.end),
                    content=bad.text,
                )
    if params.mode == "unused":
        for name in sorted(declared - used):
            yield Hit(
                f"variable {name!r} is declared but no text uses {{{{{name}}}}}: "
                "remove it or use it",
                path=("variables", name),
                key=True,
                content=name,
            )
