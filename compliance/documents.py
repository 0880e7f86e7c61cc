"""The canonical documents of a template repo: template, sender and consent_scope.

The pydantic models are the single definition of the format: the linter validates against them,
`compliance schema` exports their JSON Schema for editors, and the runtime gate reads them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from compliance.countries import ISO_3166_ALPHA2

KINDS = ("template", "sender", "consent_scope")
CHANNELS = ("sms", "mms", "whatsapp", "rcs", "email", "push")
PURPOSES = ("marketing", "transactional", "otp")

MAX_VARIABLE_LENGTH = 100_000
Channel = Literal["sms", "mms", "whatsapp", "rcs", "email", "push"]
Purpose = Literal["marketing", "transactional", "otp"]
Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=128)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


def _market(code: str) -> str:
    if code not in ISO_3166_ALPHA2:
        hint = " (use upper case)" if code.upper() in ISO_3166_ALPHA2 else ""
        raise ValueError(
            f"{code!r} is not an ISO 3166-1 alpha-2 country code{hint}; write codes such as US, "
            "GB or IN"
        )
    return code


Market = Annotated[str, AfterValidator(_market)]

# ISO 8601 durations as used for consent lifetimes: P2Y, P6M, P18M, P90D, P1Y6M, P4W
DURATION_RE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$")


def _duration(value: str) -> str:
    if not DURATION_RE.match(value):
        raise ValueError(
            f"{value!r} is not an ISO 8601 duration in years, months, weeks or days; "
            "write e.g. P2Y, P6M or P90D"
        )
    return value


Duration = Annotated[str, AfterValidator(_duration)]


def parse_duration(value: str) -> dict[str, int]:
    """'P1Y6M' -> {'years': 1, 'months': 6, 'weeks': 0, 'days': 0}."""
    match = DURATION_RE.match(value)
    if not match:
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    parts = [int(g[:-1]) if g else 0 for g in match.groups()]
    return dict(zip(("years", "months", "weeks", "days"), parts, strict=True))


class Strict(BaseModel):
    # unknown fields are errors: a typo must never pass silently
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class Suppression(Strict):
    rule: NonEmpty = Field(description="Id of the rule to suppress in this document.")
    reason: Annotated[str, StringConstraints(min_length=3)] = Field(
        description="Why the finding does not apply; kept for auditors."
    )
    # lax: "2026-12-31" in quotes is a date too (the JSON Schema says string, format date)
    expires: Annotated[dt.date, Field(strict=False)] | None = Field(
        default=None, description="After this date the suppression stops suppressing."
    )


class Variable(Strict):
    example: str | int | float | None = Field(
        default=None, description="A realistic value, used for segment counts and reviews."
    )
    # bounded: segment counts fill the variable with this many characters
    max_length: Annotated[int, Field(gt=0, le=MAX_VARIABLE_LENGTH)] | None = Field(
        default=None, description="Longest value the sending code will put here."
    )


class Button(Strict):
    type: Literal["quick_reply", "url", "phone_number", "copy_code", "otp", "flow"]
    text: NonEmpty
    url: str | None = None
    phone_number: str | None = None


class Header(Strict):
    format: Literal["text", "image", "video", "document", "location"] = "text"
    text: str | None = None
    example: str | None = None


class IndiaDltTemplate(Strict):
    dlt_template_id: NonEmpty | int
    category: Literal[
        "promotional", "transactional", "service_implicit", "service_explicit", "government"
    ]
    content: str | None = Field(
        default=None, description="The text as registered on the DLT portal, with {#var#} slots."
    )


class WhatsAppTemplate(Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$", max_length=512)]
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    language: NonEmpty
    status: Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"] | None = None


class TemplateRegistrations(BaseModel):
    """India DLT and WhatsApp fields are typed; other markets and channels hold provider fields."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True, defer_build=True)
    __pydantic_extra__: dict[str, dict[str, Any]]

    IN: IndiaDltTemplate | None = None
    whatsapp: WhatsAppTemplate | None = None


