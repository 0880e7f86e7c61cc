"""The sender, consent scope or fallback a template names must cover its channel, purpose and
markets: a registration or a consent given for one use does not stretch to another."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from compliance.checks.base import CheckParams, Context, Hit

DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them

KIND = "coverage"
SCOPE = "document"


class Params(CheckParams):
    target: Literal["sender", "consent_scope", "fallback"]


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    template = doc.model
    ident = getattr(template, params.target)
    kind = "template" if params.target == "fallback" else params.target
    other = ctx.index.get(kind, ident) if ident else None
    if other is None or other.model is None:
        return  # unknown or invalid: the references and schema rules say so
    yield from _COVERS[params.target](template, other.model)


def _sender(template: Any, sender: Any) -> Iterator[Hit]:
    name = f"sender {sender.id!r}"
    if sender.channel != template.channel:
        yield Hit(
            f"{name} sends {sender.channel}, but this template is for {template.channel}",
            path=("sender",),
            content=f"channel:{sender.channel}",
            cause="channel",
        )
    yield from _covers(template, "purpose", sender.purposes, f"{name} is registered for", "sender")
    yield from _markets(template, sender.markets, name)


def _scope(template: Any, scope: Any) -> Iterator[Hit]:
    name = f"consent_scope {scope.id!r}"
    yield from _covers(template, "channel", scope.channels, f"{name} covers", "consent_scope")
    yield from _covers(template, "purpose", scope.purposes, f"{name} covers", "consent_scope")
    yield from _markets(template, scope.markets, name)


def _covers(template: Any, axis: str, allowed: list[str], what: str, field: str) -> Iterator[Hit]:
    """A template's channel or purpose must be in `allowed`; an empty list allows any."""
    value = getattr(template, axis)
    if allowed and value not in allowed:
        yield Hit(
            f"{what} {', '.join(allowed)}, not {value}",
            path=(field,),
            content=f"{axis}:{value}",
            cause=axis,
        )


def _fallback(template: Any, fallback: Any) -> Iterator[Hit]:
    name = f"fallback {fallback.id!r}"
    if fallback.channel != "sms":
        yield Hit(
            f"{name} is a {fallback.channel} template; a fallback must be an sms template",
            path=("fallback",),
            content=f"channel:{fallback.channel}",
            cause="channel",
        )
    if fallback.purpose != template.purpose:
        yield Hit(
            f"{name} is {fallback.purpose}, but this template is {template.purpose}",
            path=("fallback",),
            content=f"purpose:{fallback.purpose}",
            cause="purpose",
        )
    yield from _markets(template, fallback.markets, name)


def _markets(template: Any, covered: list[str], name: str) -> Iterator[Hit]:
    if not covered:
        return  # no market list: the document does not restrict markets
    for i, market in enumerate(template.markets):
        if market not in covered:
            yield Hit(
                f"{name} does not cover market {market} (it covers {', '.join(covered)})",
                path=("markets", i),
                content=f"market:{market}",
                cause="market",
            )


_COVERS = {"sender": _sender, "consent_scope": _scope, "fallback": _fallback}
