"""Typed market parameters: the facts a market file states once for the linter and the gate.

Every block carries its own citations. What no source confirms is still written here, as a
parameter a team can change in its own pack, with `enforcement: advisory`; the gate warns on
advisory parameters and enforces required ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from compliance.documents import Channel, Duration, Purpose, SenderType

HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Text = Annotated[str, StringConstraints(min_length=1)]
ALL_DAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Enforcement = Literal["required", "advisory"]
MAX_CAP_HOURS = 7 * 24  # the gate keeps allowed sends 8 days (ledger.RECENT_DAYS)
# an ISO 3166-2 subdivision (US-FL) where a stricter window or cap applies; the gate finds a
# number's subdivision from its area code
Region = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$")]


def iana_zone(name: str) -> str:
    """`name` if it is an IANA time zone, else ValueError saying so."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{name!r} is not an IANA time zone, e.g. Europe/Paris") from None
    return name


class ParamModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class Citation(ParamModel):
    source: Text
    clause: str | None = None
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None


Citations = Annotated[list[Citation], Field(min_length=1)]


class Window(ParamModel):
    """Sending allowed from `start` to `end` (recipient local time) on `days`."""

    start: HHMM
    end: HHMM
    days: list[Weekday] = Field(default_factory=lambda: list(ALL_DAYS))


TextsCovered = Literal["yes", "unsettled", "no"]


class QuietHours(ParamModel):
    """Outside every `allowed` window the gate defers the send to the next allowed instant."""

    purposes: list[Purpose] = Field(default_factory=lambda: ["marketing"])
    channels: list[Channel] | None = None
    region: Region | None = Field(
        default=None,
        description="The block applies to numbers in this subdivision only (US-MS), on top of "
        "the market's; its holidays are the subdivision's.",
    )
    allowed: Annotated[list[Window], Field(min_length=1)]
    timezone: str | None = Field(
        default=None,
        description="The clock the law names, as an IANA zone (Mississippi's Central Standard "
        "Time all year: Etc/GMT+6); default the recipient's local time.",
    )
    regions: dict[Region, list[Window]] = Field(
        default_factory=dict,
        description="Stricter windows by subdivision (US-FL); the stricter of both applies.",
    )
    no_public_holidays: bool = Field(
        default=False,
        description="No sending on public holidays: the market's, or with `region` the "
        "subdivision's (from the `holidays` library).",
    )
    enforcement: Enforcement = "required"
    covers_texts: TextsCovered | None = Field(
        default=None,
        description="Whether the law behind the block reaches text messages: yes (its own "
        "words say so), unsettled, or no.",
    )
    note: str | None = Field(
        default=None, description="Scope, exemptions, and why an advisory block is advisory."
    )
    citations: Citations

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else iana_zone(value)

    @model_validator(mode="after")
    def _region_blocks_stand_alone(self) -> QuietHours:
        if self.region is not None and self.regions:
            raise ValueError("a block for one `region` has no `regions` of its own")
        return self


class FrequencyCap(ParamModel):
    """At most `max_messages` per `per` to one recipient, counted for `purposes`."""

    purposes: list[Purpose] = Field(default_factory=lambda: ["marketing"])
    channels: list[Channel] | None = None
    max_messages: Annotated[int, Field(ge=1)]
    per: Annotated[str, StringConstraints(pattern=r"^PT\d+H$|^P\d+D$")] = Field(
        description="Window as an ISO 8601 duration: PT24H, P7D."
    )
    regions: list[Region] = Field(
        default_factory=list, description="Where the cap applies; empty: the whole market."
    )
    enforcement: Enforcement = "required"
    citations: Citations

    @field_validator("per")
    @classmethod
    def _at_most_a_week(cls, value: str) -> str:
        hours = int(value[2:-1]) if value.startswith("PT") else int(value[1:-1]) * 24
        if not 0 < hours <= MAX_CAP_HOURS:
            raise ValueError(
                f"a cap's window is at most 7 days (P7D), the span the gate keeps allowed sends "
                f"for; {value} is not"
            )
        return value


class Keywords(ParamModel):
    """Inbound words and what they mean; matched whole, case-insensitively."""

    opt_out: list[Text] = Field(default_factory=list)
    opt_out_alone: list[Text] = Field(
        default_factory=list,
        description="Opt-outs only as the whole reply: everyday words otherwise (Portuguese "
        "CHEGA is 'enough' alone, 'arrives' in 'quando chega?'), so inside other text they "
        "are left to the reading of wording; another market's are a review alone.",
    )
    review: list[Text] = Field(
        default_factory=list,
        description="Words that might be an opt-out but are not a clear one here (another "
        "script's word for stop): a reply holding one goes to review, in every market.",
    )
    opt_in: list[Text] = Field(default_factory=list)
    opt_in_after_prompt: list[Text] = Field(
        default_factory=list, description="Opt-in only as the answer to an opt-in prompt (YES)."
    )
    help: list[Text] = Field(default_factory=list)
    reasonable_opt_out: bool = Field(
        default=False,
        description="Other wording a reasonable person reads as an opt-out also counts: the "
        "gate sends such replies to review rather than ignoring them.",
    )
    opt_out_stops: list[Purpose] = Field(
        default_factory=lambda: ["marketing", "transactional", "otp"],
        description="What an opt-out (a keyword, or a revocation of every scope) stops on its "
        "channel, until the subject signs up again. Default: everything; where the law "
        "confines the objection to direct marketing, [marketing].",
    )
    citations: Citations