class TemplateModel(Strict):
    kind: Literal["template"]
    id: Id
    channel: Channel
    purpose: Purpose
    markets: Annotated[list[Market], Field(min_length=1)]
    body: NonEmpty
    variables: dict[str, Variable | None] = Field(default_factory=dict)
    sender: Id | None = None
    consent_scope: Id | None = None
    locale: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")] | None
    ) = None
    subject: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    header: str | Header | None = None
    footer: str | None = None
    buttons: list[Button] = Field(default_factory=list)
    fallback: Id | None = None
    registrations: TemplateRegistrations = Field(default_factory=TemplateRegistrations)
    status: Literal["draft", "approved", "retired"] = "draft"
    commercial: bool | None = Field(
        default=None,
        description="false: the message is not commercial under the law of its markets (a "
        "fraud alert, an offer letter), so rules whose law covers only commercial messages do "
        "not apply; needs commercial_reason. Unset: the safe default, commercial.",
    )
    commercial_reason: NonEmpty | None = Field(
        default=None, description="Why the message is not commercial, kept for review."
    )
    suppress: list[Suppression] = Field(default_factory=list)


TcrUseCase = Literal[
    "2FA",
    "ACCOUNT_NOTIFICATION",
    "CUSTOMER_CARE",
    "DELIVERY_NOTIFICATION",
    "FRAUD_ALERT",
    "HIGHER_EDUCATION",
    "LOW_VOLUME_MIXED",
    "MARKETING",
    "MIXED",
    "POLLING_VOTING",
    "PUBLIC_SERVICE_ANNOUNCEMENT",
    "SECURITY_ALERT",
    "MACHINE_TO_MACHINE",
    "AGENTS_FRANCHISES",
    "CHARITY",
    "EMERGENCY",
    "K12_EDUCATION",
    "POLITICAL",
    "PROXY",
    "SOCIAL",
    "SWEEPSTAKE",
    "SOLE_PROPRIETOR",
    "CARRIER_EXEMPT",
    "UCAAS_LOW",
    "UCAAS_HIGH",
]


class SenderRegistration(Strict):
    program: Literal["10dlc", "toll_free", "short_code", "dlt", "ssir", "sender_id"] | None = None
    brand_id: NonEmpty | None = None
    campaign_id: NonEmpty | None = None
    use_case: TcrUseCase | None = None
    header: NonEmpty | None = None
    entity_id: NonEmpty | int | None = None
    ssir: bool | None = None
    registered: bool | None = Field(
        default=None, description="Listed in a national sender-id register (AU from 2026)."
    )
    verified: bool | None = None
    launched: bool | None = None
    status: Literal["active", "verified", "pending", "rejected", "suspended"] | None = None


SenderType = Literal[
    "long_code", "short_code", "toll_free", "alphanumeric", "whatsapp", "rcs_agent", "email_domain"
]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ADDRESS_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "long_code": (_E164, "an E.164 number such as +14155550123"),
    "toll_free": (_E164, "an E.164 number such as +18005550199"),
    "whatsapp": (_E164, "the E.164 number of the WhatsApp Business account"),
    "short_code": (re.compile(r"^\d{3,8}$"), "3 to 8 digits such as 55123"),
    "alphanumeric": (
        re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ._&-]{1,11}$"),
        "1 to 11 letters, digits, spaces or . _ & - with at least one letter",
    ),
    "email_domain": (
        re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"),
        "a lower-case domain name such as mail.example.com",
    ),
    "rcs_agent": (re.compile(r"^\S+$"), "the RBM agent id, without spaces"),
}


class SenderModel(Strict):
    kind: Literal["sender"]
    id: Id
    channel: Channel
    type: SenderType
    address: NonEmpty
    brand: NonEmpty | None = None
    brand_aliases: list[NonEmpty] = Field(
        default_factory=list,
        description="Other names the brand goes by in messages (Bloom for Bloom Florist): "
        "naming one identifies the sender as the brand does.",
    )
    markets: list[Market] = Field(default_factory=list)
    purposes: list[Purpose] = Field(default_factory=list)
    registrations: dict[Market, SenderRegistration] = Field(default_factory=dict)
    replies: dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]+$")], NonEmpty] = Field(
        default_factory=dict
    )
    status: Literal["active", "pending", "suspended"] = "active"
    suppress: list[Suppression] = Field(default_factory=list)


