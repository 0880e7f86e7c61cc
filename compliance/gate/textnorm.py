"""Inbound text reduced to plain upper-case words before keywords are matched, so that the ways
a STOP gets written ("Stop.", "S T O P", "ＳＴＯＰ", "ЅТОР" in Cyrillic, "S\u200dTOP", "🛑 stop!!",
"ΣΤΟΠ" on a Greek keyboard) all read STOP. Words in other scripts are read the same way
("стоп" is СТОП with its Latin look-alikes read as Latin, CTOП; "退订" is two words, one a
character), so a market file's "СТОП" or "退订" matches however it is typed. Each step is a
small function with its own tests."""

from __future__ import annotations

import re
import unicodedata

from compliance.gate.lookalikes import as_letter, latin

# apostrophes join the word they sit in (don't → DONT, m'envoyer → MENVOYER), so that phrases
# match however the apostrophe was typed; ´ before NFKC, which would split it off as an accent
_APOSTROPHES = dict.fromkeys(map(ord, "'’‘ʼ`´′＇"), None)
# default-ignorable code points outside category Cf that render as nothing and so can hide
# inside a word (Unicode DerivedCoreProperties.txt, Default_Ignorable_Code_Point): Hangul
# fillers, the combining grapheme joiner, Mongolian and other variation selectors
_INVISIBLE = {0x115F, 0x1160, 0x3164, 0xFFA0, 0x034F, *range(0x180B, 0x1810)}
_INVISIBLE |= {*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}
_INVISIBLE.add(0x0640)  # Arabic tatweel: a stroke that stretches a word ("تـوقـف")
# scripts whose vowel signs and viramas are part of the letter they sit on, not accents
# (Devanagari to Sinhala, Thai, Lao, Myanmar, Khmer): "करो" without its ो would be "कर"
_ABUGIDAS = ((0x0900, 0x0DFF), (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF))
# scripts written without spaces between words (kana, Han): each character is read as a word,
# so an opt-out word inside a sentence ("请退订短信") is found as in spaced text
_UNSPACED = (
    (0x3040, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3134F),
)


def unquoted(text: str) -> str:
    """Without the lines an email reply quotes ("> Reply STOP to opt out", RFC 3676), when the
    person wrote something else: a quoted footer would make every email reply look like an
    opt-out. A reply that is nothing but quoted lines is kept whole."""
    lines = text.splitlines()
    own = [line for line in lines if not line.lstrip().startswith(">")]
    if len(own) == len(lines) or not "".join(own).strip():
        return text
    return "\n".join(own)


def compatible(text: str) -> str:
    """Unicode compatibility forms folded (NFKC): fullwidth ＳＴＯＰ, mathematical 𝐒𝐓𝐎𝐏,
    circled Ⓢ, ligatures."""
    return unicodedata.normalize("NFKC", text.translate(_APOSTROPHES))


