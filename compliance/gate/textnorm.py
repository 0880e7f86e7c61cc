"""Inbound text reduced to plain upper-case Latin words before keywords are matched, so that
the ways a STOP gets written ("Stop.", "S T O P", "ＳＴＯＰ", "ЅТОР" in Cyrillic, "S\u200dTOP",
"🛑 stop!!") all read STOP. Each step is a small function with its own tests."""

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


def unmarked(text: str) -> str:
    """Without combining marks (ARRÊT → ARRET, NÃO → NAO, zalgo S̷T̷O̷P̷ → STOP). Safe here
    because only Latin words are matched, and the market files' words are read the same way."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me"))


def latin_letters(text: str) -> str:
    """Look-alike letters from other scripts read as the Latin ones they imitate."""
    return "".join(latin(c) for c in text)


def tokens(text: str) -> list[str]:
    """Upper-case words: letters and digits; everything else (punctuation, emoji, spaces)
    separates them. Digits inside a word are read as the letters they imitate (ST0P)."""
    words = re.findall(r"[^\W_]+", text.upper())
    return [_letters(w) for w in words]


def joined(words: list[str]) -> list[str]:
    """Letters written one by one ("S T O P", "s.t.o.p", "s-t-o-p", "S T 0 P") joined into
    one word: a run of two or more one-character words, one of them a letter."""
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1:
            run.append(word)
            continue
        spelled = len(run) > 1 and any(c.isalpha() for c in run)
        out.extend([_letters("".join(run))] if spelled else run)
        run = []
        if word:
            out.append(word)
    return out


def words(text: str) -> list[str]:
    """The whole pipeline: what the keyword matching reads."""
    text = unquoted(text)
    if text.isascii():  # most replies: no compatibility forms, marks or look-alikes to undo
        return joined(tokens(text.translate(_APOSTROPHES)))
    # look-alikes are read before NFKC too, which turns some into letters that look like no
    # Latin one (Greek lunate sigma Ϲ, a C look-alike, becomes Σ)
    plain = unmarked(visible(compatible(latin_letters(text))))
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


def _letters(word: str) -> str:
    if word.isalpha() or not any(c.isalpha() for c in word):
        return word
    return as_letters(word)
