"""A template's registered category must agree with its purpose: a marketing message
registered as UTILITY, or as a DLT service template, is what platforms and regulators reject
or reclassify."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit

DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them

KIND = "registration_category"
SCOPE = "document"


class Params(CheckParams):
    registration: str = Field(description="Key under registrations: a market code or channel.")
    field: str = "category"
    map: dict[str, list[str]] = Field(description="Purpose -> categories that fit it.")
    required: bool = Field(
        default=False, description="A template without this registration fails too."
    )
    message: str = Field(
        description="{category}, {purpose}, {allowed} and {registration} are filled in"
    )


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    entry = doc.data.get("registrations", {}).get(params.registration)
    purpose = doc.model.purpose
    allowed = params.map.get(purpose, [])
    if not isinstance(entry, dict) or params.field not in entry:
        if params.required:
            yield Hit(
                params.message.format(
                    category="missing",
                    purpose=purpose,
                    allowed=" or ".join(allowed),
                    registration=params.registration,
                ),
                content=f"{params.registration}:missing",
            )
        return
    category = entry[params.field]
    if category not in allowed:
        yield Hit(
            params.message.format(
                category=category,
                purpose=purpose,
                allowed=" or ".join(allowed),
                registration=params.registration,
            ),
            path=("registrations", params.registration, params.field),
            content=f"{params.registration}:{category}:{purpose}",
        )
