"""Rule and market packs: YAML files validated as strictly as documents, with path:line errors.

A pack folder holds `rules/` (one file per rule) and `markets/` (one file per market). The
shipped packs live at the repo root in a checkout and under `compliance/_packs` in a wheel.
"""

from __future__ import annotations

import re
import string
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from compliance.countries import ISO_3166_ALPHA2
from compliance.documents import Channel, Purpose, SenderType
from compliance.errors import PackError
from compliance.findings import Citation
from compliance.market_params import Keywords, MarketParameters
from compliance.validation import load_model

Severity = Literal["error", "warning", "info"]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")]
Text = Annotated[str, StringConstraints(min_length=1)]

# groups of markets that share rules (EU law for DE, FR...), not markets of their own
SHARED_CODES = frozenset({"EU"})


class PackModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, populate_by_name=True, defer_build=True
    )


class CitationWhen(PackModel):
    """Where a citation fits: a finding picks the first citation whose `when` holds, else
    the first without one (the rule's general source)."""

    causes: list[Text] | None = Field(
        default=None, description="What the finding is about, as its check names it."
    )
    channels: list[Channel] | None = None
    markets: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] | None = Field(
        default=None, description="The finding's market, or one the document targets."
    )


class CitationModel(PackModel):
    source: Text = Field(description="Statute, regulation, guidance, code or policy.")
    clause: str | None = Field(default=None, description="Section, article or paragraph.")
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    when: CitationWhen | None = None

    def to_citation(self) -> Citation:
        return Citation(self.source, self.clause, self.url)


class AppliesTo(PackModel):
    kinds: list[Literal["template", "sender", "consent_scope"]] = Field(
        default_factory=lambda: ["template", "sender", "consent_scope"]
    )
    channels: list[Channel] | None = None
    purposes: list[Purpose] | None = None
    sender_types: list[SenderType] | None = Field(
        default=None,
        description="Senders of these types, and templates sent from one (long_code, ...).",
    )
    commercial_only: bool = Field(
        default=False,
        description="The law covers commercial messages only: a template that declares "
        "`commercial: false` (with its reason), or is sent on a charity's or political "
        "campaign (10DLC use case CHARITY or POLITICAL), is not checked, nor a consent scope "
        "only such templates use.",
    )
    declared_noncommercial: bool = Field(
        default=False,
        description="Only templates that declare `commercial: false`: a rule that checks the "
        "declaration against what the message says.",
    )


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
    pass_: Annotated[list[Text | ExampleCase], Field(alias="pass", min_length=1)]
    fail: Annotated[list[Text | ExampleCase], Field(min_length=1)]


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
    supersedes: list[RuleId] = Field(
        default_factory=list,
        description="Rules whose finding on the same field this rule's finding replaces: one "
        "cause, one finding (the more specific rule names it).",
    )


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
    doc: Any = None  # its YAML document, to place errors

    def where(self, path: tuple[Any, ...], key: bool = False) -> tuple[str, int, int]:
        if self.doc is None:
            return str(self.path), 1, 1
        span = self.doc.span(path, key=key)
        return str(self.path), span.line, span.column

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def citation(self) -> Citation:
        """The rule's general source: its first citation without a `when`."""
        return pick_citation(self.model.citations).to_citation()


def pick_citation(
    citations: list[CitationModel],
    *,
    cause: str | None = None,
    channels: list[str] = (),  # type: ignore[assignment]
    markets: list[str] = (),  # type: ignore[assignment]
) -> CitationModel:
    """The first citation whose `when` fits the finding, else the first without a `when`."""
    for citation in citations:
        when = citation.when
        if when is None:
            continue
        if when.causes is not None and cause not in when.causes:
            continue
        if when.channels is not None and not set(when.channels) & set(channels):
            continue
        if when.markets is not None and not set(when.markets) & set(markets):
            continue
        return citation
    return next((c for c in citations if c.when is None), citations[0])


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


FALLBACK_KEYWORDS = Path("markets") / "fallback" / "keywords.yaml"


@lru_cache(maxsize=1)
def fallback_keywords() -> Keywords:
    """The opt-out words that hold in every market and where none is known (read by the gate
    and by the linter's opt-out rules alike)."""
    model, _ = load_model(shipped_pack_dir() / FALLBACK_KEYWORDS, Keywords, PackError)
    assert isinstance(model, Keywords)
    return model


def shipped_pack_dir() -> Path:
    here = Path(__file__).resolve().parent
    wheel = here / "_packs"
    return wheel if wheel.is_dir() else here.parent


