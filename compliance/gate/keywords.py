"""Inbound replies read as opt-out, opt-in, help, review or none.

Missing an opt-out is the costly mistake (a message sent after STOP is a violation; a false
opt-out loses one marketing message), so the reading leans one way:
- opt-out: the reply is an opt-out word once normalised ("Stop.", "S T O P", "ЅТОР" in
  Cyrillic, "STOP please", "stoooop", "退订"), or wording a reasonable person reads as one where
  the market says so (phrases.py). The words are the market's (opt_out, and opt_out_alone:
  everyday words that count only as the whole reply), plus the fallback set that holds
  everywhere (markets/fallback/keywords.yaml); where no market is known (email), every
  market's too.
- review: anything that might be an opt-out and is not a clear one: an opt-out word inside
  other text ("stop? who is this"), a word one letter off one ("STPO", "UNSUBSCRIBR"), a word
  holding one ("pleasestop"), another market's word, a review word (keywords.review: another
  script's word for stop), hedged or doubtful wording ("stop texting at night maybe", "wie kann
  ich mich abmelden"), a stop-sign emoji. A person decides; marketing is held meanwhile.
- opt-in and help: the market's words, YES only after an opt-in prompt.
A reply is read whole and as the person's own words (signatures.py: without "Sent from my
iPhone", a signature, the quoted message), and the stronger reading counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from compliance.gate import phrases, signatures
from compliance.gate.textnorm import as_letters, fold, normalise, unspaced, unstretched, words
from compliance.market_params import Keywords

__all__ = ["classify", "effective", "fallback", "normalise"]

OPT_OUT, OPT_IN, HELP, REVIEW, NONE = "opt_out", "opt_in", "help", "review", "none"
FALLBACK = Path("markets") / "fallback" / "keywords.yaml"

# words that may surround an opt-out word and leave it a clear one ("STOP please", "ok stop
# thanks", "BAJA ya", "请退订", French notices "STOP au 36xxx" copied back whole); digits are
# left out likewise. Chinese is read a character a word: 谢谢 is 谢 twice, 麻烦 (please) 麻 烦.
_FILLER_WORDS = (
    "PLEASE PLS PLZ NOW THANKS THANK YOU THX TY OK OKAY BITTE DANKE SOFORT JETZT MERCI SVP STP "
    "AU POR FAVOR OBRIGADO OBRIGADA GRACIAS YA TOLONG TERIMA KASIH LAH LEH LOR JI KRIPYA "
    "请 請 谢 謝 了 吧 啦 哦 呀 啊 麻 烦 煩 कृपया धन्यवाद जी தயவுசெய்து நன்றி ПОЖАЛУЙСТА СПАСИБО"
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
# the readings of a reply, strongest first: with a letter held ("stoooop") it has several
_RANK = (OPT_OUT, REVIEW, OPT_IN, HELP, NONE)
_MOST_WORDS = 24  # a reply longer than this is not only opt-out words
_NEAR_MIN = 4  # a word one letter off an opt-out word this long is a near miss
_NEAR_MIN_IN_TEXT = 6  # inside longer text only long words count ("cancel" → "cancer": yes)


@dataclass(frozen=True)
class Effective:
    """The words that apply to one reply, normalised (textnorm.words, folded, squashed)."""

    opt_out: frozenset[str]  # clear opt-outs here
    known: frozenset[str]  # every market's and the fallback's: reviews inside other text
    alone: frozenset[str]  # other markets' opt_out_alone words: reviews as the whole reply
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
    from compliance.packs import fallback_keywords

    return fallback_keywords()


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
    reading = _classify(text, rules, after_prompt)
    own = signatures.own(text)
    if own == text or reading == OPT_OUT:
        return reading
    # "STOP\nSent from my iPhone": the whole reply holds STOP inside other text (a review),
    # the person's own words are a clear STOP; taking lines away can only add an opt-out
    return min(reading, _classify(own, rules, after_prompt), key=_RANK.index)


def _classify(text: str, rules: Effective, after_prompt: bool) -> str:
    reading = _reading(text, rules, after_prompt)
    # | separates letters ("S|T|O|P") or stands for an l or I ("UNSUBSCR|BE"): read as a
    # separator above, as a letter here; a reply that then reads as one is a review
    if reading == NONE and "|" in text:
        lettered = _reading(text.replace("|", "I"), rules, after_prompt)
        return REVIEW if lettered in (OPT_OUT, REVIEW) else NONE
    return reading


def _reading(text: str, rules: Effective, after_prompt: bool) -> str:
    found = words(text)
    # a held letter ("STOOOOP", "ABBESTELLLLEN") is read back as one letter and as two, and as
    # written: "TRANQU1LLE" (1 for I) holds three Ls that are the word's own
    readings = [found, *unstretched(found)]
    folded = ([fold(w) for w in r] for r in readings)
    return min((_read(r, text, rules, after_prompt) for r in folded), key=_RANK.index)


def _read(found: list[str], text: str, rules: Effective, after_prompt: bool) -> str:
    fillers = _fillers()
    core = [w for w in found if w not in fillers and not w.isdigit()]
    # digits standing alone are a number ("STOP au 36180") or a letter split off ("UNSUBSCR 1
    # BE"): both readings are tried
    lettered = [fold(as_letters(w)) if w.isdigit() else w for w in found if w not in fillers]
    said = " ".join(core)
    # a filler may also be a piece of a word split up: "AU S TRAG EN" is AUSTRAGEN
    whole = [w for w in found if not w.isdigit()]
    if core and any(_spelled(w, rules.opt_out) for w in (core, lettered, whole)):
        return OPT_OUT
    if said in rules.opt_in or (after_prompt and said in rules.after_prompt):
        return OPT_IN
    if said in rules.help:
        return HELP
    wording = phrases.reading(said)
    if wording == phrases.CLEAR:
        hedged = any(w in _HEDGES for w in found)
        return OPT_OUT if rules.reasonable and not hedged else REVIEW
    if wording == phrases.DOUBTFUL or _might_be(found, lettered, rules):
        return REVIEW
    if core and _spelled(core, rules.alone):
        return REVIEW  # another market's everyday opt-out word, alone: "CHEGA" to a US number
    return REVIEW if not _STOP_SIGNS.isdisjoint(text) else NONE


@lru_cache(maxsize=1)
def _fillers() -> frozenset[str]:
    return frozenset(fold(w) for w in words(_FILLER_WORDS))


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
    if squashed in rules.known or "".join(found) in rules.known:
        return True  # another market's word, split: "A RRET", "AU S TRAG EN"
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
    """Opt-out words by the lengths of the words one letter off them. Not Chinese ones: one
    character off 取消订阅 (unsubscribe) is 取消订单 (cancel the order), not a typing slip."""
    index: dict[int, list[str]] = {}
    for entry in (e for e in entries if len(e) >= shortest and not unspaced(e)):
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


@dataclass(frozen=True)
class _Key:
    """A market's keywords, hashable (the model holds lists), for the cache below."""

    opt_out: tuple[str, ...]
    opt_out_alone: tuple[str, ...]
    review: tuple[str, ...]
    opt_in: tuple[str, ...]
    opt_in_after_prompt: tuple[str, ...]
    help: tuple[str, ...]
    reasonable_opt_out: bool


