"""India DLT: an SMS template is registered on a DLT platform, and what is sent must match the
registered content, each placeholder standing where the registration has a variable tag
({#var#} and the typed tags). A message that does not match is rejected by the scrubbing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit
from compliance.placeholders import TOKEN

KIND = "dlt_template"
SCOPE = "document"
DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them
TAG = re.compile(r"\{#(\w+)#\}")


class Params(CheckParams):
    tags: list[str] = Field(
        default_factory=lambda: ["var", "numeric", "alphanumeric", "url", "urlott", "cbn", "email"]
    )
    var_max_length: int = Field(default=30, description="Characters one {#var#} may carry.")


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    registration = doc.model.registrations.IN
    if registration is None:
        yield Hit(
            "an SMS template to India needs its DLT registration: registrations.IN with "
            "dlt_template_id, category and the registered content",
            content="IN:missing",
        )
        return
    if registration.content is None:
        yield Hit(
            "registrations.IN.content is missing: copy the text as registered on the DLT "
            "portal, with its {#var#} tags, so the body can be checked against it",
            path=("registrations", "IN"),
            key=True,
            content="IN:content",
        )
        return
    content = registration.content
    for match in TAG.finditer(content):
        if match.group(1) not in params.tags:
            yield Hit(
                f"unknown DLT tag {match.group(0)}; use one of "
                f"{', '.join('{#' + t + '#}' for t in params.tags)}",
                path=("registrations", "IN", "content"),
                text=match.span(),
                content=f"tag:{match.group(1)}",
            )
    body_parts = TOKEN.split(doc.model.body)[::2]
    content_parts = TAG.split(content)[::2]
    if len(body_parts) != len(content_parts):
        yield Hit(
            f"the body has {len(body_parts) - 1} placeholder(s) where the registered DLT "
            f"content has {len(content_parts) - 1} variable tag(s)",
            path=("body",),
            content="count",
        )
    elif any(_norm(a) != _norm(b) for a, b in zip(body_parts, content_parts, strict=True)):
        sent, registered = next(
            (a, b) for a, b in zip(body_parts, content_parts, strict=True) if _norm(a) != _norm(b)
        )
        yield Hit(
            f"the body differs from the registered DLT content: it sends "
            f"{_norm(sent)[:40]!r} where the registration has {_norm(registered)[:40]!r}; "
            "the text around the placeholders must be sent exactly as registered",
            path=("body",),
            content="text",
        )
    tags = [m.group(1) for m in TAG.finditer(content)]
    names = [m.group(1).strip() for m in TOKEN.finditer(doc.model.body)]
    # the counts may differ (reported above): pair what there is
    for name, tag in zip(names, tags, strict=False):
        spec = doc.model.variables.get(name)
        limit = getattr(spec, "max_length", None)
        if tag == "var" and limit and limit > params.var_max_length:
            yield Hit(
                f"variable {name!r} may be {limit} characters, but a {{#var#}} carries at "
                f"most {params.var_max_length}: register consecutive tags or shorten it",
                path=("variables", name),
                key=True,
                content=f"varlen:{name}",
            )


def _norm(text: str) -> str:
    return " ".join(text.split())