def load_packs(extra_dirs: list[Path] = ()) -> Packs:  # type: ignore[assignment]
    from compliance.checks import registry

    kinds = registry()
    rules: dict[str, Rule] = {}
    raw_markets: dict[str, list[_MarketFile]] = {}
    for base in [shipped_pack_dir(), *extra_dirs]:
        if not base.is_dir():
            raise PackError(f"pack folder {base} does not exist", str(base))
        for path in _pack_files(base / "rules", recursive=True):
            rule = _load_rule(path, kinds)
            if rule.id in rules:
                raise PackError(
                    f"rule id {rule.id!r} is already defined in {rules[rule.id].path}",
                    str(path),
                    *rule.where(("id",)),
                )
            rules[rule.id] = rule
        for path in _pack_files(base / "markets", recursive=False):
            model, doc = load_model(path, MarketModel, PackError)
            assert isinstance(model, MarketModel) and doc is not None
            market_file = _MarketFile(model, path, doc)
            _check_market(market_file, rules, kinds)
            raw_markets.setdefault(model.code, []).append(market_file)
    for rule in rules.values():
        for i, other in enumerate(rule.model.supersedes):
            if other not in rules:
                raise PackError(
                    f"rule {rule.id!r} supersedes unknown rule {other!r}",
                    *rule.where(("supersedes", i)),
                )
    markets = _resolve_markets(raw_markets)
    return Packs(rules, markets)


def _pack_files(folder: Path, *, recursive: bool) -> list[Path]:
    if not folder.is_dir():
        return []
    found = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in found if p.suffix in (".yaml", ".yml") and p.is_file())


@dataclass
class _MarketFile:
    model: MarketModel
    path: Path
    doc: Any  # YamlDocument

    def where(self, path: tuple[Any, ...], key: bool = False) -> tuple[str, int, int]:
        span = self.doc.span(path, key=key)
        return str(self.path), span.line, span.column


def _load_rule(path: Path, kinds: dict[str, Any]) -> Rule:
    model, doc = load_model(path, RuleModel, PackError)
    assert isinstance(model, RuleModel)
    rule = Rule(model, path, None, doc)
    if model.id != path.stem:
        raise PackError(
            f"rule id {model.id!r} must equal the file name {path.stem!r}", *rule.where(("id",))
        )
    kind = kinds.get(model.check.kind)
    if kind is None:
        raise PackError(
            f"unknown check kind {model.check.kind!r}; known kinds: {', '.join(sorted(kinds))}",
            *rule.where(("check", "kind")),
        )
    file, line, col = rule.where(("check", "params"))
    rule.params = validate_params(kind, model.check.params, file, (line, col))
    return rule


def validate_params(
    kind: Any, params: dict[str, Any], where: str, line_col: tuple[int, int] = (1, 1)
) -> Any:
    try:
        model = kind.Params.model_validate(params)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in error["loc"])
        raise PackError(
            f"check {kind.KIND!r} parameter {loc}: {error['msg']}", where, *line_col
        ) from None
    except re.error as exc:  # raised by a validator that compiles a pattern
        raise PackError(
            f"check {kind.KIND!r}: a pattern is not a regular expression: {exc}", where, *line_col
        ) from None
    problem = _params_problem(model)
    if problem:
        raise PackError(f"check {kind.KIND!r} parameter {problem}", where, *line_col)
    return model


def _params_problem(model: Any) -> str | None:
    """What the model's own validation cannot see: a `pattern` that is not a regular
    expression, and a `message` whose placeholders the check does not fill (a check's
    message field lists them in its description: "{market} and {fields} are filled in")."""
    for name, spec in type(model).model_fields.items():
        value = getattr(model, name)
        if not isinstance(value, str):
            continue
        if name == "pattern":
            try:
                with warnings.catch_warnings():  # "[[" warns of a future meaning: not ours
                    warnings.simplefilter("ignore", FutureWarning)
                    re.compile(value)
            except re.error as exc:
                return f"pattern: {value!r} is not a regular expression: {exc}"
        filled = set(re.findall(r"\{(\w+)\}", spec.description or ""))
        if "message" not in name or not filled:
            continue  # a message the check does not fill in is shown as written
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            return f"{name}: {exc}; write {{{{ and }}}} for a literal brace"
        for placeholder in fields:
            if not placeholder.isidentifier():
                return f"{name}: name each placeholder, e.g. {{market}}, not {{{placeholder}}}"
            if placeholder not in filled:
                return (
                    f"{name}: {{{placeholder}}} is not filled in by this check; it fills "
                    + ", ".join(f"{{{f}}}" for f in sorted(filled))
                )
    return None


