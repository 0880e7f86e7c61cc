"""A sender of some types must carry a registration for the market with given fields:
10DLC brand and campaign, a verified toll-free number, an India DLT header and entity id,
Singapore's SSIR, an RCS agent verified and launched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit
from compliance.documents import SenderType

KIND = "registration_fields"
SCOPE = "document"
DOCUMENTS = ("sender",)  # the documents it can read: a rule aimed at others skips them
ANY = "*"


class Params(CheckParams):
    types: list[SenderType] = Field(description="Sender types the rule applies to.")
    fields: dict[str, Any] = Field(
        description='Required fields: "*" any value, a list one of these values, else equal.'
    )
    message: str = Field(description="{market}, {fields} and {problem} are filled in")


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    if ctx.market is None or doc.model.type not in params.types:
        return
    code = ctx.market.code
    registration = doc.model.registrations.get(code)
    wanted = ", ".join(_describe(k, v) for k, v in params.fields.items())
    if registration is None:
        yield Hit(
            params.message.format(market=code, fields=wanted, problem=f"no registrations.{code}"),
            path=("registrations",) if doc.model.registrations else (),
            key=bool(doc.model.registrations),
            content=f"{code}:missing",
        )
        return
    for name, expected in params.fields.items():
        value = getattr(registration, name, None)
        if _ok(value, expected):
            continue
        got = (
            "missing" if value is None else _yaml(value) if isinstance(value, bool) else repr(value)
        )
        yield Hit(
            params.message.format(
                market=code, fields=wanted, problem=f"registrations.{code}.{name} is {got}"
            ),
            path=("registrations", code, name) if value is not None else ("registrations", code),
            key=value is None,
            content=f"{code}:{name}:{value}",
        )


def _ok(value: Any, expected: Any) -> bool:
    if value is None or value == "":
        return False
    if expected == ANY:
        return True
    if isinstance(expected, list):
        return value in expected
    return value == expected


def _describe(name: str, expected: Any) -> str:
    if expected == ANY:
        return name
    if isinstance(expected, list):
        return f"{name} ({' or '.join(map(_yaml, expected))})"
    return f"{name}: {_yaml(expected)}"


def _yaml(value: Any) -> str:
    """Values as the YAML file writes them: true, not True."""
    return str(value).lower() if isinstance(value, bool) else str(value)
