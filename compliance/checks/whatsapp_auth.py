"""What a WhatsApp AUTHENTICATION template may hold: Meta's preset only.

Meta fixes the text of an authentication template: "<code> is your verification code.", an
optional security disclaimer ("For your security, do not share this code."), an optional
expiry footer ("This code expires in <n> minutes.") and a copy-code or one-tap button (or
none, for zero-tap). URLs, media and emoji are not supported, and custom text is not allowed;
Meta renders the preset in the template's language. The check reports a URL, an emoji, a
media header, a button other than a code button, and text beyond the preset: in English word
for word, in another language by its shape (the code and at most two sentences in the body,
one in the footer). The preset is what Meta asks of an AUTHENTICATION template: a template
registered in another category (a passcode sent as UTILITY) is not checked here, since its
content is not held to the preset; the rule that compares the category with the purpose
(`registration_category`) names that one cause once. A template not yet registered is checked
by its purpose."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance import optout
from compliance.checks.base import CheckParams, Context, Hit
from compliance.placeholders import TOKEN

KIND = "whatsapp_auth"
SCOPE = "document"

_BODY = re.compile(
    r"^\s*\{\{\s*\w+\s*\}\}\s+is your verification code\.?"
    r"(?:\s+For your security, do not share this code\.?)?\s*$",
    re.IGNORECASE,
)
_FOOTER = re.compile(r"^\s*This code expires in (?:\d+|\{\{\s*\w+\s*\}\}) minutes?\.?\s*$", re.I)
# pictographs, dingbats, symbols and their modifiers: what WhatsApp shows as emoji
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\u2b00-\u2bff\ufe0f\u200d]"
)
_SENTENCE_END = re.compile(r"[.!?。！？](?=\s|$)")
_CODE_BUTTONS = frozenset({"otp", "copy_code"})


class Params(CheckParams):
    categories: list[str] = Field(
        default_factory=lambda: ["AUTHENTICATION"],
        description="The registered WhatsApp categories held to the preset; a template "
        "registered in another one is left to the category rule.",
    )
    message: str = Field(
        description="The finding's message; {problem} says what is beyond the preset."
    )


def _registered_elsewhere(data: dict[str, Any], categories: list[str]) -> bool:
    registrations = data.get("registrations")
    whatsapp = registrations.get("whatsapp") if isinstance(registrations, dict) else None
    category = whatsapp.get("category") if isinstance(whatsapp, dict) else None
    return isinstance(category, str) and category.upper() not in categories


def _english(locale: Any) -> bool:
    return not isinstance(locale, str) or locale.lower().replace("-", "_").split("_")[0] == "en"


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    data = doc.data
    if _registered_elsewhere(data, params.categories):
        return
    for field in ("body", "footer"):
        text = data.get(field)
        if not isinstance(text, str):
            continue
        for match in optout.URL.finditer(text):
            yield Hit(
                params.message.format(problem=f"a link ({match.group(0)})"),
                path=(field,),
                text=match.span(),
                content=f"url:{match.group(0)}",
            )
        for match in _EMOJI.finditer(text):
            if match.group(0) in "\ufe0f\u200d":
                continue
            yield Hit(
                params.message.format(problem=f"an emoji ({match.group(0)})"),
                path=(field,),
                text=match.span(),
                content=f"emoji:{match.group(0)}",
            )
    header = data.get("header")
    if header is not None:
        yield Hit(
            params.message.format(problem="a header (media and custom headers are not allowed)"),
            path=("header",),
            key=True,
            content="header",
        )
    for i, button in enumerate(data.get("buttons") or []):
        if isinstance(button, dict) and button.get("type") not in _CODE_BUTTONS:
            yield Hit(
                params.message.format(
                    problem=f"a {button.get('type')} button (only a copy-code or one-tap "
                    "code button)"
                ),
                path=("buttons", i, "type"),
                content=f"button:{button.get('type')}",
            )
    yield from _free_text(data, params)


def _free_text(data: dict[str, Any], params: Params) -> Iterator[Hit]:
    body, footer = data.get("body"), data.get("footer")
    if not isinstance(body, str):
        return
    if _english(data.get("locale")):
        if not _BODY.match(body) and not optout.URL.search(body) and not _emoji_only(body):
            yield Hit(
                params.message.format(
                    problem='text beyond the preset: the body is "{{1}} is your verification '
                    'code." and, if you like, "For your security, do not share this code."'
                ),
                path=("body",),
                content="free-text:body",
            )
        if isinstance(footer, str) and not _FOOTER.match(footer) and not optout.URL.search(footer):
            yield Hit(
                params.message.format(
                    problem='text beyond the preset: the footer is "This code expires in N '
                    'minutes."'
                ),
                path=("footer",),
                content="free-text:footer",
            )
        return
    # another language: Meta translates the preset; more sentences than it has are not it
    if not TOKEN.search(body):
        yield Hit(
            params.message.format(problem="no placeholder for the code"),
            path=("body",),
            content="no-code",
        )
    if len(_SENTENCE_END.findall(body.strip() + " ")) > 2:
        yield Hit(
            params.message.format(
                problem="text beyond the preset: the body has more sentences than the code "
                "and the security disclaimer"
            ),
            path=("body",),
            content="free-text:body",
        )


def _emoji_only(body: str) -> bool:
    """The preset but for an emoji, already reported."""
    return bool(_BODY.match(_EMOJI.sub("", body)))
