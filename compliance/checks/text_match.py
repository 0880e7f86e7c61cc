"""Required and forbidden wording in a document's text fields.

One kind serves most content rules: an opt-out instruction in every marketing SMS, the elements
of a consent request, an `<ADV>` label at the start, a sender's STOP reply naming the brand,
restricted or promotional terms. Patterns are regular expressions, matched case-insensitively
unless `ignore_case` is false; `terms` are words or phrases matched whole.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator

from compliance.checks.base import CheckParams, Context, Hit, brand_pattern, texts_at
from compliance.placeholders import render

KIND = "text_match"
SCOPE = "document"


class Element(CheckParams):
    """A named pattern: `{name: ..., pattern: ...}`."""

    name: str = Field(description="What the pattern stands for, shown when it is missing.")
    pattern: str


class Params(CheckParams):
    fields: list[str] = Field(
        default_factory=lambda: ["body"],
        description="Dotted field paths; * stands for each list item or mapping value "
        "(capture.*.text, replies.stop, buttons.*.text).",
    )
    require_any: list[str] = Field(
        default_factory=list, description="At least one pattern must match the text."
    )
    require_all: list[Element] = Field(
        default_factory=list,
        description="Each pattern must match: a finding per one missing (one for all of them "
        "with `together`).",
    )
    forbid: list[str] = Field(default_factory=list, description="A finding per match.")
    one_per_sentence: bool = Field(
        default=False,
        description="Forbidden matches in one sentence are one finding, at the first: 'Take "
        "20% off' is one promotion, not two.",
    )
    terms: list[str] = Field(
        default_factory=list, description="Forbidden words or phrases, matched whole."
    )
    require_brand: bool = Field(
        default=False, description="The text must name the brand of the document's sender."
    )
    at: Literal["anywhere", "start", "end"] = Field(
        default="anywhere", description="Where required patterns must match."
    )
    each: bool = Field(
        default=False,
        description="Check each value on its own (each capture text), not all fields together.",
    )
    together: bool = Field(
        default=False,
        description="One finding naming every missing `require_all` element (and the brand, "
        "with `require_brand`), joined by '; ' into {name}, instead of a finding per element.",
    )
    missing: Literal["ignore", "report"] = Field(
        default="ignore", description="Whether a document without any of the fields fails."
    )
    examples_count: bool = Field(
        default=False, description="A placeholder's example counts as its text (a link)."
    )
    unless_consent: list[str] = Field(
        default_factory=list,
        description="Skip when the consent recorded is one of these levels: a consent scope's "
        "own, or the one a template's consent scope records.",
    )
    only_consent: list[str] = Field(
        default_factory=list,
        description="Check only when the consent recorded is one of these levels (same "
        "reading as unless_consent).",
    )
    ignore_case: bool = True
    message: str = Field(
        description="The finding's message; {name} is the missing element, {match} the "
        "forbidden text, {brand} the brand."
    )

    @field_validator("require_any", "forbid")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _compile(pattern)
        return patterns

    @field_validator("require_all")
    @classmethod
    def _elements_compile(cls, elements: list[Element]) -> list[Element]:
        for element in elements:
            _compile(element.pattern)
        return elements


def _compile(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """re.compile without re's FutureWarnings ("possible nested set" for `[[`...): printed on
    standard error, they would come before the pack error a bad pattern gets, or with every
    lint for a pattern that compiles; the pattern means the same either way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern, flags)


@lru_cache(maxsize=1024)
def _regex(pattern: str, at: str, ignore_case: bool) -> re.Pattern[str]:
    if at == "start":
        pattern = rf"\A\s*(?:{pattern})"
    elif at == "end":
        pattern = rf"(?:{pattern})\s*\Z"
    return _compile(pattern, re.IGNORECASE if ignore_case else 0)


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    if params.unless_consent or params.only_consent:
        ident = doc.data.get("consent_scope") if doc.kind == "template" else None
        if isinstance(ident, str) and ctx.index.get("consent_scope", ident) is None:
            return  # the consent is unknown: unknown-reference names the scope, once
        consent = _consent(doc, ctx)
        if consent in params.unless_consent:
            return
        if params.only_consent and consent not in params.only_consent:
            return
    found = texts_at(doc.data, params.fields)
    if not found:
        if params.missing == "report":
            yield Hit(
                params.message.format(name=", ".join(params.fields), match="", brand=""),
                content=f"missing:{','.join(params.fields)}",
            )
        return
    variables = getattr(doc.model, "variables", None) or {}
    groups = [[item] for item in found] if params.each else [found]
    for group in groups:
        text = "\n".join(
            render(t, variables, longest=False) if params.examples_count else t for _, t in group
        )
        yield from _required(params, group[0][0], text, doc, ctx)
    for path, text in found:
        yield from _forbidden(params, path, text)