class Capture(Strict):
    source: NonEmpty = Field(description="Where consent is collected, e.g. web-checkout.")
    text: NonEmpty = Field(description="The exact words shown when consent is asked for.")
    url: str | None = None


class ConsentScopeModel(Strict):
    kind: Literal["consent_scope"]
    id: Id
    purposes: list[Purpose] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    markets: list[Market] = Field(default_factory=list)
    consent: Literal["express_written", "express", "implied", "soft_opt_in"]
    basis: Literal["purchase", "inquiry", "publication", "existing_customer"] | None = None
    expires_after: Duration | None = None
    capture: list[Capture] = Field(default_factory=list)
    suppress: list[Suppression] = Field(default_factory=list)


MODELS: dict[str, type[Strict]] = {
    "template": TemplateModel,
    "sender": SenderModel,
    "consent_scope": ConsentScopeModel,
}


def cross_field_problems(
    kind: str, data: dict[str, Any]
) -> list[tuple[tuple[Any, ...], str, bool]]:
    """What the field types alone cannot say: (data path, message, at the key?) triples."""
    problems: list[tuple[tuple[Any, ...], str, bool]] = []
    if kind == "template":
        channel, purpose = data.get("channel"), data.get("purpose")
        if channel != "push" and channel in CHANNELS and not data.get("sender"):
            problems.append(
                (
                    (),
                    f"missing field 'sender': every {channel} template is sent from "
                    "a registered sender; name its id",
                    False,
                )
            )
        commercial = data.get("commercial")
        if commercial is False and not data.get("commercial_reason"):
            problems.append(
                (
                    ("commercial",),
                    "commercial: false needs commercial_reason: say why the message is not "
                    "commercial (e.g. a fraud alert about the customer's own account)",
                    True,
                )
            )
        elif commercial is not False and data.get("commercial_reason"):
            problems.append(
                (
                    ("commercial_reason",),
                    "commercial_reason is given, but commercial is not false: set "
                    "commercial: false, or remove the reason",
                    True,
                )
            )
        if purpose == "marketing" and not data.get("consent_scope"):
            problems.append(
                (
                    (),
                    "missing field 'consent_scope': marketing needs consent; name "
                    "the consent_scope that covers it",
                    False,
                )
            )
        registrations = data.get("registrations")
        if isinstance(registrations, dict):
            for key in registrations:
                if key not in ISO_3166_ALPHA2 and key not in CHANNELS:
                    problems.append(
                        (
                            ("registrations", key),
                            f"registrations key {key!r} is neither a market code "
                            "(such as IN) nor a channel (such as whatsapp)",
                            True,
                        )
                    )
    elif kind == "sender":
        kind_of_sender = data.get("type")
        rule = _ADDRESS_RULES.get(kind_of_sender) if isinstance(kind_of_sender, str) else None
        address = data.get("address")
        if rule is not None and isinstance(address, str) and not rule[0].match(address):
            problems.append(
                (
                    ("address",),
                    f"address {address!r} does not fit sender type "
                    f"{data['type']!r}: expected {rule[1]}",
                    False,
                )
            )
    return problems


def json_schema(kind: str | None = None) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one kind, or of any document when kind is None."""
    if kind is not None:
        schema = MODELS[kind].model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"compliance {kind}"
        return schema
    defs: dict[str, Any] = {}
    choices = []
    for model in MODELS.values():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
        choices.append({"$ref": f"#/$defs/{model.__name__}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "compliance document",
        "description": "A template, sender or consent_scope document of a template repo.",
        "oneOf": choices,
        "$defs": defs,
    }
