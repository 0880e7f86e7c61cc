"""Coverage maps: each market's requirements, and the rules (or gate parameters) that enforce
them, or why they cannot be checked. One file per market under markets/coverage/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from compliance.errors import PackError
from compliance.market_params import Citation, ParamModel

Text = Annotated[str, StringConstraints(min_length=1)]


class Requirement(ParamModel):
    requirement: Text = Field(description="What the law, code or policy requires, in one line.")
    source: Citation
    rules: list[str] = Field(default_factory=list, description="Rule ids that check it.")
    gate: (
        Literal[
            "quiet_hours",
            "frequency_caps",
            "keywords",
            "opt_out",
            "do_not_call",
            "consent",
            "sender_types",
            "dated_rules",
            "allowed_link_domains",
            "state_do_not_call",
            "emergency_bans",
            "opt_out_retention",
        ]
        | None
    ) = Field(default=None, description="The market parameter the runtime gate enforces it by.")
    not_static: str | None = Field(
        default=None, description="Why no rule can check it in the template repo."
    )

    @model_validator(mode="after")
    def _covered_somehow(self) -> Requirement:
        if not self.rules and self.gate is None and not self.not_static:
            raise ValueError(
                "a requirement needs rules, a gate parameter, or not_static saying why neither"
            )
        return self


class CoverageMap(ParamModel):
    market: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    requirements: Annotated[list[Requirement], Field(min_length=1)]


def coverage_dir(pack_dir: Path) -> Path:
    return pack_dir / "markets" / "coverage"


def load_coverage(path: Path) -> CoverageMap:
    from compliance.validation import load_model

    model, _ = load_model(path, CoverageMap, PackError)
    assert isinstance(model, CoverageMap)
    return model
