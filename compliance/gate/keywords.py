"""Inbound messages: opt-out, opt-in and help keywords per market, and wording a reasonable
person would read as an opt-out ("please stop texting me"), which counts as one (FCC 24-24);
wording that only might be one goes to a person for review."""

from __future__ import annotations

import re
import unicodedata

from compliance.market_params import Keywords

OPT_OUT, OPT_IN, HELP, REVIEW, NONE = "opt_out", "opt_in", "help", "review", "none"

# plain requests to stop, in the words people use; matched anywhere in the message
_CLEAR_OPT_OUT = re.compile(
    r"\b(stop|quit|end|cease)\s+(texting|messaging|sending|contacting|the\s+(texts|messages))"
    r"|\b(no|don'?t\s+send)\s+more\s+(texts|messages|sms)"
    r"|\b(remove|delete|take)\s+me\s+(from|off)"
    r"|\bopt\s*me\s*out\b|\bunsubscribe\s+me\b|\bdo\s+not\s+(text|message|contact)\s+me"
    r"|\bdon'?t\s+(text|message|contact)\s+me|\bleave\s+me\s+alone"
    r"|\bwrong\s+number\b",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip()
    text = re.sub(r"[\s]+", " ", text)
    return text.strip(" .!?,;:\"'()[]").upper()


def classify(text: str, keywords: Keywords | None, *, after_prompt: bool = False) -> str:
    words = normalise(text)
    if keywords is None:
        return REVIEW if _CLEAR_OPT_OUT.search(text) else NONE
    if words in {k.upper() for k in keywords.opt_out}:
        return OPT_OUT
    if words in {k.upper() for k in keywords.opt_in}:
        return OPT_IN
    if after_prompt and words in {k.upper() for k in keywords.opt_in_after_prompt}:
        return OPT_IN
    if words in {k.upper() for k in keywords.help}:
        return HELP
    if keywords.reasonable_opt_out and _CLEAR_OPT_OUT.search(text):
        return OPT_OUT
    tokens = set(re.findall(r"[\w']+", words))
    if any(k.upper() in tokens or k.upper() in words.split(" ") for k in keywords.opt_out):
        return REVIEW  # a keyword inside other words: "stop? what is this" - a person decides
    return NONE
