"""How a template tells people to opt out (compliance/optout.py reads the text): by replying a
keyword, by a link next to opt-out wording, or by a button. One kind serves three kinds of
rule, by `report`. With `missing`, none of the means the rule accepts is in the template;
opt-out text that appears only in a placeholder's declared example counts, so the market's
rule is met, and the rule `opt-out-in-variable` (with `in_variable`) says that the example is
not what gets sent. With `unreachable`, the template asks for a keyword reply from a sender
that cannot take replies (an alphanumeric sender id) and names no number to send it to.
Keywords are the market's (`keywords.opt_out` and `opt_out_alone` in its market file), the
fallback set that holds everywhere (markets/fallback/keywords.yaml) and the rule's own; for a
rule that runs in every market, those of each market the template targets: the words the gate
honours when the replies come in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from compliance import optout
from compliance.checks.base import CheckParams, Context, Hit, field_values, texts_at
from compliance.placeholders import scan

KIND = "opt_out"
SCOPE = "document"

Means = Literal["reply", "link", "button"]


class Params(CheckParams):
    fields: list[str] = Field(
        default_factory=lambda: ["body", "footer"],
        description="Dotted field paths of the text that is read (buttons are read apart).",
    )
    means: list[Means] = Field(
        default_factory=lambda: ["reply", "link", "button"],
        description="The means of opting out that meet the rule: reply (a keyword "
        "instruction), link (a link or address next to opt-out wording), button (a quick "
        "reply or link button saying opt out).",
    )
    keywords: list[str] = Field(
        default_factory=list, description="Keywords beyond the market's and the fallback set."
    )
    report: Literal["missing", "in_variable", "unreachable", "charged"] = Field(
        default="missing",
        description="missing: no accepted means; in_variable: an opt-out only in a "
        "placeholder's example; unreachable: a keyword reply the sender cannot take; charged: "
        "an opt-out whose sentence states a charge beyond a standard message's.",
    )
    other_means: Literal["any", "absent", "present"] = Field(
        default="any",
        description="With unreachable: report whatever else the message offers (any), only "
        "when it offers no working means (absent: the opt-out fails), or only when a link, "
        "button or reachable number works as well (present: the dead instruction misleads).",
    )
    message: str = Field(
        description="The finding's message; {variables} names the placeholders holding the "
        "opt-out (in_variable), {keyword} the keyword and {sender} the sender (unreachable)."
    )


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    keywords = _keywords(doc, params, ctx)
    found = texts_at(doc.data, params.fields)
    variables = getattr(doc.model, "variables", None) or {}
    path = found[0][0] if found else (params.fields[0],)
    own = "\n".join(_own_text(text, variables) for _, text in found)
    own_found = optout.find(own, keywords)
    buttons = _buttons(doc, keywords)
    if params.report == "charged":
        yield from _charged(found, variables, keywords, params)
        return
    if params.report == "unreachable":
        if params.other_means != "any":
            full = "\n".join(_with_examples(text, variables) for _, text in found)
            reachable = any(r.names_number for r in optout.replies(full, keywords))
            working = reachable or bool(optout.links(full)) or bool(buttons)
            if working != (params.other_means == "present"):
                return
        yield from _unreachable(doc, params, ctx, found, variables, keywords)
        return
    means = set(params.means)
    if (own_found.means() | buttons) & means:
        return
    full = "\n".join(_with_examples(text, variables) for _, text in found)
    full_found = optout.find(full, keywords)
    in_examples = bool((full_found.means() | buttons) & means)
    if params.report == "missing" and not in_examples:
        yield Hit(params.message.format(variables="", keyword="", sender=""), path=path)
    elif params.report == "in_variable" and in_examples:
        holders = _holders(found, variables, keywords)
        names = ", ".join(f"{{{{{name}}}}}" for name in holders) or "a placeholder"
        yield Hit(
            params.message.format(variables=names, keyword="", sender=""),
            path=path,
            content="variables:" + ",".join(holders),
        )


def _keywords(doc: Any, params: Params, ctx: Context) -> tuple[str, ...]:
    codes = None if ctx.market is not None else tuple(ctx.index.effective(doc, "markets"))
    key = (KIND, tuple(params.keywords), codes)  # the same for most documents of a repo
    found = ctx.memo.get(key)
    if found is None:
        found = ctx.memo[key] = _keywords_of(params, ctx, codes)
    return found


def _keywords_of(params: Params, ctx: Context, codes: tuple[str, ...] | None) -> tuple[str, ...]:
    from compliance.packs import fallback_keywords

    words = list(fallback_keywords().opt_out) + list(params.keywords)
    markets = [ctx.market] if codes is None else [ctx.markets[c] for c in codes if c in ctx.markets]
    for market in markets:
        if market is None:
            continue
        kw = market.parameters.keywords
        if kw is not None:
            words.extend(kw.opt_out)
            words.extend(kw.opt_out_alone)
    return tuple(dict.fromkeys(words))


def _example(variables: dict[str, Any], name: str) -> str | None:
    spec = variables.get(name)
    example = getattr(spec, "example", None)
    return example if isinstance(example, str) else None


_URL_SLOT = "https://placeholder.invalid/{}"


def _stands_for_link(name: str, example: str | None) -> bool:
    """Whether a placeholder is an opt-out link the sending code fills in: its example is a
    link, or it has no example and its name says unsubscribe link. An example that is text
    ("Text STOP to 60123 to opt out" in {{optout_line}}) says what the placeholder holds,
    whatever its name: wording the code may or may not put in, not a link."""
    if example is not None and example.strip():
        return bool(optout.URL.fullmatch(example.strip()))
    return bool(optout.LINK_WORDING.search(name.replace("_", " ")))


def _own_text(text: str, variables: dict[str, Any]) -> str:
    """The text as written: a placeholder that stands for a link (its example is one, or it
    has none and its name says it is an unsubscribe link) stands for a link, any other for a
    blank."""
    tokens, _ = scan(text)
    if not tokens:
        return text
    parts, last = [], 0
    for token in tokens:
        parts.append(text[last : token.start])
        if _stands_for_link(token.name, _example(variables, token.name)):
            parts.append(_URL_SLOT.format(token.name))
        else:
            parts.append(" ")
        last = token.end
    parts.append(text[last:])
    return "".join(parts)


def _with_examples(text: str, variables: dict[str, Any]) -> str:
    tokens, _ = scan(text)
    if not tokens:
        return text
    parts, last = [], 0
    for token in tokens:
        parts.append(text[last : token.start])
        parts.append(_example(variables, token.name) or " ")
        last = token.end
    parts.append(text[last:])
    return "".join(parts)


def _buttons(doc: Any, keywords: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for _, button in field_values(doc.data, "buttons.*"):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            continue
        if optout.button_opts_out(button["text"], keywords):
            found.add("button" if button.get("type") != "url" else "link")
    return found


def _holders(
    found: list[tuple[tuple[Any, ...], str]], variables: dict[str, Any], keywords: tuple[str, ...]
) -> list[str]:
    """The placeholders whose example holds the opt-out."""
    names: list[str] = []
    for _, text in found:
        for token in scan(text)[0]:
            example = _example(variables, token.name)
            if example and token.name not in names and optout.find(example, keywords).means():
                names.append(token.name)
    return names


# sender types that cannot take a reply: an alphanumeric sender id is a name, not a number
_NO_REPLIES = frozenset({"alphanumeric"})


def _unreachable(
    doc: Any,
    params: Params,
    ctx: Context,
    found: list[tuple[tuple[Any, ...], str]],
    variables: dict[str, Any],
    keywords: tuple[str, ...],
) -> Iterator[Hit]:
    ident = doc.data.get("sender")
    sender = ctx.index.get("sender", ident) if isinstance(ident, str) else None
    if sender is None or sender.data.get("type") not in _NO_REPLIES:
        return
    for path, text in found:
        # with the examples: "text STOP to {{short_code}}" names the number in its example
        own = _with_examples(text, variables)
        for instruction in optout.replies(own, keywords):
            if instruction.names_number:
                continue
            start, end = instruction.start, instruction.end
            yield Hit(
                params.message.format(
                    variables="", keyword=instruction.keyword, sender=sender.data.get("address")
                ),
                path=path,
                text=(start, end) if own == text else None,
                content=f"reply:{instruction.keyword.upper()}",
            )


# what the opt-out costs, stated beside it: an amount in a currency, or a word for a charge
_AMOUNT = re.compile(
    r"(?:\d+(?:[.,]\d+)?\s*(?:€|eur\b|euros?\b|£|gbp\b|\$|usd\b|cad\b|p\b|pence\b"
    r"|cts?\b|cent(?:s|imos?)?\b)|(?:€|£|\$)\s*\d)",
    re.IGNORECASE,
)
_CHARGE_WORD = re.compile(
    r"\b(?:coste|costo|costs?|cuesta|co[uû]te?|kosten\w*|prix|precio|prezzo|preis"
    r"|surtax\w*|premium|tarificad\w*|sovrapprezz\w*)\b",
    re.IGNORECASE,
)
# what leaves the person only a standard message's cost, or nothing: the law allows it
_FREE_OR_STANDARD = re.compile(
    r"\b(?:standard|normal\w*|no cost|free of charge|at no charge|sin (?:coste|costo|cargo)"
    r"|keine kosten|kostenlos|kostenfrei|gratis|sans frais|senza costi?|msg\s*&\s*data rates)"
    r"\b|(?<!non )\bgratuit\w*",
    re.IGNORECASE,
)
# where an opt-out's own clause ends: a sentence's end, a dash, a line
_CLAUSE_END = re.compile(r"[.!?](?=\s|$)|\s[-\u2013\u2014]\s|\n")
# a charge before the instruction counts when it is per message ("Abmeldung (0,49 €/SMS):")
_PER_MESSAGE = re.compile(
    r"\s*(?:/\s*(?:sms|msg|mensaje|message|nachricht)|(?:per|par|pro|por|a|al) "
    r"(?:sms|msg|message|text|mensaje|messaggio|nachricht|request))",
    re.IGNORECASE,
)
_CHARGE_REACH = 90  # characters after the opt-out keyword where its charge would be stated
_BEFORE_REACH = 40  # and before it


def _charged(
    found: list[tuple[tuple[Any, ...], str]],
    variables: dict[str, Any],
    keywords: tuple[str, ...],
    params: Params,
) -> Iterator[Hit]:
    import unicodedata

    for path, text in found:
        own = _with_examples(text, variables)
        # full-width look-alikes read as what they look like (NFKC keeps these one to one)
        plain = unicodedata.normalize("NFKC", own)
        if len(plain) != len(own):
            plain = own
        spots = [(r.start, r.end) for r in optout.replies(own, keywords)] + optout.links(own)
        for begin, finish in spots:
            charge = _charge_beside(plain, begin, finish)
            if charge is None:
                continue
            start, end, said = charge
            yield Hit(
                params.message.format(variables="", keyword="", sender=""),
                path=path,
                text=(start, end) if own == text else None,
                content=f"charged:{said.lower()}",
            )
            break


def _charge_beside(text: str, begin: int, finish: int) -> tuple[int, int, str] | None:
    """A charge stated for the opt-out at text[begin:finish]: an amount in its clause after
    it, or a per-message amount just before it; or a word for a charge there that no 'free'
    or 'standard rate' wording answers. An amount beyond the clause is the offer's."""
    after_end = min(len(text), finish + _CHARGE_REACH)
    cut = _CLAUSE_END.search(text, finish, after_end)
    after = (finish, cut.start() if cut else after_end)
    before_start = max(0, begin - _BEFORE_REACH)
    ends = [m.end() for m in _CLAUSE_END.finditer(text, before_start, begin)]
    before = (ends[-1] if ends else before_start, begin)
    amount = _AMOUNT.search(text, *after)
    if amount is None:
        amount = next(
            (
                m
                for m in _AMOUNT.finditer(text, *before)
                if _PER_MESSAGE.match(text, m.end()) or "(" in text[before[0] : m.start()]
            ),
            None,
        )
    if amount is not None:
        return amount.start(), amount.end(), amount.group(0)
    for lo, hi in (after, before):
        word = _CHARGE_WORD.search(text, lo, hi)
        if word is not None and not _FREE_OR_STANDARD.search(text, before[0], after[1]):
            return word.start(), word.end(), word.group(0)
    return None