def _required(
    params: Params, path: tuple[Any, ...], text: str, doc: Any, ctx: Context
) -> Iterator[Hit]:
    flags = (params.at, params.ignore_case)
    if params.require_any and not any(_regex(p, *flags).search(text) for p in params.require_any):
        yield Hit(
            params.message.format(name="", match="", brand=""),
            path=path,
            content=f"any:{'|'.join(params.require_any)}",
        )
    missing = [  # (name, content) of each required element the text lacks
        (element.name, f"all:{element.name}")
        for element in params.require_all
        if not _regex(element.pattern, *flags).search(text)
    ]
    brands: list[str] = []
    undeclared = False  # the sender declares no brand: a finding of its own, after the rest
    if params.require_brand:
        ident = doc.data.get("sender") if doc.kind == "template" else None
        # a sender that is not defined is skipped: unknown-reference says so, once
        if not (isinstance(ident, str) and ctx.index.get("sender", ident) is None):
            brands = ctx.index.brands(doc)
            undeclared = not brands
            if brands and not any(brand_pattern(b).search(text) for b in brands):
                missing.append(("brand", "brand:" + ",".join(brands)))
    if params.together and missing:
        yield Hit(
            params.message.format(
                name="; ".join(
                    f"the brand ({' or '.join(brands)})" if name == "brand" else name
                    for name, _ in missing
                ),
                match="",
                brand=" or ".join(brands),
            ),
            path=path,
            content=";".join(content for _, content in missing),
        )
    else:
        for name, content in missing:
            yield Hit(
                params.message.format(
                    name=name, match="", brand=" or ".join(brands) if name == "brand" else ""
                ),
                path=path,
                content=content,
            )
    if undeclared:
        yield Hit(
            params.message.format(name="brand", match="", brand="(none declared)")
            + "; declare the sender's `brand` so this can be checked",
            path=path,
            content="brand:none",
        )


_SENTENCE_END = re.compile(r"[.!?\u3002]+(?=\s|$)|\n")


def _forbidden(params: Params, path: tuple[Any, ...], text: str) -> Iterator[Hit]:
    ends = [m.end() for m in _SENTENCE_END.finditer(text)] if params.one_per_sentence else []
    seen: set[int] = set()
    matches = [
        match
        for regex, firsts in _forbidden_regexes(
            tuple(params.forbid), tuple(params.terms), params.at, params.ignore_case
        )
        if firsts is None or not text.isascii() or not firsts.isdisjoint(_words(text))
        for match in regex.finditer(text)
        if match.end() > match.start()
    ]
    if params.one_per_sentence:
        matches.sort(key=lambda m: m.start())
    for match in matches:
        if params.one_per_sentence:
            sentence = sum(1 for end in ends if end <= match.start())
            if sentence in seen:
                continue
            seen.add(sentence)
        yield Hit(
            params.message.format(name="", match=match.group(0).strip(), brand=""),
            path=path,
            text=(match.start(), match.end()),
            content=f"forbid:{match.group(0).lower()}",
        )


@lru_cache(maxsize=256)
def _forbidden_regexes(
    forbid: tuple[str, ...], terms: tuple[str, ...], at: str, ignore_case: bool
) -> tuple[tuple[re.Pattern[str], frozenset[str] | None], ...]:
    """The forbidden patterns, with every term folded into one alternation: a rule with 60
    terms scans each text once, not 60 times (bench/lint_speed.py). Each comes with the words
    one of its matches must start with in an ASCII text (see _first_words), or None."""
    found: list[tuple[re.Pattern[str], frozenset[str] | None]] = [
        (_regex(p, at, ignore_case), None) for p in forbid
    ]
    if terms:
        # longest first, so "free gift" wins over "free" where both are listed
        words = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
        found.append((re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE), _first_words(terms)))
    return tuple(found)


_WORD = re.compile(r"\w+")


def _first_words(terms: tuple[str, ...]) -> frozenset[str] | None:
    """The lowercased leading word of each term, when every term is ASCII and starts with a
    word character; else None (no shortcut). In an ASCII text a term's match starts where no
    word character precedes it and is followed by none, so the text's word at the match is
    the term's leading word exactly (the whole term, or what comes before its first space or
    hyphen): a text none of whose words is one of these holds no term, and the terms' regex,
    which tries every term at every position, need not scan it. ASCII only: matched without
    case, a Unicode text can match a term through other letters (the Kelvin sign K matches
    k)."""
    firsts = set()
    for term in terms:
        lead = _WORD.match(term)
        if not term.isascii() or lead is None:
            return None
        firsts.add(lead.group(0).lower())
    return frozenset(firsts)


@lru_cache(maxsize=64)
def _words(text: str) -> frozenset[str]:
    """An ASCII text's words, lowercased (the rules of a document ask for the same texts)."""
    return frozenset(_WORD.findall(text.lower()))


def _consent(doc: Any, ctx: Context) -> str | None:
    if doc.kind == "consent_scope":
        consent = doc.data.get("consent")
        return consent if isinstance(consent, str) else None
    ident = doc.data.get("consent_scope")
    scope = ctx.index.get("consent_scope", ident) if isinstance(ident, str) else None
    consent = scope.data.get("consent") if scope is not None else None
    return consent if isinstance(consent, str) else None