def _check_market(market: _MarketFile, rules: dict[str, Rule], kinds: dict[str, Any]) -> None:
    model, path = market.model, market.path
    if model.code not in ISO_3166_ALPHA2 and model.code not in SHARED_CODES:
        raise PackError(
            f"market code {model.code!r} is not an ISO 3166-1 alpha-2 code",
            *market.where(("code",)),
        )
    if path.stem.upper() != model.code:
        raise PackError(
            f"market {model.code!r} must live in {model.code.lower()}.yaml",
            *market.where(("code",)),
        )
    for i, entry in enumerate(model.rules):
        rule = rules.get(entry.rule)
        if rule is None:
            raise PackError(
                f"market {model.code} enables unknown rule {entry.rule!r}",
                *market.where(("rules", i, "rule")),
            )
        if rule.model.scope == "generic":
            raise PackError(
                f"rule {entry.rule!r} is generic: it already runs in every market; enable only "
                "market rules here (change its severity or parameters in compliance.yaml)",
                *market.where(("rules", i, "rule")),
            )
        if entry.params:
            file, line, col = market.where(("rules", i, "params"))
            merged = {**rule.model.check.params, **entry.params}
            validate_params(kinds[rule.model.check.kind], merged, file, (line, col))


def _resolve_markets(raw: dict[str, list[_MarketFile]]) -> dict[str, Market]:
    resolved: dict[str, Market] = {}

    def resolve(code: str, trail: tuple[_MarketFile, ...]) -> Market:
        if code in resolved:
            return resolved[code]
        if code in (t.model.code for t in trail):
            cycle = " -> ".join([*(t.model.code for t in trail), code])
            raise PackError(
                f"markets extend each other in a cycle: {cycle}", *trail[-1].where(("extends",))
            )
        layers = raw.get(code)
        if not layers:
            raise PackError(
                f"market {trail[-1].model.code!r} extends {code!r}, which has no market file",
                *trail[-1].where(("extends",)),
            )
        market = Market(code, layers[-1].model.name, MarketParameters(), {}, [])
        for layer in layers:
            for parent in layer.model.extends:
                base = resolve(parent, (*trail, layer))
                _overlay(market, base.parameters, base.rules, base.citations)
            model = layer.model
            _overlay(market, model.parameters, {r.rule: r for r in model.rules}, model.citations)
            market.paths.append(layer.path)
        resolved[code] = market
        return market

    for code in raw:
        resolve(code, ())
    return {code: m for code, m in resolved.items() if code not in SHARED_CODES}


def _block_key(block: Any) -> tuple[Any, ...] | None:
    """The states a block is for, with what it covers; None for a market-wide block (a
    quiet-hours block's `regions` mapping is part of a market-wide block)."""
    region = getattr(block, "region", None)
    regions = getattr(block, "regions", None)
    if region is not None:
        states: tuple[str, ...] = (region,)
    elif isinstance(regions, list) and regions:  # caps and opt-out terms list their states
        states = tuple(sorted(regions))
    else:
        return None
    purposes = tuple(getattr(block, "purposes", None) or ())
    channels = tuple(getattr(block, "channels", None) or ())
    return (states, purposes, channels, getattr(block, "timezone", None))


def _merged_blocks(name: str, parent: Any, layer: Any) -> Any:
    """A layer's list of blocks over its parent's: a block for a state (US-FL) replaces the
    parent's block for that state and what it covers, and leaves the other states' alone; the
    layer's market-wide blocks, if it has any, replace the parent's market-wide ones. So a
    team's pack can make Florida's window advisory by restating that one block."""
    if name not in _BY_STATE or not isinstance(parent, list):
        return layer
    keys = {_block_key(b) for b in layer}
    wide = None in keys
    kept = [
        b
        for b in parent
        if (_block_key(b) is None and not wide)
        or (_block_key(b) is not None and _block_key(b) not in keys)
    ]
    return [*kept, *layer]


_BY_STATE = {
    "quiet_hours",
    "frequency_caps",
    "state_do_not_call",
    "emergency_bans",
    "opt_out_retention",
}


def _overlay(
    market: Market,
    parameters: MarketParameters,
    rules: dict[str, MarketRule],
    citations: list[CitationModel],
) -> None:
    # only what a layer sets replaces its parent's value (a market that extends EU keeps EU's
    # keywords unless it states its own); lists of blocks by state are merged by state
    updates = {
        name: _merged_blocks(name, getattr(market.parameters, name), getattr(parameters, name))
        for name in parameters.model_fields_set
    }
    market.parameters = market.parameters.model_copy(update=updates)
    market.rules.update(rules)
    market.citations.extend(c for c in citations if c not in market.citations)
