"""Inbound replies read as opt-out, opt-in, help, review or none.

Missing an opt-out is the costly mistake (a message sent after STOP is a violation; a false
opt-out loses one marketing message), so the reading leans one way:
- opt-out: the reply is an opt-out word once normalised ("Stop.", "S T O P", "ЅТОР" in
  Cyrillic, "STOP please"), or wording a reasonable person reads as one where the market says
  so (phrases.py). The words are the market's, plus the fallback set that holds everywhere
  (markets/fallback/keywords.yaml); where no market is known (email), every market's too.
- review: anything that might be an opt-out and is not a clear one: an opt-out word inside
  other text ("stop? who is this"), a word one letter off one ("STPO", "UNSUBSCRIBR"), a word
  holding one ("pleasestop"), another market's word, hedged wording ("stop texting at night
  maybe"), a stop-sign emoji. A person decides; marketing is held meanwhile.
- opt-in and help: the market's words, YES only after an opt-in prompt."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from compliance.gate import phrases
from compliance.gate.textnorm import as_letters, fold, normalise, words
from compliance.market_params import Keywords

__all__ = ["classify", "effective", "fallback", "normalise"]

OPT_OUT, OPT_IN, HELP, REVIEW, NONE = "opt_out", "opt_in", "help", "review", "none"
FALLBACK = Path("markets") / "fallback" / "keywords.yaml"

# words that may surround an opt-out word and leave it a clear one ("STOP please", "ok stop
# thanks", French notices "STOP au 36xxx" copied back whole); digits are left out likewise
_FILLERS = frozenset(
    fold(w)
    for w in "PLEASE PLS PLZ NOW THANKS THANK YOU THX TY OK OKAY BITTE DANKE MERCI SVP STP "
    "AU POR FAVOR OBRIGADO OBRIGADA GRACIAS".split()
)
# wording that narrows a request ("stop sending at night maybe") is for a person to read
_HEDGES = frozenset(
    fold(w)
    for w in "MAYBE PERHAPS NIGHT NIGHTS MORNING MORNINGS EVENING EVENINGS WEEKEND WEEKENDS "
    "EARLY LATE OFTEN MANY MUCH UNTIL TILL AFTER BEFORE DURING EXCEPT INSTEAD ONLY "
    "VIELLEICHT NACHTS ABENDS MORGENS WOCHENENDE NUR BIS OFT VIELE SPAT "
    "PEUT NUIT SOIR MATIN SEULEMENT JUSQU TROP SOUVENT "
    "TALVEZ NOITE MADRUGADA MANHA ATE TANTAS TANTO QUIZAS QUIZA NOCHE TANTOS HASTA".split()
)
# a stop sign, no-entry sign, raised hand or muted bell in a reply may mean "stop"
_STOP_SIGNS = frozenset("\U0001f6d1\u26d4\U0001f6ab\u270b\U0001f645\U0001f515\U0001f4f5")
# a market's keywords, hashable: opt_out, opt_in, opt_in_after_prompt, help, reasonable_opt_out
_Key = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]
_MOST_WORDS = 24  # a reply longer than this is not only opt-out words
_NEAR_MIN = 4  # a word one letter off an opt-out word this long is a near miss
_NEAR_MIN_IN_TEXT = 6  # inside longer text only long words count ("cancel" → "cancer": yes)


@dataclass(frozen=True)
class Effective:
    """The words that apply to one reply, normalised (textnorm.words, folded, squashed)."""

    opt_out: frozenset[str]  # clear opt-outs here
    known: frozenset[str]  # every market's and the fallback's: reviews inside other text
    phrases_known: frozenset[tuple[str, ...]]  # multi-word ones, as words ("OPT", "OUT")
    near: dict[int, tuple[str, ...]]  # by the length of a word: opt-outs it may be one off
    near_in_text: dict[int, tuple[str, ...]]  # the same, for the long ones only
    opt_in: frozenset[str]
    after_prompt: frozenset[str]
    help: frozenset[str]
    reasonable: bool


@lru_cache(maxsize=1)
def fallback() -> Keywords:
    """The opt-out words that hold in every market and where none is known."""
    from compliance.errors import PackError
    from compliance.packs import shipped_pack_dir
    from compliance.validation import load_model

    model, _ = load_model(shipped_pack_dir() / FALLBACK, Keywords, PackError)
    assert isinstance(model, Keywords)
    return model


def effective(keywords: Keywords | None, extra: Iterable[Keywords] = ()) -> Effective:
    """What applies to a reply read with the market's `keywords` (None: no market known) and
    the other markets' `extra`."""
    return _effective(_key(keywords), tuple(_key(k) for k in extra))


def classify(
    text: str,
    keywords: Keywords | None,
    *,
    after_prompt: bool = False,
    extra: Iterable[Keywords] = (),
) -> str:
    """opt_out, opt_in, help, review or none for an inbound reply. `keywords`: the recipient's
    market's block (None where no market is known: email, a country without a market file);
    `extra`: the other markets' blocks (the gate passes every loaded market's). Their opt-out
    words are opt-outs where no market is known, and reviews where one is."""
    rules = effective(keywords, extra)
    reading = _read(text, rules, after_prompt)
    # | separates letters ("S|T|O|P") or stands for an l or I ("UNSUBSCR|BE"): read as a
    # separator above, as a letter here; a reply that then reads as one is a review
    if reading == NONE and "|" in text:
        lettered = _read(text.replace("|", "I"), rules, after_prompt)
        return REVIEW if lettered in (OPT_OUT, REVIEW) else NONE
    return reading


