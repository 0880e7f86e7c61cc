"""Wording a reasonable person reads as an opt-out, beyond the keywords: "please stop texting
me", "Löschen Sie meine Nummer", "arrête de m'envoyer des messages", "ya no quiero mensajes",
"não quero mais receber", "मैसेज मत भेजो", "请不要再发短信". Where the market says so
(keywords.reasonable_opt_out) a clear reading is an opt-out; elsewhere, and for a doubtful one,
the reply goes to review. The languages and their sources are in phrasebook.py; every language
is read in every market, since a person may write in any of them.

A reply, as normalised, folded words (textnorm), is read:
- clear where a language's clear wording stands in it;
- clear where a request (ARRÊT*, LÖSCH*, "DA* DE BAJA") and an object it is aimed at (messages,
  a list, a number, sending) of the same language stand at most three words apart, and where
  a request stands with a denial of consent ("I did not sign up for this, stop");
- doubtful where such a request is negated ("nicht löschen") or asked about ("wie kann ich mich
  abmelden"), or in a language of no shipped market (phrasebook.Language.sure), and where the
  reply is nothing but a request ("Löschen!", "Hör auf"): which words alone are opt-outs is
  each market's to say (keywords.opt_out), so "PARE" stays a review where it is not Brazil;
- doubtful where a language's doubtful wording ("not interested", "kein Interesse") or a
  denial of consent alone ("who gave you my number") stands in it;
- doubtful where any request and any object stand anywhere in it, of whatever language: a stop
  aimed at messages that cannot be placed is never nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from compliance.gate import phrasebook
from compliance.gate.phrasebook import Language
from compliance.gate.textnorm import fold, words

CLEAR, DOUBTFUL = "clear", "doubtful"
_WINDOW = 3  # words at most between a request and its object
_GAP = r"(?:\S+ ){0,3}"  # … in an entry
_NEVER = re.compile(r"(?!)")

Span = tuple[int, int]  # first and last word


@dataclass(frozen=True)
class _Compiled:
    clear: re.Pattern[str]
    requests: re.Pattern[str]
    objects: re.Pattern[str]
    doubtful: re.Pattern[str]
    denials: re.Pattern[str]
    sure: bool


def reading(said: str) -> str | None:
    """CLEAR, DOUBTFUL or None for a reply's normalised, folded words, one space apart."""
    if not said:
        return None
    found = said.split(" ")
    doubt = False
    for language in _languages():
        requests = _spans(language.requests, said)
        objects = _spans(language.objects, said) if requests else []
        paired = [r for r in requests if any(_close(r, o) for o in objects)]
        denied = _spans(language.denials, said)
        # "I did not sign up for this, stop": a request and a denial anywhere in the reply; a
        # question inside the denial ("how did you get my number? stop") asks nothing
        backed = paired or (requests if denied else [])
        hedged = bool(backed) and _hedged(backed, found, denied)
        plain = language.clear.search(said) or (backed and not hedged)
        if plain and language.sure:
            return CLEAR
        alone = bool(requests) and _only(requests, found)
        doubtful = bool(denied) or bool(language.doubtful.search(said))
        doubt = doubt or bool(plain or hedged or alone or doubtful)
    if doubt or (_spans(_any().requests, said) and _spans(_any().objects, said)):
        return DOUBTFUL
    return None


def _spans(pattern: re.Pattern[str], said: str) -> list[Span]:
    """Where the pattern stands, by word: the spaces before its start and before its end."""
    found = pattern.finditer(said)
    return [(said.count(" ", 0, m.start()), said.count(" ", 0, m.end())) for m in found]


def _close(a: Span, b: Span) -> bool:
    return max(b[0] - a[1], a[0] - b[1]) - 1 <= _WINDOW


def _only(requests: list[Span], found: list[str]) -> bool:
    """Whether the reply is requests and words that leave it one (pronouns)."""
    covered = {i for first, last in requests for i in range(first, last + 1)}
    spare = _words(phrasebook.SPARE)
    return all(i in covered or w in spare for i, w in enumerate(found))


def _hedged(requests: list[Span], found: list[str], skip: list[Span]) -> bool:
    """A request negated by the word before it, or a reply that asks a question (outside the
    spans in `skip`)."""
    negators = _words(phrasebook.NEGATORS)
    negated = any(first > 0 and found[first - 1] in negators for first, _ in requests)
    skipped = {i for first, last in skip for i in range(first, last + 1)}
    asked = [w for i, w in enumerate(found) if i not in skipped]
    return negated or not _words(phrasebook.QUESTIONS).isdisjoint(asked)


@cache
def _words(entries: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_said(e) for e in entries)


@lru_cache(maxsize=1)
def _languages() -> tuple[_Compiled, ...]:
    """The phrasebook compiled, on the first reply (reading Cyrillic or Devanagari entries needs
    the look-alike table, which the gate loads only then)."""
    return tuple(_compile(language) for language in phrasebook.LANGUAGES)


@lru_cache(maxsize=1)
def _any() -> _Compiled:
    every = Language(
        "any",
        requests=tuple(r for lang in phrasebook.LANGUAGES for r in lang.requests),
        objects=tuple(o for lang in phrasebook.LANGUAGES for o in lang.objects),
    )
    return _compile(every)


def _compile(language: Language) -> _Compiled:
    clear = [fold(p) for p in language.patterns] + [_pattern(e) for e in language.clear]
    return _Compiled(
        _union(clear),
        _union([_pattern(e) for e in _longest_first(language.requests)]),
        _union([_pattern(e) for e in _longest_first(language.objects)]),
        _union([fold(p) for p in language.doubtful]),
        _union([fold(p) for p in language.denials]),
        language.sure,
    )


def _longest_first(entries: tuple[str, ...]) -> list[str]:
    """Longer entries first, so that a match covers "DỪNG LẠI" whole rather than DỪNG."""
    return sorted(entries, key=len, reverse=True)


def _union(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else _NEVER


def _pattern(entry: str) -> str:
    """An entry in plain spelling as a pattern over normalised, folded words."""
    out = ""
    for token in entry.split():
        if token == "…":
            out += _GAP
            continue
        stem = token.rstrip("*")
        out += re.escape(_said(stem)) + (r"\S*" if token.endswith("*") else "") + " "
    return rf"(?<!\S){out[:-1]}(?!\S)"


def _said(text: str) -> str:
    return " ".join(fold(w) for w in words(text))
