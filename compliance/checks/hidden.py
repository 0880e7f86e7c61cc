"""Invisible characters in any text: zero-width characters, bidi controls and other format or
control characters. They hide words from reviewers and filters, reorder what a reader sees
(Trojan Source, CVE-2021-42574) and force UCS-2 encoding on SMS."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

from compliance.checks.base import CheckParams, Context, Hit, text_fields

KIND = "hidden_characters"
SCOPE = "document"
NEEDS_VALID = False

ZWJ = "\u200d"
VARIATION_SELECTORS = {chr(c) for c in range(0xFE00, 0xFE10)}
# invisible though not in category Cf: Hangul fillers, braille blank, Mongolian vowel separator
INVISIBLE_EXTRA = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u180e"}
ALLOWED_CONTROLS = {"\n", "\t", "\r"}


class Params(CheckParams):
    pass


_STRIP_ALLOWED = str.maketrans("", "", "".join(ALLOWED_CONTROLS))


def hidden_positions(text: str) -> Iterator[tuple[int, str]]:
    stripped = text.translate(_STRIP_ALLOWED)
    if stripped.isprintable() and not INVISIBLE_EXTRA.intersection(stripped):
        return  # the common case, decided in C
    for i, ch in enumerate(text):
        if ch.isprintable() or ch in ALLOWED_CONTROLS:
            if ch not in INVISIBLE_EXTRA:
                continue
        elif ch == ZWJ and _joins_emoji(text, i):
            continue  # 👨‍👩‍👧 and friends are built with ZWJ
        elif ch in VARIATION_SELECTORS:
            continue  # emoji presentation selectors, e.g. ❤️
        elif unicodedata.category(ch) in ("Zs", "Zl", "Zp") and ch != "\u2028" and ch != "\u2029":
            continue  # visible spacing
        yield i, ch


def _joins_emoji(text: str, i: int) -> bool:
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    return _emojiish(before) and _emojiish(after)


def _emojiish(ch: str) -> bool:
    return bool(ch) and (
        ord(ch) >= 0x1F000
        or unicodedata.category(ch) == "So"
        or ch in VARIATION_SELECTORS
        or 0x1F3FB <= ord(ch) <= 0x1F3FF
    )


def describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if not name:
        name = {"\x7f": "DELETE"}.get(ch, "control character")
    return f"U+{ord(ch):04X} {name}"


def _file_may_hide(source: Any) -> bool:
    """False when the file's text has no such character and no backslash escape that could
    make one: then none of its documents can (the common case, decided once per file in C)."""
    if KIND not in source.cache:
        text = source.text
        source.cache[KIND] = "\\" in text or any(True for _ in hidden_positions(text))
    return source.cache[KIND]


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    if not _file_may_hide(doc.yaml.source):
        return
    for path, text in text_fields(doc.data):
        if path and path[0] == "suppress":
            continue
        for i, ch in hidden_positions(text):
            yield Hit(
                f"hidden character {describe(ch)} in {_dotted(path)}: remove it",
                path=path,
                text=(i, i + 1),
                content=f"{_dotted(path)}:{text[max(0, i - 12) : i + 12]}",
            )
    for path in _keys(doc.data):
        chars = ", ".join(describe(ch) for _, ch in hidden_positions(str(path[-1])))
        if chars:  # a variable named "co\u200bde" never matches {{code}}
            yield Hit(
                f"hidden character {chars} in the key {_dotted(path)!r}: remove it",
                path=path,
                key=True,
                content=f"key:{_dotted(path)}",
            )


def _keys(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key)
            yield from _keys(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _keys(value, (*path, i))


def _dotted(path: tuple[Any, ...]) -> str:
    from compliance.validation import dotted

    return dotted(path)
