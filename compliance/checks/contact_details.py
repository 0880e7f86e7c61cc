"""Contact details in a message: a web address, an email address or a telephone number, apart
from the opt-out. Australia's Spam Act (s.17) and Singapore's PDPA (s.44) ask commercial
messages to say how the recipient can readily contact the business; a number to text STOP to
or an unsubscribe link is the opt-out, not that. Sentences and lines that give the opt-out are
left out before looking; a link or call button counts, and a placeholder counts by its
example."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance import optout
from compliance.checks.base import CheckParams, Context, Hit, field_values, texts_at
from compliance.placeholders import render

KIND = "contact_details"
SCOPE = "document"

# a telephone number as people write one: with its +, a leading 0 or 1, or digits in groups
# (an order number of eight digits in a row is not one)
_PHONE = re.compile(
    r"(?<![\w/.])(?:\+\d|\(\d|0\d|1[\s-]\d|\d{2,4}[\s-]\d)[\d\s().-]{2,17}\d(?![\w/])"
)
_PIECES = re.compile(r"(?<=[.!?])\s+|\n")


class Params(CheckParams):
    fields: list[str] = Field(
        default_factory=lambda: ["body", "footer", "header"],
        description="Dotted field paths of the text that is read.",
    )
    message: str


def contacts(text: str, keywords: tuple[str, ...] = ()) -> list[str]:
    """The contact details in `text`, outside the sentences or lines that give the opt-out."""
    found = []
    for piece in _PIECES.split(text):
        if optout.WORDING.search(piece) or optout.replies(piece, keywords or ("STOP",)):
            continue
        found += [m.group(0) for m in optout.URL.finditer(piece)]
        found += [m.group(0) for m in _DOMAIN.finditer(piece)]
        found += [m.group(0) for m in _PHONE.finditer(piece) if _digits(m.group(0)) >= 8]
    return found


# a web address without its scheme or path: "visit ironbark.example", "ironbark.com.au"
_DOMAIN = re.compile(
    r"(?<![@\w.-])(?:www\.)?[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|shop|store|"
    r"example|au|sg|uk|de|fr|ca|br|in|us|io|co|app)(?![\w-])",
    re.IGNORECASE,
)


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    for _, button in field_values(doc.data, "buttons.*"):
        if isinstance(button, dict) and (button.get("url") or button.get("phone_number")):
            return
    variables = getattr(doc.model, "variables", None) or {}
    found = texts_at(doc.data, params.fields)
    text = "\n".join(render(t, variables, longest=False) for _, t in found)
    if contacts(text):
        return
    path = found[0][0] if found else ("body",)
    yield Hit(params.message, path=path, content="no-contact")
