"""Letters from other scripts that look like Latin ones (Cyrillic С, Greek Τ, Lisu ꓢ, small
capitals), read as the Latin letter they imitate, so that "ЅТОР" is seen as STOP.

The table is Unicode's confusables.txt (UTS #39), as the confusable-homoglyphs package ships
and updates it; a hand-kept list would miss most of its ten thousand entries."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# A few look-alikes confusables.txt maps to another non-Latin letter rather than to Latin
# (small capital ᴛ → Cyrillic т): their Unicode names still say which Latin letter they are
# (LATIN LETTER SMALL CAPITAL T, NEGATIVE SQUARED LATIN CAPITAL LETTER S, REGIONAL INDICATOR
# SYMBOL LETTER S), so the character database answers where the table does not.
_NAMED_LETTER = re.compile(
    r"(?:LATIN|REGIONAL INDICATOR SYMBOL) (?:CAPITAL |SMALL )?LETTER (?:SMALL CAPITAL )?"
    r"([A-Z])(?: WITH .*)?$"
)


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    """Each look-alike character and the ASCII letter (else digit) it is confusable with."""
    # imported on the first inbound reply, not with the gate: the table is 900 kB of JSON
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[str, str] = {}
    for char, glyphs in confusables_data.items():
        # right-to-left entries come wrapped in LEFT-TO-RIGHT MARKs: drop those
        key = _bare(char)
        found = [g for g in map(_bare, (g["c"] for g in glyphs)) if len(g) == 1 and g.isascii()]
        best = [g for g in found if g.isalpha()] or [g for g in found if g.isalnum()]
        if len(key) == 1 and best:
            table[key] = best[0]
    return table


def _bare(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _from_table(char: str) -> str | None:
    return _table().get(char)


@lru_cache(maxsize=8192)
def latin(char: str) -> str:
    """The ASCII letter (or digit) `char` is made to look like, else `char` itself. ASCII
    characters are themselves: digits are read as letters only inside words (as_letter)."""
    if char.isascii():
        return char
    for candidate in dict.fromkeys((char, char.upper())):
        if len(candidate) == 1 and (found := _from_table(candidate)):
            return found
    named = _NAMED_LETTER.search(unicodedata.name(char, ""))
    return named.group(1) if named else char


@lru_cache(maxsize=64)
def as_letter(char: str) -> str:
    """The letter an ASCII digit or sign stands for inside a word (ST0P: 0 → O, 1 → l),
    by the same table; else `char`."""
    return char if char.isalpha() else _from_table(char) or char
