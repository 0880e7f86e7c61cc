"""The form of an alphanumeric sender id: its length and characters, and ids carriers refuse
because anyone could claim them (INFO, ALERT, SMS...)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit
from compliance.documents import SenderType

KIND = "sender_id"
SCOPE = "document"
DOCUMENTS = ("sender",)  # the documents it can read: a rule aimed at others skips them


class Params(CheckParams):
    types: list[SenderType] = Field(default_factory=lambda: ["alphanumeric"])
    pattern: str | None = Field(default=None, description="The whole id must match this.")
    refused: list[str] = Field(default_factory=list, description="Ids refused, any case.")
    message: str = Field(description="{address} and {problem} are filled in")


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    if doc.model.type not in params.types:
        return
    address = doc.model.address
    problems = []
    if params.pattern and not re.fullmatch(params.pattern, address):
        problems.append("its form is not allowed")
    if address.strip().upper() in {r.upper() for r in params.refused}:
        problems.append("it is a generic id that carriers refuse")
    for problem in problems:
        yield Hit(
            params.message.format(address=address, problem=problem),
            path=("address",),
            content=f"{address}:{problem}",
        )