def visible(text: str) -> str:
    """Without format characters (zero-width joiners and spaces, bidi controls, soft hyphens)
    and other invisible code points, which can split a word without showing."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf" and ord(c) not in _INVISIBLE)


def reattached(text: str) -> str:
    """An abugida's vowel sign or virama put back on its letter when something was typed
    between them ("ब ं द" is बंद): the sign cannot stand alone, so the gap is a disguise."""
    return _DETACHED.sub("", text)


def unmarked(text: str) -> str:
    """Without combining marks (ARRÊT → ARRET, NÃO → NAO, zalgo S̷T̷O̷P̷ → STOP, Arabic vowel
    marks), the market files' words being read the same way; except an abugida's own marks on
    its own letters (बंद करो keeps its ं and ो), which spell the word."""
    out: list[str] = []
    base = ""
    for c in unicodedata.normalize("NFD", text):
        if not _is_mark(c):
            base = c
            out.append(c)
        elif (block := _abugida(c)) is not None and base and _abugida(base) == block:
            out.append(c)
    return "".join(out)


def greek(text: str) -> str:
    """Σ, ς and Π, π read as S and P, the letters they are transliterated as (ISO 843): none of
    them looks like a Latin letter, so STOP typed on a Greek keyboard (ΣΤΟΠ) would otherwise
    read as no word. σ too, in a word of Greek letters ("στοπ"); alone, or inside a Latin word
    ("stσp"), it is what it looks like, an o."""
    if not _HAS_GREEK.search(text):
        return text
    return _GREEK_WORD.sub(_transliterated, text).translate(_GREEK_LATIN)


def latin_letters(text: str) -> str:
    """Look-alike letters from other scripts read as the Latin ones they imitate."""
    return "".join(latin(c) for c in text)


def tokens(text: str) -> list[str]:
    """Upper-case words: letters and digits (with an abugida's marks); everything else
    (punctuation, emoji, spaces) separates them, and each character of a script written
    without spaces is a word. Digits inside a word are read as the letters they imitate
    (ST0P)."""
    found = _WORD.findall(text.upper())
    return [_letters(piece) for w in found for piece in _pieces(w)]


def joined(words: list[str]) -> list[str]:
    """Letters written one by one ("S T O P", "s.t.o.p", "s-t-o-p", "S T 0 P", "बं द क रो")
    joined into one word: a run of two or more one-letter words, one of them a letter. The
    characters of a script written without spaces stay words of their own."""
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if _one_letter(word):
            run.append(word)
            continue
        spelled = len(run) > 1 and any(w[0].isalpha() for w in run)
        out.extend([_letters("".join(run))] if spelled else run)
        run = []
        if word:
            out.append(word)
    return out


def unstretched(words: list[str]) -> list[list[str]]:
    """The readings of words with a letter held ("STOOOOP", "STOPPPP", "UNSUBSCRIBEEE"): each
    run of three or more of one letter read once as one letter and once as two (ABBESTELLLLEN
    is ABBESTELLEN). Empty when no word holds a letter."""
    if not any(_HELD.search(w) for w in words):
        return []
    return [[_HELD.sub(r"\1" * n, w) for w in words] for n in (1, 2)]


def words(text: str) -> list[str]:
    """The whole pipeline: what the keyword matching reads."""
    text = unquoted(text)
    if text.isascii():  # most replies: no compatibility forms, marks or look-alikes to undo
        return joined(tokens(text.translate(_APOSTROPHES)))
    # look-alikes are read before NFKC too, which turns some into letters that look like no
    # Latin one (Greek lunate sigma Ϲ, a C look-alike, becomes Σ); Greek words are read before
    # look-alikes (σ is an o look-alike) and after NFKC (mathematical 𝚺 becomes Σ)
    plain = compatible(latin_letters(greek(visible(text))))
    plain = unmarked(reattached(greek(visible(plain))))
    return joined(tokens(latin_letters(plain)))


def normalise(text: str) -> str:
    return " ".join(words(text))


def fold(text: str) -> str:
    """I and L as one letter, for matching only. confusables.txt gives I, 1, | and the capital
    I of other scripts (Cyrillic І, Greek Ι) the one prototype l, so a word written with any
    of them ("UNSUBSCRІBE" with a Cyrillic І, "UNSUBSCR1BE") matches its keyword."""
    return text.replace("I", "L")


def as_letters(word: str) -> str:
    """Each character read as the letter it imitates where it does (ST0P → STOP, 1 → L)."""
    return "".join(as_letter(c) for c in word).upper()


def unspaced(text: str) -> bool:
    """Whether the text holds a character of a script written without spaces (Han, kana)."""
    return any(map(_unspaced, text))


def _letters(word: str) -> str:
    if all(c.isalpha() or _is_mark(c) for c in word) or not any(c.isalpha() for c in word):
        return word
    return as_letters(word)


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _within(char: str, ranges: tuple[tuple[int, int], ...]) -> tuple[int, int] | None:
    return next((r for r in ranges if r[0] <= ord(char) <= r[1]), None)


def _abugida(char: str) -> tuple[int, int] | None:
    return _within(char, _ABUGIDAS)


def _unspaced(char: str) -> bool:
    return _within(char, _UNSPACED) is not None


def _one_letter(word: str) -> bool:
    """One letter or digit of a spaced script, with the marks an abugida puts on it."""
    return bool(word) and not _unspaced(word[0]) and all(map(_is_mark, word[1:]))


def _transliterated(match: re.Match[str]) -> str:
    word = match.group()
    return word if word == "σ" else word.replace("σ", "S")


def _pieces(word: str) -> list[str]:
    if not any(map(_unspaced, word)):
        return [word]
    return [p for p in _SPLIT.split(word) if p]


# a word: letters and digits, with the marks an abugida writes inside its words
_MARKS = "".join(
    re.escape(chr(c))
    for first, last in _ABUGIDAS
    for c in range(first, last + 1)
    if unicodedata.category(chr(c))[0] == "M"
)
_WORD = re.compile(rf"(?:[^\W_]|[{_MARKS}])+")
_BLOCKS = "".join(f"{chr(a)}-{chr(b)}" for a, b in _ABUGIDAS)
_DETACHED = re.compile(rf"(?<=[{_BLOCKS}])(?:[^\w{_MARKS}]|_)+(?=[{_MARKS}])")
_SPLIT = re.compile("([" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _UNSPACED) + "])")
_HELD = re.compile(r"([^\W\d_])\1{2,}")
_GREEK_LATIN = str.maketrans("ΣςΠπ", "SSPP")
_HAS_GREEK = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")
# a run of Greek letters that no other letter touches: in a Latin word σ is a disguise
_GREEK_WORD = re.compile(r"(?<![^\W\d_])[\u0370-\u03ff\u1f00-\u1fff]+(?![^\W\d_])")
