"""How a message tells people to opt out: by replying a keyword, by a link, or by a button.

The linter's opt-out rules (check kind `opt_out`) read a template's text with this module. It
looks for the means, not for a word anywhere: "Stop by our store" and "STOP! Big sale" are no
opt-out, "Responde STOP para cancelar", "Abmelden: STOPP an 80888", "Text stop to end" and
"To stop getting these emails, use this link:" followed by a link on the next line are.

- A reply instruction is an opt-out keyword (the market's and the fallback set, as the gate
  honours them) after a verb of sending ("reply", "text", "responde", "envoyez", "antworte"),
  or written as a keyword (in capitals) next to opt-out wording ("opt out: STOP", "STOP to
  end", "STOPP an 80888", "STOP au 36173"). Whether it names a number to send it to is kept:
  a sender that cannot take replies (an alphanumeric sender id) needs one.
- A link is a URL or an email address (or a placeholder whose example is one, or whose name
  says it is an unsubscribe link) within two lines after opt-out wording, or wrapped by it
  (an HTML link), or one whose address says unsubscribe.
- A button is a quick reply or link button whose text is opt-out wording ("Stop promotions").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

# Opt-out wording in the languages of the shipped markets (English, Spanish, Portuguese,
# French, German, Italian, Dutch): what a link stands next to.
_LINK_WORDING = (
    r"opt(?:ing)?[\s-]?out|unsubscrib\w*|unsub\b"
    r"|stop\s+(?:receiving|getting|all|these|messages|texts|promotions|offers|marketing|emails?)"
    r"|stop\s+sms\s*:"
    r"|no\s+(?:more|longer)\s+(?:receive\s+)?(?:messages|texts|offers|promotions|emails?|sms)"
    r"|remove\s+(?:me|yourself)\s+from|manage\s+(?:your\s+)?(?:email\s+|sms\s+|marketing\s+)?"
    r"(?:preferences|subscriptions?|consent)|(?:email|communication|marketing)\s+preferences"
    r"|preference\s+cent(?:er|re)|leave\s+(?:this\s+)?(?:list|programme|program)"
    r"|cancel\s+(?:your\s+|my\s+)?(?:subscription|membership\s+of\s+this\s+list)"
    # Spanish
    r"|dar(?:se|te|me)?\s+de\s+baja|cancela(?:r)?\s+(?:la\s+|tu\s+|su\s+)?suscripci\w*"
    # "Baja en <link>" opening a sentence ("precios a la baja en ..." is "low")
    r"|(?:^|(?<=[.!?]\s)|(?<=\n))baja\s+en\b"
    r"|anular\s+(?:la\s+|tu\s+|su\s+)?suscripci\w*|no\s+recibir|dejar\s+de\s+recibir"
    r"|desuscrib\w*|desinscrib\w*"
    # "Baja: <link>", "Baja de estos SMS: <link>", "solicita la baja en <link>" (baja alone is
    # also "low": a label, or the baja of something named)
    r"|baja\s*:|baja\s+(?:de|del)\s+(?:estos|estas|este|esta|los|las|nuestros|nuestras|la|el)?"
    r"\s*(?:sms|mensajes|comunicaciones|env[ií]os|lista|newsletter|bolet[ií]n|servicio|ofertas)"
    r"|(?:solicita|solicitar|pide|pedir|tramita|tramitar)\s+(?:la\s+|tu\s+|su\s+)?baja"
    # Portuguese
    r"|descadastr\w*|cancelar\s+(?:a\s+|sua\s+)?inscri\w*|parar\s+de\s+receber"
    r"|deixar\s+de\s+receber"
    # French
    r"|d[ée]sinscri\w*|d[ée]sabonn\w*|ne\s+plus\s+recevoir|arr[êe]ter\s+de\s+recevoir"
    # German
    r"|abmeld\w*|abbestell\w*|austrag\w*|(?:werbe)?widerspruch\b"
    r"|keine\s+(?:weiteren\s+)?(?:nachrichten|sms|werbung"
    r"|angebote|e-?mails?|newsletter)"
    # Italian, Dutch
    r"|disiscri\w*|cancella(?:re)?\s+(?:l'|la\s+)?iscrizione|non\s+ricevere\s+pi[uù]"
    r"|uitschrijv\w*|afmeld\w*"
)
LINK_WORDING = re.compile(rf"(?<!\w)(?:{_LINK_WORDING})", re.IGNORECASE)
# what a keyword in capitals stands next to: the wording above, and the shorter words of a
# keyword instruction ("STOP to end", "BAJA para cancelar", "STOPP zum Abbestellen")
_KEYWORD_WORDING = (
    _LINK_WORDING
    + r"|cancel\w*|to\s+(?:end|quit|stop)\b|2\s+(?:end|quit|stop)\b|end\s+(?:texts|messages)"
    r"|cancelar\w*|baja\b|anular\w*|salir\b|sair\b|parar\b|annuler\w*|arr[êe]ter\w*"
    r"|stopper|opposer|opposition|widerspr\w*|widerruf\w*|beenden|annulla\w*|stoppen"
)
WORDING = re.compile(rf"(?<!\w)(?:{_KEYWORD_WORDING})", re.IGNORECASE)

# verbs of sending a reply, before the keyword: "reply STOP", "responde BAJA", "envoyez STOP"
_VERBS = (
    r"reply|replying|respond|text|txt|send|sms|message|msg|answer|type"
    r"|responde|responda|responder|contesta|conteste|env[ií]a|env[ií]e|enviar|manda|mande"
    r"|escribe|escriba|digite|digita|responda"
    r"|r[ée]pond(?:ez|s|re)|envoy(?:ez|er)|envoie|tapez|[ée]crivez"
    r"|antworte|antworten|antwortet|sende|senden|sendet|schreib|schreibe|schreiben|simse"
    r"|rispondi|rispondere|invia|inviare|scrivi|antwoord|stuur|sms'?en"
)
# what may sit between the verb and the keyword: "reply with STOP", "text the word STOP"
_BETWEEN = (
    r"(?:\s+(?:with|the\s+word|back|us|mit|dem\s+wort|avec|le\s+mot|con|la\s+palabra"
    r"|com|a\s+palavra|o\s+texto|el\s+texto|le\s+texte|het\s+woord|:))*"
)
_QUOTE = "[\"'“”‘’«»„]?"
# after the keyword: "STOP to 60777", "STOP au 36173", "STOPP an 80888", "STOP para 2020"
_TO = (
    r"\s*(?:sms\s+)?(?:to|2|at|au|aux|à|an|al|allo|alla|al|a|ao|para|pour|zu|naar|til|till|on"
    r"|:|-)?\s*"
)
_NUMBER = r"(?:\+?\d[\d\s().-]{1,16}\d|\d{3,8})(?!\w)"
# a number named for an instruction: "text STOP to 60777", "send STOP to +44 7700 900123"
_NUMBER_AFTER = re.compile(
    rf"{_QUOTE}{_TO}(?:(?:the|die|der|le|el|il|o)\s+)?(?:(?:number|short\s*code|nummer|"
    rf"kurzwahl|num[ée]ro|n[°º]|n[úu]mero|numero|c[óo]digo)\s+)?{_NUMBER}",
    re.IGNORECASE,
)

URL = re.compile(
    r"(?:https?://|www\.|mailto:)\S+"
    r"|(?<![@\w.-])[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.[a-z]{2,24}/\S*"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,24}",
    re.IGNORECASE,
)
LINK_WINDOW = 2  # lines: a link this close after opt-out wording is its link
LINK_SPAN = 240  # characters, likewise


@dataclass(frozen=True, slots=True)
class Instruction:
    """A reply instruction: where it is in the text, its keyword, whether it names a number."""

    start: int
    end: int
    keyword: str
    names_number: bool


@dataclass(frozen=True, slots=True)
class Found:
    replies: tuple[Instruction, ...]
    links: tuple[tuple[int, int], ...]  # the opt-out wording that has a link

    def means(self) -> set[str]:
        found = set()
        if self.replies:
            found.add("reply")
        if self.links:
            found.add("link")
        return found


@lru_cache(maxsize=64)
def _keyword_regexes(keywords: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(after a verb, any case; as a keyword, in capitals as written)."""
    words = sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True)
    alternation = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words) or "(?!)"
    after_verb = re.compile(
        rf"(?<![\w-])(?:{_VERBS}){_BETWEEN}\s*{_QUOTE}(?P<kw>{alternation}){_QUOTE}(?![\w-])",
        re.IGNORECASE,
    )
    # as written: a keyword in capitals stands out as one (not "Stop by", "stop now")
    capitals = (
        "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words if w == w.upper()) or "(?!)"
    )
    as_keyword = re.compile(rf"(?<![\w-]){_QUOTE}(?P<kw>{capitals}){_QUOTE}(?![\w-])")
    return after_verb, as_keyword


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the sentence around [start, end): up to . ! ? or a line break."""
    left = max(text.rfind(c, 0, start) for c in ".!?\n")
    rights = [i for i in (text.find(c, end) for c in ".!?\n") if i != -1]
    return left + 1, min(rights) if rights else len(text)


# keywords offered side by side share what follows the last one: "ARRET ou STOP au 36184",
# "STOP or END to 60777", "BAJA o STOP al 22555", "STOPP oder ABMELDEN an 80888"
_OR = r"\s*(?:,?\s*\b(?:or|ou|o|oder|of)\b|,|/)\s*"


@lru_cache(maxsize=64)
def _alternatives(keywords: tuple[str, ...]) -> re.Pattern[str]:
    words = sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True)
    alternation = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words) or "(?!)"
    return re.compile(
        rf"{_QUOTE}(?:{_OR}{_QUOTE}(?:{alternation}){_QUOTE}(?![\w-]))+", re.IGNORECASE
    )


def _names_number(text: str, end: int, keywords: tuple[str, ...]) -> bool:
    """Whether a number follows the keyword ending at `end`, directly ("STOP au 36184") or
    after other keywords offered with it ("ARRET ou STOP SMS au 36184")."""
    if _NUMBER_AFTER.match(text, end):
        return True
    more = _alternatives(keywords).match(text, end)
    return bool(more and _NUMBER_AFTER.match(text, more.end()))


def replies(text: str, keywords: Iterable[str]) -> list[Instruction]:
    """The reply instructions in `text`. Asked of the same text by several rules (and of a
    template and its examples alike): worked out once per text and keywords."""
    return list(_replies(text, tuple(keywords)))


@lru_cache(maxsize=512)
def _replies(text: str, keywords: tuple[str, ...]) -> tuple[Instruction, ...]:
    after_verb, as_keyword = _keyword_regexes(keywords)
    found: dict[int, Instruction] = {}
    for match in after_verb.finditer(text):
        start, end = match.span("kw")
        found[start] = Instruction(
            match.start(), end, match.group("kw"), _names_number(text, end, keywords)
        )
    for match in as_keyword.finditer(text):
        start, end = match.span("kw")
        if start in found:
            continue
        names_number = _names_number(text, end, keywords)
        s, e = _sentence(text, start, end)
        context = text[s:start] + " " + text[end:e]
        # "STOP to end", "Opt out: STOP", "STOPP an 80888", "STOP=Abmelden"
        if names_number or WORDING.search(context):
            found[start] = Instruction(start, end, match.group("kw"), names_number)
    return tuple(found[k] for k in sorted(found))


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index)


def links(text: str) -> list[tuple[int, int]]:
    return list(_links(text))


@lru_cache(maxsize=512)
def _links(text: str) -> tuple[tuple[int, int], ...]:
    """Opt-out wording with its link (spans of the wording). The link is one that follows the
    wording within two lines ("To stop getting these emails, use this link:" and the link on
    the next line), one that comes just before it in the same sentence (an HTML link around
    the words: `<a href="...">Unsubscribe</a>`), or one whose address says what it is for
    (".../unsubscribe")."""
    urls = [m.span() for m in URL.finditer(text)]
    if not urls:
        return ()
    found = []
    for match in LINK_WORDING.finditer(text):
        start, end = match.span()
        line = _line_of(text, start)
        for u_start, u_end in urls:
            if u_start >= end:
                near = u_start - end <= LINK_SPAN and _line_of(text, u_start) - line <= LINK_WINDOW
            elif u_end <= start:
                # a link just before the words: an HTML link around them (`<a href="URL">
                # Unsubscribe</a>`) or "visit URL to opt out"; not when a reply instruction
                # stands between ("Info: URL Reply STOP to opt out": the words are the reply's)
                between = text[u_end:start]
                near = (
                    len(between) <= _LINK_BEFORE
                    and not _BREAK.search(between)
                    and (">" in between or not _REPLY_VERB.search(between))
                )
            else:
                near = True  # the wording is in the link ("example.com/unsubscribe")
            if near:
                found.append((start, end))
                break
    return tuple(found)


_LINK_BEFORE = 80  # characters from a link to the words it wraps
# a verb asking for a reply: the opt-out words after it belong to the reply, not to a link
_REPLY_VERB = re.compile(
    r"\b(?:reply|text|txt|send|sms|respond[ae]?|responde|env[ií]a|antworte\w*|r[ée]pond\w*|"
    r"envoye[zr]|rispondi|invia)\b",
    re.IGNORECASE,
)
_BREAK = re.compile(r"[.!?]\s|\n|</(?:p|div|li|td|tr|table)>", re.IGNORECASE)


def find(text: str, keywords: Iterable[str]) -> Found:
    return Found(_replies(text, tuple(keywords)), _links(text))


_BUTTON = re.compile(
    rf"(?:{_KEYWORD_WORDING}|\bstopp?\b|\bstop\s+\w+|\bno\s+more\b|\bnot\s+interested\b)",
    re.IGNORECASE,
)


def button_opts_out(text: str, keywords: Iterable[str]) -> bool:
    """A button whose text is opt-out wording or a keyword: "Stop promotions", "Unsubscribe",
    "STOPP", "Abmelden", "Darme de baja"."""
    words = {k.strip().casefold() for k in keywords}
    return text.strip().casefold() in words or bool(_BUTTON.search(text))