class OptOut(ParamModel):
    """How fast an opt-out must take effect."""

    honour_within_days: Annotated[int, Field(ge=0)]
    day_kind: Literal["calendar", "business", "working"] = "business"
    confirmation_allowed: bool = Field(
        default=True, description="One confirmation message after an opt-out is allowed."
    )
    citations: Citations


class DoNotCall(ParamModel):
    """A national do-not-contact registry that covers messages in this market."""

    registry: Text
    channels: list[Channel] = Field(default_factory=lambda: ["sms", "mms"])
    purposes: list[Purpose] = Field(default_factory=lambda: ["marketing"])
    check_valid_for: Duration = Field(description="How old a registry check may be, e.g. P31D.")
    exempt_consent: list[Literal["express_written", "express", "implied", "soft_opt_in"]] = Field(
        default_factory=list, description="Consent that makes the registry check unnecessary."
    )
    relationship_windows: dict[Literal["purchase", "inquiry"], Duration] = Field(
        default_factory=dict,
        description="Established business relationship windows that exempt a number.",
    )
    citations: Citations


class StateList(ParamModel):
    """A subdivision's own do-not-call list (the Texas No-Call List): imported with
    `compliance dnc import NAME FILE --registry --market US --region US-TX`. A number on any
    imported list gets no marketing; `check_valid_for` is how old the import may be for
    marketing to numbers in the region."""

    region: Region
    name: Text
    channels: list[Channel] = Field(default_factory=lambda: ["sms", "mms", "rcs"])
    check_valid_for: Duration | None = None
    exempt_consent: list[Literal["express_written", "express", "implied", "soft_opt_in"]] = Field(
        default_factory=list, description="Consent that makes the freshness check unnecessary."
    )
    covers_texts: TextsCovered
    enforcement: Enforcement = "required"
    note: str | None = None
    citations: Citations


class RegionBan(ParamModel):
    """A law that bars marketing to a subdivision while a declared emergency lasts. The gate
    cannot know of the declaration: an operator pauses the region (`compliance pause --region
    US-LA`) and resumes it when the declaration ends."""

    region: Region
    summary: Text
    covers_texts: TextsCovered
    note: str | None = None
    citations: Citations


class OptOutRetention(ParamModel):
    """How long a subdivision's law keeps an opt-out in force (years from the request)."""

    regions: Annotated[list[Region], Field(min_length=1)]
    years: Annotated[int, Field(ge=1)]
    covers_texts: TextsCovered
    note: str | None = None
    citations: Citations


class ConsentRules(ParamModel):
    """Consent lifetimes the market's law caps, by basis (None: no fixed term)."""

    implied_max: dict[
        Literal["purchase", "inquiry", "publication", "existing_customer"], Duration | None
    ] = Field(default_factory=dict)
    express_expires: Duration | None = None
    citations: Citations


class SenderTypes(ParamModel):
    allowed: list[SenderType]
    citations: Citations


class DatedRule(ParamModel):
    """A rule in force between two dates (a platform pause, a regulation's start date)."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    summary: Text
    effective_from: dt.date | None = None
    until: dt.date | None = None
    channels: list[Channel] | None = None
    purposes: list[Purpose] | None = None
    citations: Citations

    def in_force(self, day: dt.date) -> bool:
        if self.effective_from is not None and day < self.effective_from:
            return False
        return self.until is None or day <= self.until


class MarketParameters(ParamModel):
    """Typed market facts that both the linter and the runtime gate read."""

    timezone: str | None = Field(
        default=None,
        description="Default IANA zone when a number maps to several (IN: Asia/Kolkata).",
    )
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    frequency_caps: list[FrequencyCap] = Field(default_factory=list)
    keywords: Keywords | None = None
    opt_out: OptOut | None = None
    do_not_call: DoNotCall | None = None
    consent: ConsentRules | None = None
    sender_types: SenderTypes | None = None
    dated_rules: list[DatedRule] = Field(default_factory=list)
    state_do_not_call: list[StateList] = Field(default_factory=list)
    emergency_bans: list[RegionBan] = Field(default_factory=list)
    opt_out_retention: list[OptOutRetention] = Field(default_factory=list)
    allowed_link_domains: list[Text] | None = Field(
        default=None, description="Whitelisted link domains (IN); None: no whitelist."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else iana_zone(value)
