"""Who sends a message and how to reach them: the sender's name, its mailing address with a
telephone number, email or web address, or, on the channels where the law lets a message point
to them (a short text), a clearly labelled link to a page that gives them.

CASL (s.6(2)(a)-(b)) and the CRTC's regulations (SOR/2012-36 s.2) ask for the name and the
mailing address plus one other contact in every commercial message, and allow a link to a web
page instead only where including them "is not practicable": a rule lists those channels in
`link_channels` (SMS, not email). A link counts when words that say what it leads to stand just
before it, in any of the rule's languages and forms ("Info:", "Infos :", "Plus d'infos",
"Contact us at", "Coordonnées", "Mentions légales"); a placeholder counts by its example.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pydantic import Field, field_validator

from compliance import optout
from compliance.checks.base import CheckParams, Context, Hit, brand_pattern, texts_at
from compliance.checks.contact_details import _DOMAIN, _PHONE, _digits
from compliance.placeholders import render

KIND = "identification"
SCOPE = "document"

# a web link as written in a text: with its scheme, www., or a domain (with or without a path);
# not an email address
_WEB = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|(?<![@\w.-])[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.[a-z]{2,24}(?:/\S*)?(?![@\w])",
    re.IGNORECASE,
)


class Params(CheckParams):
    fields: list[str] = Field(
        default_factory=lambda: ["body", "footer"],
        description="Dotted field paths of the text that is read (placeholders by example).",
    )
    require_brand: bool = Field(
        default=True, description="The text must name the brand of the document's sender."
    )
    address: str = Field(
        description="A mailing address as written (a postal code, a street address): a "
        "regular expression, matched case-insensitively."
    )
    link_channels: list[str] = Field(
        default_factory=list,
        description="Channels on which a labelled link to a page with the details stands in "
        "for them (where putting them in the message is not practicable).",
    )
    link_labels: list[str] = Field(
        default_factory=list,
        description="Words that say a link leads to the sender's details, as regular "
        "expressions matched at the start of a word (so 'info' takes 'Infos', 'information').",
    )
    label_span: int = Field(default=40, description="Characters a label may stand before its link.")
    message: str = Field(
        description="The finding's message; {name} is what is missing, {brand} the brand."
    )

    @field_validator("address")
    @classmethod
    def _address_compiles(cls, pattern: str) -> str:
        re.compile(pattern)
        return pattern

    @field_validator("link_labels")
    @classmethod
    def _labels_compile(cls, labels: list[str]) -> list[str]:
        for label in labels:
            re.compile(label)
        return labels


@lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@lru_cache(maxsize=64)
def _labelled(labels: tuple[str, ...], span: int) -> re.Pattern[str]:
    words = "|".join(f"(?:{label})" for label in labels) or "(?!)"
    # the label, then up to `span` characters on the same line, then the link
    return re.compile(rf"(?<!\w)(?:{words})[^\n]{{0,{span}}}?(?={_WEB.pattern})", re.IGNORECASE)


def contact(text: str) -> bool:
    """A telephone number, email address or web address anywhere in the text."""
    if optout.URL.search(text) or _DOMAIN.search(text):
        return True
    return any(_digits(m.group(0)) >= 8 for m in _PHONE.finditer(text))


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    found = texts_at(doc.data, params.fields)
    if not found:
        return
    variables = getattr(doc.model, "variables", None) or {}
    text = "\n".join(render(t, variables, longest=False) for _, t in found)
    path = found[0][0]
    brand = _brand(doc, ctx, text) if params.require_brand else None
    if brand is not None:
        shown, key = brand
        yield Hit(params.message.format(name="brand", brand=shown), path=path, content=key)
    channel = doc.data.get("channel")
    if _regex(params.address).search(text) and contact(text):
        return
    if channel in params.link_channels:
        if _labelled(tuple(params.link_labels), params.label_span).search(text):
            return
        if _labelled_button(doc.data, tuple(params.link_labels)):
            return
        name = (
            "a mailing address with a phone number, email or web address, or a clearly "
            "labelled link to a page that gives them"
        )
        content = f"all:{name}"
    else:
        name = (
            f"a mailing address with a phone number, email or web address (an {channel} "
            "message can carry them: a link to a page that gives them does not stand in)"
        )
        content = "address"
    yield Hit(params.message.format(name=name, brand=""), path=path, content=content)


def _labelled_button(data: dict[str, Any], labels: tuple[str, ...]) -> bool:
    """A link button whose text says it leads to the sender's details ("Contact us")."""
    buttons = data.get("buttons")
    words = re.compile("|".join(f"(?<!\\w)(?:{label})" for label in labels) or "(?!)", re.I)
    for button in buttons if isinstance(buttons, list) else []:
        if (
            isinstance(button, dict)
            and isinstance(button.get("text"), str)
            and (button.get("url") or button.get("phone_number"))
            and words.search(button["text"])
        ):
            return True
    return False


def _brand(doc: Any, ctx: Context, text: str) -> tuple[str, str] | None:
    """(what to show, the finding's content) when the text does not name the sender's brand."""
    ident = doc.data.get("sender") if doc.kind == "template" else None
    if isinstance(ident, str) and ctx.index.get("sender", ident) is None:
        return None  # unknown-reference says so, once
    brands = ctx.index.brands(doc)
    if not brands:
        return (
            "(none declared); declare the sender's `brand` so this can be checked",
            "brand:none",
        )
    if any(brand_pattern(b).search(text) for b in brands):
        return None
    return " or ".join(brands), "brand:" + ",".join(brands)