def _read(text: str, rules: Effective, after_prompt: bool) -> str:
    found = [fold(w) for w in words(text)]
    core = [w for w in found if w not in _FILLERS and not w.isdigit()]
    # digits standing alone are a number ("STOP au 36180") or a letter split off ("UNSUBSCR 1
    # BE"): both readings are tried
    lettered = [fold(as_letters(w)) if w.isdigit() else w for w in found if w not in _FILLERS]
    said = " ".join(core)
    if core and (_spelled(core, rules.opt_out) or _spelled(lettered, rules.opt_out)):
        return OPT_OUT
    if said in rules.opt_in or (after_prompt and said in rules.after_prompt):
        return OPT_IN
    if said in rules.help:
        return HELP
    if phrases.reads_as_opt_out(said):
        hedged = any(w in _HEDGES for w in found)
        return OPT_OUT if rules.reasonable and not hedged else REVIEW
    if _might_be(found, lettered, rules) or not _STOP_SIGNS.isdisjoint(text):
        return REVIEW
    return NONE


def _spelled(core: list[str], entries: frozenset[str]) -> bool:
    """Whether the words are opt-out words and nothing else, allowing a word split by spaces
    ("ST OP", "UN SU BSCRIBE") or repeated ("STOP STOP")."""
    if len(core) > _MOST_WORDS:
        return False
    longest = max(map(len, entries), default=0)
    done = [True] + [False] * len(core)
    for end in range(1, len(core) + 1):
        piece = ""
        for start in range(end - 1, -1, -1):
            piece = core[start] + piece
            if len(piece) > longest:
                break
            if done[start] and piece in entries:
                done[end] = True
                break
    return done[-1]


def _might_be(found: list[str], core: list[str], rules: Effective) -> bool:
    if any(w in rules.known for w in found) or _holds_phrase(found, rules.phrases_known):
        return True
    if _split_word(found, rules.known):
        return True
    squashed = "".join(core)
    if squashed in rules.known:
        return True  # another market's word, split: "A RRET"
    if len(core) == 1 and any(len(e) >= _NEAR_MIN and e in squashed for e in rules.known):
        return True  # one word holding an opt-out word: "pleasestop", "stopover"
    if _near(squashed, rules.near):
        return True
    return any(_near(w, rules.near_in_text) for w in set(found))


def _holds_phrase(found: list[str], entries: frozenset[tuple[str, ...]]) -> bool:
    return any(tuple(found[i : i + len(e)]) == e for e in entries for i in range(len(found)))


def _split_word(found: list[str], entries: frozenset[str]) -> bool:
    """An opt-out word split into short pieces inside other text ("please S TOP now")."""
    for start in range(len(found)):
        if len(found[start]) > 3:
            continue
        for end in range(start + 2, min(start + 5, len(found) + 1)):
            piece = found[start:end]
            short = all(len(p) <= 3 for p in piece) and min(map(len, piece)) <= 2
            if short and "".join(piece) in entries:
                return True
    return False


def _near(word: str, index: dict[int, tuple[str, ...]]) -> bool:
    return any(_one_edit(word, e) for e in index.get(len(word), ()))


def _near_index(entries: frozenset[str], shortest: int) -> dict[int, tuple[str, ...]]:
    index: dict[int, list[str]] = {}
    for entry in (e for e in entries if len(e) >= shortest):
        for length in (len(entry) - 1, len(entry), len(entry) + 1):
            index.setdefault(length, []).append(entry)
    return {length: tuple(found) for length, found in index.items()}


def _one_edit(a: str, b: str) -> bool:
    """Whether a and b differ by one insertion, deletion, substitution or swap of two
    neighbouring letters (Damerau-Levenshtein distance 1)."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
    return short[i:] == long_[i + 1 :]


def _key(keywords: Keywords | None) -> _Key | None:
    if keywords is None:
        return None
    return (
        tuple(keywords.opt_out),
        tuple(keywords.opt_in),
        tuple(keywords.opt_in_after_prompt),
        tuple(keywords.help),
        keywords.reasonable_opt_out,
    )


@lru_cache(maxsize=64)
def _effective(market: _Key | None, extra: tuple[_Key | None, ...]) -> Effective:
    base = fallback()
    others = {w for key in extra if key is not None for w in key[0]}
    own = set(base.opt_out) | set(market[0] if market else others)
    every = own | others
    clear = _squashed(own)
    return Effective(
        opt_out=clear,
        known=_squashed(every),
        phrases_known=frozenset(t for t in map(_words, every) if len(t) > 1),
        near=_near_index(clear, _NEAR_MIN),
        near_in_text=_near_index(clear, _NEAR_MIN_IN_TEXT),
        opt_in=_said(market[1] if market else ()),
        after_prompt=_said(market[2] if market else ()),
        help=_said(market[3] if market else ()),
        reasonable=bool(market[4]) if market else base.reasonable_opt_out,
    )


def _words(entry: str) -> tuple[str, ...]:
    return tuple(fold(w) for w in words(entry))


def _said(entries: Iterable[str]) -> frozenset[str]:
    return frozenset(s for s in (" ".join(_words(e)) for e in entries) if s)


def _squashed(entries: Iterable[str]) -> frozenset[str]:
    return frozenset(s for s in ("".join(_words(e)) for e in entries) if s)
