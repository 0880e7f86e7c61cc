"""Where a character of a string value sits in the source: the value and the YAML text are
walked together, skipping what quoting, escapes and folding took away."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compliance.loader import SourceFile


def align(source: SourceFile, node: Any) -> list[tuple[int, int]] | None:
    """Map each character of a string node's value to its (line, column) in the source.

    Works for plain, single- and double-quoted, literal and folded scalars by walking the value
    and the source text together, skipping what YAML folds away; gives up (None) when they part.
    """
    value: str = node.value
    text = source.text
    j = node.start_mark.index
    end = node.end_mark.index
    style = node.style or ""
    while j < end and text[j] in "&!":  # an anchor or a tag comes before the content
        while j < end and text[j] not in " \t\r\n":
            j += 1
        while j < end and text[j] in " \t\r\n":
            j += 1
    if style in ("|", ">"):
        j = text.find("\n", j) + 1 or end
    elif style in ("'", '"'):
        j += 1
    places: list[tuple[int, int]] = []
    i = 0
    n = len(value)
    while i < n:
        if j >= end:
            return None
        ch = value[i]
        s = text[j]
        if style == '"' and s == "\\":
            decoded, width = _escape(text, j)
            if decoded == "":  # escaped line break: nothing in the value
                j += width
                continue
            if decoded == ch:
                places.append(source.position(j))
                i += 1
                j += width
                continue
            return None
        if style == "'" and ch == "'" and text.startswith("''", j):
            places.append(source.position(j))
            i += 1
            j += 2
            continue
        if s == ch:
            places.append(source.position(j))
            i += 1
            j += 1
            continue
        if s in _FOLDED_AWAY:
            j += 1
            continue
        return None
    return places


_FOLDED_AWAY = frozenset(" \t\r\n\x85\u2028\u2029")


_SIMPLE_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}


def _escape(text: str, j: int) -> tuple[str, int]:
    """Decode the double-quoted escape at text[j] (a backslash): (character, source width)."""
    nxt = text[j + 1 : j + 2]
    if nxt in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[nxt], 2
    widths = {"x": 2, "u": 4, "U": 8}
    if nxt in widths:
        digits = text[j + 2 : j + 2 + widths[nxt]]
        try:
            return chr(int(digits, 16)), 2 + widths[nxt]
        except ValueError:
            return "\ufffd", 2
    if nxt in ("\n", "\r"):
        k = j + 2
        while k < len(text) and text[k] in " \t\r\n":
            k += 1
        return "", k - j
    return "\ufffd", 2