def _key(keywords: Keywords | None) -> _Key | None:
    if keywords is None:
        return None
    return _Key(
        tuple(keywords.opt_out),
        tuple(keywords.opt_out_alone),
        tuple(keywords.review),
        tuple(keywords.opt_in),
        tuple(keywords.opt_in_after_prompt),
        tuple(keywords.help),
        keywords.reasonable_opt_out,
    )


@lru_cache(maxsize=64)
def _effective(market: _Key | None, extra: tuple[_Key | None, ...]) -> Effective:
    base = _key(fallback())
    assert base is not None
    others = [key for key in extra if key is not None]
    clear = {*base.opt_out, *base.opt_out_alone}
    if market is not None:
        clear |= {*market.opt_out, *market.opt_out_alone}
    else:  # no market known: every market's words are its own
        clear |= {w for key in others for w in (*key.opt_out, *key.opt_out_alone)}
    every = [base, *others, *([market] if market is not None else [])]
    known = {w for key in every for w in (*key.opt_out, *key.review)}
    everyday = {w for key in every for w in key.opt_out_alone}
    return Effective(
        opt_out=_squashed(clear),
        known=_squashed(known),
        alone=_squashed(everyday - clear),
        phrases_known=frozenset(t for t in map(_words, known) if len(t) > 1),
        near=_near_index(_squashed(clear - everyday), _NEAR_MIN),
        near_in_text=_near_index(_squashed(clear - everyday), _NEAR_MIN_IN_TEXT),
        opt_in=_said(market.opt_in if market else ()),
        after_prompt=_said(market.opt_in_after_prompt if market else ()),
        help=_said(market.help if market else ()),
        reasonable=market.reasonable_opt_out if market else base.reasonable_opt_out,
    )


def _words(entry: str) -> tuple[str, ...]:
    return tuple(fold(w) for w in words(entry))


def _said(entries: Iterable[str]) -> frozenset[str]:
    return frozenset(s for s in (" ".join(_words(e)) for e in entries) if s)


def _squashed(entries: Iterable[str]) -> frozenset[str]:
    return frozenset(s for s in ("".join(_words(e)) for e in entries) if s)
