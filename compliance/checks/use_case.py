"""The 10DLC campaign's use case must cover the template's purpose: The Campaign Registry
binds a campaign to its use case, and carriers filter traffic outside it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit

DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them

KIND = "use_case"
SCOPE = "document"


class Params(CheckParams):
    covers: dict[str, list[str]] = Field(description="Use case -> purposes it covers.")
    mixed: list[str] = Field(
        default_factory=list, description="Use cases that cover what the sender's purposes list."
    )
    program: str = Field(default="10dlc", description="Registrations of this program only.")
    message: str = Field(description="{sender}, {use_case}, {purpose} and {market} are filled in")


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    if ctx.market is None or not doc.model.sender:
        return
    sender = ctx.index.get("sender", doc.model.sender)
    if sender is None or sender.model is None:
        return
    registration = sender.model.registrations.get(ctx.market.code)
    if registration is None or registration.program != params.program or not registration.use_case:
        return  # the registration rules report a missing campaign
    use_case = registration.use_case
    covered = sender.model.purposes if use_case in params.mixed else params.covers.get(use_case, [])
    if doc.model.purpose not in covered:
        yield Hit(
            params.message.format(
                sender=sender.id,
                use_case=use_case,
                purpose=doc.model.purpose,
                market=ctx.market.code,
            ),
            path=("sender",),
            content=f"{use_case}:{doc.model.purpose}",
            cause="purpose",
        )
