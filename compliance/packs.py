"""Rule and market packs: YAML files validated as strictly as documents, with path:line errors.

A pack folder holds `rules/` (one file per rule) and `markets/` (one file per market). The
shipped packs live at the repo root in a checkout and under `compliance/_packs` in a wheel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from compliance.countries import ISO_3166_ALPHA2
from compliance.documents import Channel, Purpose, SenderType
from compliance.errors import PackError
from compliance.findings import Citation
from compliance.validation import load_model

Severity = Literal["error", "warning", "info"]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")]
Text = Annotated[str, StringConstraints(min_length=1)]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# groups of markets that share rules (EU law for DE, FR...), not markets of their own
SHARED_CODES = frozenset({"EU"})


class PackModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class CitationModel(PackModel):
    source: Text = Field(description="Statute, regulation, guidance, code or policy.")
    clause: str | None = Field(default=None, description="Section, article or paragraph.")
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None

    def to_citation(self) -> Citation:
        return Citation(self.source, self.clause, self.url)


class AppliesTo(PackModel):
    kinds: list[Literal["template", "sender", "consent_scope"]] = Field(
        default_factory=lambda: ["template", "sender", "consent_scope"]
    )
    channels: list[Channel] | None = None
    purposes: list[Purpose] | None = None


class CheckSpec(PackModel):
    kind: Text
    params: dict[str, Any] = Field(default_factory=dict)


class ExampleCase(PackModel):
    documents: Text = Field(description="YAML text of one or more documents (--- between).")
    markets: list[str] | None = Field(
        default=None, description="Markets to enforce; default: those the documents name."
    )
    params: dict[str, Any] = Field(default_factory=dict)
    expect: list[str] = Field(
        default_factory=list, description="Text each expected finding's message contains."
    )


class Examples(PackModel):
    context: str | None = Field(
        default=None, description="Documents added to every example, e.g. a sender and a scope."
    )
    pass_: Annotated[list[str | ExampleCase], Field(alias="pass", min_length=1)]
    fail: Annotated[list[str | ExampleCase], Field(min_length=1)]


class RuleModel(PackModel):
    id: RuleId
    summary: Text
    description: Text
    severity: Severity
    scope: Literal["generic", "market"] = Field(
        default="market",
        description="generic rules run on every document; market rules where a market enables them",
    )
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    check: CheckSpec
    citations: Annotated[list[CitationModel], Field(min_length=1)]
    examples: Examples
    tags: list[str] = Field(default_factory=list)


class Window(PackModel):
    start: HHMM
    end: HHMM
    days: list[Weekday] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    )


class QuietHours(PackModel):
    """When sending is allowed, in the recipient's local time; outside these windows it defers."""

    purposes: list[Purpose] = Field(default_factory=lambda: ["marketing"])
    allowed: Annotated[list[Window], Field(min_length=1)]
    regions: dict[str, list[Window]] = Field(
        default_factory=dict, description="Stricter windows by subdivision, e.g. US-FL."
    )
    no_public_holidays: bool = False
    citations: list[CitationModel] = Field(default_factory=list)


class Keywords(PackModel):
    opt_out: list[Text] = Field(default_factory=list)
    opt_in: list[Text] = Field(default_factory=list)
    help: list[Text] = Field(default_factory=list)
    citations: list[CitationModel] = Field(default_factory=list)


class SenderTypes(PackModel):
    allowed: list[SenderType]
    citations: list[CitationModel] = Field(default_factory=list)


class MarketParameters(PackModel):
    """Typed market facts that both the linter and the runtime gate read."""

    quiet_hours: QuietHours | None = None
    keywords: Keywords | None = None
    sender_types: SenderTypes | None = None


class MarketRule(PackModel):
    rule: RuleId
    severity: Severity | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    citations: list[CitationModel] = Field(default_factory=list)


class MarketModel(PackModel):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    name: Text
    extends: list[str] = Field(default_factory=list)
    parameters: MarketParameters = Field(default_factory=MarketParameters)
    rules: list[MarketRule] = Field(default_factory=list)
    citations: list[CitationModel] = Field(default_factory=list)


@dataclass
class Rule:
    model: RuleModel
    path: Path
    params: Any  # the check kind's validated Params

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def citation(self) -> Citation:
        return self.model.citations[0].to_citation()


@dataclass
class Market:
    code: str
    name: str
    parameters: MarketParameters
    rules: dict[str, MarketRule]
    citations: list[CitationModel]
    paths: list[Path] = field(default_factory=list)


@dataclass
class Packs:
    rules: dict[str, Rule]
    markets: dict[str, Market]  # resolved: extends applied; shared groups left out

    def generic_rules(self) -> list[Rule]:
        return [r for r in self.rules.values() if r.model.scope == "generic"]


