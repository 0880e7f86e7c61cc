"""Placeholders in message text: {{name}}, and WhatsApp-style {{1}}."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

TOKEN = re.compile(r"\{\{([^{}]*)\}\}")
NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_.]*|\d+)$")
# a single-brace {name} is almost always a placeholder written wrongly
SINGLE = re.compile(r"(?<!\{)\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*\}(?!\})")

# template fields whose text is sent and may hold placeholders
TEXT_FIELDS = ("body", "subject", "header", "footer", "buttons", "headers")


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Malformed:
    text: str
    start: int
    end: int


@lru_cache(maxsize=4096)
def scan(text: str) -> tuple[tuple[Token, ...], tuple[Malformed, ...]]:
    """Placeholders and malformed braces in `text` (cached: three rules scan the same texts)."""
    if "{" not in text and "}" not in text:
        return (), ()
    tokens: list[Token] = []
    bad: list[Malformed] = []
    taken = [False] * len(text)
    for match in TOKEN.finditer(text):
        name = match.group(1).strip()
        start, end = match.span()
        for i in range(start, end):
            taken[i] = True
        triple = (start > 0 and text[start - 1] == "{") or (end < len(text) and text[end] == "}")
        if NAME.match(name) and not triple:
            tokens.append(Token(name, start, end))
        else:
            s, e = (
                start - 1 if triple and start and text[start - 1] == "{" else start,
                end + 1 if triple and end < len(text) and text[end] == "}" else end,
            )
            bad.append(Malformed(text[s:e], s, e))
    for match in re.finditer(r"\{\{|\}\}", text):
        start, end = match.span()
        if not any(taken[start:end]) and not any(b.start <= start < b.end for b in bad):
            bad.append(Malformed(match.group(), start, end))
    for match in SINGLE.finditer(text):
        start, end = match.span()
        if not any(taken[start:end]):
            bad.append(Malformed(match.group(), start, end))
    bad.sort(key=lambda b: b.start)
    return tuple(tokens), tuple(bad)


def template_texts(data: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, text) of every sent text field of a template."""
    from compliance.checks.base import text_fields

    for name in TEXT_FIELDS:
        if name in data:
            yield from text_fields(data[name], (name,))


def render(text: str, variables: dict[str, Any], *, longest: bool = True) -> str:
    """Text with each placeholder replaced by a sample: max_length 'x's, else the example."""

    def sample(match: re.Match[str]) -> str:
        spec = variables.get(match.group(1).strip())
        if spec is None:
            return match.group(0)
        if longest and getattr(spec, "max_length", None):
            return "x" * spec.max_length
        example = getattr(spec, "example", None)
        return match.group(0) if example is None else str(example)

    return TOKEN.sub(sample, text)
