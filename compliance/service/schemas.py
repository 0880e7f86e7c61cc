"""The service's request and response bodies, as pydantic models: FastAPI validates requests
with them (a malformed one is 422 naming the field) and writes the OpenAPI document from
them. The decision is the object `compliance check` prints (Decision.to_dict())."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from compliance.documents import CHANNELS

Channel = Literal[CHANNELS]  # type: ignore[valid-type]
MAX_BATCH = 1000

_TEXT = {"min_length": 1, "max_length": 2000}


def _iso_only(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(
            "a time is an ISO 8601 string with an offset, e.g. 2026-11-26T15:00:00Z, not a number"
        )
    return value


# an instant: ISO 8601 text with an offset (a bare number of seconds is refused: its unit and
# zone would be guesses)
When = Annotated[AwareDatetime, BeforeValidator(_iso_only)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendIn(Strict):
    """One send, as Gate.check takes it."""

    to: str = Field(max_length=320, description="Recipient: +E.164 number or email address.")
    template: str = Field(max_length=200, description="A template id of the repo or bundle.")
    at: When | None = Field(
        None,
        description="When the message will go out (ISO 8601 with an offset; default now). "
        "A time already past is judged as now.",
    )
    channel: Channel | None = Field(None, description="Must be the template's (default: it).")
    sender: str | None = Field(None, max_length=200)
    market: str | None = Field(
        None, max_length=10, description="A market the business knows the recipient is in."
    )
    timezone: str | None = Field(
        None, max_length=64, description="The recipient's IANA time zone, if known."
    )


class Batch(Strict):
    sends: list[SendIn] = Field(max_length=MAX_BATCH, description="At most 1,000 sends.")


class ReasonOut(BaseModel):
    code: str = Field(description="A stable reason code (docs: reason codes).")
    message: str
    market: str | None
    citation: str | None


class DecisionOut(BaseModel):
    """The decision, as `compliance check` prints it."""

    outcome: Literal["allow", "deny", "defer"]
    allowed: bool
    reasons: list[ReasonOut]
    warnings: list[ReasonOut]
    not_before: str | None = Field(description="For defer: the first instant the send may go.")
    id: int | None = Field(description="Its audit entry (None only when the ledger is down).")


class Decisions(BaseModel):
    decisions: list[DecisionOut]


class Written(BaseModel):
    id: int = Field(description="The audit entry that recorded it.")


class GrantIn(Strict):
    subject: str = Field(max_length=320, description="Phone number (+E.164) or email address.")
    channel: Channel
    scope: str = Field(max_length=200, description="A consent_scope id of the repo.")
    source: str = Field(**_TEXT, description="Where consent was given, e.g. web-checkout.")
    at: When | None = Field(None, description="When (default now).")
    evidence: dict[str, Any] | None = Field(
        None, description='Evidence, e.g. {"ip": "198.51.100.7"}.'
    )


class RevokeIn(Strict):
    subject: str = Field(max_length=320)
    channel: Channel
    scope: str | None = Field(
        None, max_length=200, description="One scope (default: every scope on the channel)."
    )
    source: str = Field(**_TEXT)
    at: When | None = None


class InboundIn(Strict):
    subject: str = Field(max_length=320)
    text: str = Field(max_length=5000, description="The message the subject sent.")
    channel: Channel = "sms"
    sender: str | None = Field(None, max_length=200, description="The sender id it was sent to.")
    at: When | None = None


class InboundOut(BaseModel):
    action: Literal["opt_out", "opt_in", "help", "review", "none"]
    reply: str | None = Field(description="The sender's reply text to send, if any.")
    id: int | None
    replayed: bool = Field(
        False, description="A webhook message recorded before: nothing was written now."
    )


class ConsentEvents(BaseModel):
    subject: str
    events: list[dict[str, Any]]


class Reviews(BaseModel):
    reviews: list[dict[str, Any]]


class ResolveIn(Strict):
    opt_out: StrictBool = Field(
        description="True: the reply was an opt-out; False: it was not, and consent on record "
        "decides again."
    )
    by: str = Field(**_TEXT, description="Who read the reply.")
    note: str | None = Field(None, max_length=2000)


class PauseIn(Strict):
    template: str | None = Field(None, max_length=200)
    sender: str | None = Field(None, max_length=200)
    market: str | None = Field(None, max_length=10)
    region: str | None = Field(
        None, max_length=10, description="An ISO 3166-2 subdivision, e.g. US-LA (marketing)."
    )
    reason: str = Field(**_TEXT)
    by: str = Field(**_TEXT, description="Who decided.")


class Health(BaseModel):
    status: Literal["ok", "fault"]
    ledger: str = Field(description="ok, or why the ledger cannot be used.")
    backend: str
    catalog: dict[str, Any] = Field(description="The repo or bundle: its digest and counts.")


class StandardMessage(BaseModel):
    """The body the Standard Webhooks receiver accepts: one inbound message."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(
        pattern=r"^[\x21-\x7e]{1,200}$",
        description="The provider's message id (visible ASCII, at most 200 characters).",
    )
    from_: str = Field(alias="from", max_length=320, description="Who sent it.")
    to: str | None = Field(None, max_length=320, description="The number it was sent to.")
    channel: Channel = "sms"
    text: str = Field(max_length=5000)
    received_at: When | None = None