def shipped_pack_dir() -> Path:
    here = Path(__file__).resolve().parent
    wheel = here / "_packs"
    return wheel if wheel.is_dir() else here.parent


def load_packs(extra_dirs: list[Path] = ()) -> Packs:  # type: ignore[assignment]
    from compliance.checks import registry

    rules: dict[str, Rule] = {}
    raw_markets: dict[str, list[tuple[MarketModel, Path]]] = {}
    for base in [shipped_pack_dir(), *extra_dirs]:
        if not base.is_dir():
            raise PackError(f"pack folder {base} does not exist", str(base))
        for path in sorted((base / "rules").rglob("*.yaml")):
            rule = _load_rule(path, registry())
            if rule.id in rules:
                raise PackError(
                    f"rule id {rule.id!r} is already defined in {rules[rule.id].path}",
                    str(path),
                    1,
                    1,
                )
            rules[rule.id] = rule
        for path in sorted((base / "markets").glob("*.yaml")):
            model = load_model(path, MarketModel, PackError)
            assert isinstance(model, MarketModel)
            _check_market(model, path)
            raw_markets.setdefault(model.code, []).append((model, path))
    markets = _resolve_markets(raw_markets, rules)
    return Packs(rules, markets)


def _load_rule(path: Path, kinds: dict[str, Any]) -> Rule:
    model = load_model(path, RuleModel, PackError)
    assert isinstance(model, RuleModel)
    if model.id != path.stem:
        raise PackError(
            f"rule id {model.id!r} must equal the file name {path.stem!r}", str(path), 1, 1
        )
    kind = kinds.get(model.check.kind)
    if kind is None:
        raise PackError(
            f"unknown check kind {model.check.kind!r}; known kinds: {', '.join(sorted(kinds))}",
            str(path),
            *_line_of(path, "check"),
        )
    params = validate_params(kind, model.check.params, str(path), _line_of(path, "params"))
    return Rule(model, path, params)


def validate_params(
    kind: Any, params: dict[str, Any], where: str, line_col: tuple[int, int] = (1, 1)
) -> Any:
    try:
        return kind.Params.model_validate(params)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in error["loc"])
        raise PackError(
            f"check {kind.KIND!r} parameter {loc}: {error['msg']}", where, *line_col
        ) from None


def _line_of(path: Path, key: str) -> tuple[int, int]:
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        match = re.match(rf"^(\s*){re.escape(key)}:", line)
        if match:
            return number, len(match.group(1)) + 1
    return 1, 1


def _check_market(model: MarketModel, path: Path) -> None:
    if model.code not in ISO_3166_ALPHA2 and model.code not in SHARED_CODES:
        raise PackError(
            f"market code {model.code!r} is not an ISO 3166-1 alpha-2 code",
            str(path),
            *_line_of(path, "code"),
        )
    if path.stem.upper() != model.code:
        raise PackError(
            f"market {model.code!r} must live in {model.code.lower()}.yaml",
            str(path),
            *_line_of(path, "code"),
        )


def _resolve_markets(
    raw: dict[str, list[tuple[MarketModel, Path]]], rules: dict[str, Rule]
) -> dict[str, Market]:
    resolved: dict[str, Market] = {}

    def resolve(code: str, trail: tuple[str, ...]) -> Market:
        if code in resolved:
            return resolved[code]
        if code in trail:
            raise PackError(f"markets extend each other in a cycle: {' -> '.join(trail + (code,))}")
        layers = raw.get(code)
        if not layers:
            raise PackError(f"market {trail[-1]!r} extends {code!r}, which has no market file")
        market = Market(code, layers[-1][0].name, MarketParameters(), {}, [])
        for model, path in layers:
            for parent in model.extends:
                base = resolve(parent, trail + (code,))
                _overlay(market, base.parameters, base.rules, base.citations)
            _overlay(market, model.parameters, {r.rule: r for r in model.rules}, model.citations)
            market.paths.append(path)
            for entry in model.rules:
                if entry.rule not in rules:
                    raise PackError(
                        f"market {code} enables unknown rule {entry.rule!r}",
                        str(path),
                        *_line_of(path, "rules"),
                    )
        resolved[code] = market
        return market

    for code in raw:
        resolve(code, ())
    return {code: m for code, m in resolved.items() if code not in SHARED_CODES}


def _overlay(
    market: Market,
    parameters: MarketParameters,
    rules: dict[str, MarketRule],
    citations: list[CitationModel],
) -> None:
    updates = {k: v for k, v in parameters if v is not None}
    market.parameters = market.parameters.model_copy(update=updates)
    market.rules.update(rules)
    market.citations.extend(c for c in citations if c not in market.citations)
